"""Reading a committed OCFL version back (``ingest.readback``), on the filesystem and on S3.

The read-back is what the catalogue records of an archived version: each key with the store
version it read, its size and SHA-256. These tests show that it reads each key's *current*
version (on S3 the older versions of the root inventory are listed too), that bytes changed or
removed after the commit are refused, naming the key, and that the catalogue step parses the
metadata bytes that were verified.
"""

from __future__ import annotations

import hashlib
import io

import pytest

from archive_service.ingest import readback
from archive_service.ingest.readback import StoredVersionCorrupt, read_back_head
from archive_service.storage.base import ObjectStore
from archive_service.storage.ocfl import OcflRepository
from tests.integration.test_ocfl import OBJECT_ID, V1_FILES, add, source, sources


@pytest.fixture
def repo(store: ObjectStore) -> OcflRepository:
    """An initialised OCFL root on each store: the filesystem, then each S3 server."""
    repository = OcflRepository(store)
    repository.initialize()
    return repository


def _current(store: ObjectStore, key: str) -> tuple[str, str]:
    """The version id (``""`` without versions) and SHA-256 of the key as it is now."""
    with store.open(key) as stream:
        digest = hashlib.sha256(stream.read()).hexdigest()
    return store.stat(key).version_id or "", digest


def test_the_head_version_is_read_back_as_stored_now(repo: OcflRepository) -> None:
    add(repo, sources(V1_FILES), "v1")
    add(repo, {"METS.xml": source(b"<mets>v2</mets>")}, "v2")  # a second root inventory

    stored = read_back_head(repo, OBJECT_ID)

    root = repo.object_root(OBJECT_ID)
    expected_keys = sorted(
        key
        for key in repo.content_keys(OBJECT_ID)
        if key.startswith(f"{root}/v2/") or "/" not in key[len(root) + 1 :]
    )
    assert (stored.version, stored.message) == ("v2", "v2")
    assert [entry.key for entry in stored.keys] == expected_keys
    assert f"{root}/inventory.json" in expected_keys
    for entry in stored.keys:
        version_id, digest = _current(repo.store, entry.key)
        assert (entry.version_id, entry.sha256) == (version_id, digest), entry.key
        assert entry.size == repo.store.stat(entry.key).size


def test_bytes_changed_after_the_commit_are_refused(repo: OcflRepository) -> None:
    add(repo, sources(V1_FILES), "v1")
    key = next(k for k in repo.content_keys(OBJECT_ID) if k.endswith("/EAD.xml"))
    repo.store.put(key, io.BytesIO(b"<ead>not what was archived</ead>"))

    with pytest.raises(StoredVersionCorrupt, match=r"EAD\.xml: stored bytes have SHA-256"):
        read_back_head(repo, OBJECT_ID)


def test_a_content_file_gone_after_the_commit_is_refused(repo: OcflRepository) -> None:
    add(repo, sources(V1_FILES), "v1")
    key = next(k for k in repo.content_keys(OBJECT_ID) if k.endswith("/METS.xml"))
    repo.store.delete(key)  # on S3: a delete marker over the version that was read

    with pytest.raises(StoredVersionCorrupt, match=r"missing.*METS\.xml"):
        read_back_head(repo, OBJECT_ID)


def test_the_catalogue_reads_the_version_that_was_verified(
    repo: OcflRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readback, "KEEP_FILE_BYTES", 19)  # METS (15) and PREMIS (19), not EAD (20)
    add(repo, sources(V1_FILES), "v1")
    assert read_back_head(repo, OBJECT_ID).kept == {}  # kept only when asked
    stored = read_back_head(repo, OBJECT_ID, keep_metadata=True)
    keys = {path: entry.content_key for path, entry in repo.state(OBJECT_ID).items()}
    assert set(stored.kept) == {keys["METS.xml"], keys["metadata/preservation/premis.xml"]}

    # Changed in storage after the read-back: the verified bytes are what is parsed, and on a
    # store that keeps versions, the files not kept are read in the version that was verified.
    pdf = "representations/rep1/data/Giấy phép.pdf"
    changed = ["METS.xml", pdf] if repo.store.capabilities.versioning else ["METS.xml"]
    for path in changed:
        repo.store.put(keys[path], io.BytesIO(b"changed after the read-back"))
    open_file = stored.opener(repo)
    for path in ("METS.xml", "metadata/descriptive/EAD.xml", pdf):
        with open_file(path) as stream:
            assert stream.read() == V1_FILES[path], path


def test_the_kept_metadata_stay_within_the_total(
    repo: OcflRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readback, "KEEP_TOTAL_BYTES", 15)  # room for METS (15 bytes) only
    add(repo, sources(V1_FILES), "v1")
    stored = read_back_head(repo, OBJECT_ID, keep_metadata=True)
    assert [key.rsplit("/", 1)[1] for key in stored.kept] == ["METS.xml"]
