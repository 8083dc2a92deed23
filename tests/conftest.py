"""Root fixtures: the S3 test servers, and object stores on them or on a temporary directory.

ARCHIVE_TEST_S3_SERVERS (comma-separated, default ``seaweedfs``) names the servers to run; a
server that cannot start fails every test that needs it. Each S3 store gets a fresh bucket
with versioning and Object Lock.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from pathlib import Path

import pytest
from minio.error import S3Error

from archive_service.storage.base import ObjectStore
from archive_service.storage.filesystem import FilesystemStore
from archive_service.storage.s3 import MIN_PART_SIZE, S3Store
from tests.s3server.servers import (
    BucketPool,
    S3Server,
    ServerStartError,
    requested_servers,
    shared_server,
)

S3_SERVERS = requested_servers()
S3_PARAMS = [pytest.param(name, marks=pytest.mark.s3, id=name) for name in S3_SERVERS]


@pytest.fixture(scope="session")
def s3_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, S3Server]]:
    """Every requested S3 server, running for the whole session (shared by xdist workers)."""
    base = tmp_path_factory.getbasetemp()
    shared_dir = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    with ExitStack() as running:
        servers, failure = {}, None
        for name in S3_SERVERS:
            try:
                servers[name] = running.enter_context(shared_server(name, shared_dir))
            except ServerStartError as exc:
                failure = f"S3 test server {name!r} did not start: {exc}"
                break
        if failure:
            pytest.fail(failure, pytrace=False)
        yield servers


@pytest.fixture(scope="session")
def s3_bucket_pools(s3_servers: dict[str, S3Server]) -> Iterator[dict[str, BucketPool]]:
    """Per server, fresh buckets prepared ahead of the tests that need them."""
    pools = {name: BucketPool(server.client()) for name, server in s3_servers.items()}
    yield pools
    for pool in pools.values():
        pool.close()


@pytest.fixture(params=S3_PARAMS)
def s3_server(request: pytest.FixtureRequest, s3_servers: dict[str, S3Server]) -> S3Server:
    """One running S3 server; tests using it run once per requested server."""
    return s3_servers[request.param]


@pytest.fixture
def s3_store(s3_server: S3Server, s3_bucket_pools: dict[str, BucketPool]) -> Iterator[S3Store]:
    """An S3 store on a fresh versioned, Object Lock bucket (5 MiB parts: multipart is cheap)."""
    yield from _fresh_s3_store(s3_server, s3_bucket_pools[s3_server.name])


@pytest.fixture
def fs_store(tmp_path: Path) -> FilesystemStore:
    """A filesystem store on an empty temporary directory (sidecar beside it)."""
    root = tmp_path / "store"
    root.mkdir()
    return FilesystemStore(root)


@pytest.fixture(params=["fs", *S3_PARAMS])
def store(request: pytest.FixtureRequest) -> Iterator[ObjectStore]:
    """Every backend in turn: the filesystem, then each requested S3 server."""
    if request.param == "fs":
        yield request.getfixturevalue("fs_store")
        return
    server: S3Server = request.getfixturevalue("s3_servers")[request.param]
    pool: BucketPool = request.getfixturevalue("s3_bucket_pools")[request.param]
    yield from _fresh_s3_store(server, pool)


def _fresh_s3_store(server: S3Server, pool: BucketPool) -> Iterator[S3Store]:
    client = server.client()
    bucket = pool.take()
    yield S3Store(
        client, bucket, part_size=MIN_PART_SIZE, server_checksum=server.kind.server_checksum
    )
    with suppress(S3Error):  # best effort: servers keep buckets that still hold locked versions
        client.remove_bucket(bucket)
