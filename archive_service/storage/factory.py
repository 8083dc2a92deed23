"""Build an object store from a URL: ``file:///absolute/path`` or ``s3://bucket``."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from archive_service.storage.base import ObjectStore
from archive_service.storage.filesystem import FilesystemStore
from archive_service.storage.s3 import S3Store, make_client


def open_store(
    url: str,
    *,
    endpoint: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    secure: bool = False,
    region: str | None = None,
) -> ObjectStore:
    """The store a URL names; the S3 arguments are needed (and used) only for ``s3://``.

    Raises ``ValueError`` for any other scheme, a relative path, or a bucket URL with a path.
    """
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ValueError(f"storage URL must be file:///absolute/path: {url}")
        return FilesystemStore(Path(unquote(parts.path)))
    if parts.scheme == "s3":
        if not parts.netloc or parts.path not in ("", "/") or parts.query:
            raise ValueError(f"storage URL must be s3://bucket: {url}")
        if not endpoint:
            raise ValueError(f"{url}: an S3 endpoint (host:port) is required")
        client = make_client(endpoint, access_key, secret_key, secure=secure, region=region)
        return S3Store(client, parts.netloc)
    raise ValueError(f"unsupported storage URL (file:// or s3://): {url}")
