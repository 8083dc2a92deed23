"""Object store on an S3-compatible server (SeaweedFS, Ceph RGW, MinIO, AWS) via the minio client.

The adapter trusts neither ETags nor server-side checksums of multipart uploads (some servers
return no ETag or do not store checksums for them): it computes the SHA-256 of every upload
itself, stores it as user metadata (``x-amz-meta-sha256``) and removes a version whose bytes
differ from what the caller expected. Single-part uploads also send ``x-amz-checksum-sha256`` so
that a server that verifies it refuses bytes corrupted on the way.

User metadata values are percent-encoded UTF-8 on the wire (HTTP headers are ASCII only).
Retention and legal hold are read from the object-lock headers of HEAD responses, with a
parser that accepts any number of fractional-second digits (Ceph sends nanoseconds).
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta, timezone
from functools import cached_property
from typing import BinaryIO, cast
from urllib.parse import quote, unquote

import certifi
import urllib3
from minio import Minio
from minio.commonconfig import ENABLED
from minio.datatypes import Object
from minio.error import InvalidResponseError, S3Error, ServerError
from minio.helpers import md5sum_hash
from minio.retention import Retention as MinioRetention
from minio.versioningconfig import VersioningConfig
from minio.xml import marshal
from urllib3.response import BaseHTTPResponse

from archive_service.storage import lockrules
from archive_service.storage.base import (
    Capabilities,
    ChecksumMismatch,
    ObjectInfo,
    ObjectLocked,
    ObjectNotFound,
    PutResult,
    Retention,
    RetentionMode,
    StorageError,
    StorageUnavailable,
)
from archive_service.storage.validation import (
    check_received,
    normalize_sha256,
    validate_key,
    validate_metadata,
    validate_new_retention,
    validate_range,
)
from archive_service.streams import CHUNK_SIZE, HashingReader, copy_with_sha256, sha256_of_stream

MIN_PART_SIZE = 5 * 1024 * 1024
DEFAULT_PART_SIZE = 16 * 1024 * 1024

_META_PREFIX = "x-amz-meta-"
_SHA256_META = "sha256"
_LOCK_MODE = "x-amz-object-lock-mode"
_LOCK_UNTIL = "x-amz-object-lock-retain-until-date"
_LEGAL_HOLD = "x-amz-object-lock-legal-hold"
_BYPASS = "x-amz-bypass-governance-retention"
_NOT_FOUND = frozenset({"NoSuchKey", "NoSuchVersion", "NoSuchObject"})
_BAD_DIGEST = frozenset({"BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch"})
# Header and query dictionaries as the minio client types them.
_Headers = dict[str, str | list[str] | tuple[str]]
_LOCK_DATE = re.compile(
    r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?", re.ASCII
)


def make_client(
    endpoint: str,
    access_key: str | None,
    secret_key: str | None,
    *,
    secure: bool = False,
    region: str | None = None,
    retries: int = 3,
    connect_timeout: float = 5.0,
    read_timeout: float = 60.0,
) -> Minio:
    """A minio client whose HTTP pool retries transient failures a bounded number of times.

    Connection failures and 500/502/503/504 answers are retried ``retries`` times with a short
    exponential back-off (at most 2 s between attempts; ``Retry-After`` is not obeyed).
    """
    retry = urllib3.Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        backoff_factor=0.2,
        backoff_max=2.0,
        status_forcelist=(500, 502, 503, 504),
        raise_on_status=False,
        respect_retry_after_header=False,
    )
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
        retries=retry,
        maxsize=10,
        cert_reqs="CERT_REQUIRED",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
    )
    return Minio(
        endpoint,
        access_key=access_key,
        secret_key=secret_key,
        secure=secure,
        region=region,
        http_client=http,
    )


def ensure_bucket(client: Minio, bucket: str, *, object_lock: bool = True) -> None:
    """Create ``bucket`` with versioning (and Object Lock) unless it exists; check it if it does.

    An existing bucket without Object Lock cannot be given one here: that raises StorageError.
    """
    with _translated(bucket):
        if not client.bucket_exists(bucket):
            try:
                client.make_bucket(bucket, object_lock=object_lock)
            except S3Error as exc:  # created meanwhile by another process?
                if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise
        if object_lock and not _has_object_lock(client, bucket):
            raise StorageError(f"bucket {bucket} exists without Object Lock")
        client.set_bucket_versioning(bucket, VersioningConfig(ENABLED))


def parse_lock_date(text: str) -> datetime:
    """Parse an object-lock date, whatever its fractional precision (Ceph sends nanoseconds)."""
    match = _LOCK_DATE.fullmatch(text.strip())
    if not match:
        raise ValueError(f"unreadable object-lock date: {text!r}")
    moment, fraction, zone = match.groups()
    parsed = datetime.fromisoformat(moment)
    if fraction:
        parsed += timedelta(microseconds=int(fraction[:6].ljust(6, "0")))
    if zone in (None, "Z"):
        return parsed.replace(tzinfo=UTC)
    sign = 1 if zone[0] == "+" else -1
    digits = zone[1:].replace(":", "")
    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return parsed.replace(tzinfo=timezone(sign * offset)).astimezone(UTC)


class S3Store:
    """An ``ObjectStore`` on one bucket; see the module docstring.

    ``part_size`` (at least 5 MiB) is both the largest single-part upload, held in memory to
    be hashed before it is sent, and the part size of multipart uploads. ``server_checksum``
    says whether the server verifies ``x-amz-checksum-sha256`` (some servers ignore it).
    """

    #: Requests sent at once by callers that have many independent ones (``concurrency``):
    #: one deposit, read-back or lock step.
    parallel_requests = 8

    def __init__(
        self,
        client: Minio,
        bucket: str,
        *,
        part_size: int = DEFAULT_PART_SIZE,
        server_checksum: bool = True,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part size must be at least {MIN_PART_SIZE} bytes")
        self._client = client
        self.bucket = bucket
        self._part_size = part_size
        self._server_checksum = server_checksum

    def __repr__(self) -> str:
        return f"S3Store(bucket={self.bucket!r})"

    @cached_property
    def capabilities(self) -> Capabilities:
        """Asked of the bucket once: versioning status and Object Lock configuration."""
        with _translated(self.bucket):
            versioning = self._client.get_bucket_versioning(self.bucket).status == "Enabled"
            locking = _has_object_lock(self._client, self.bucket)
        return Capabilities(
            versioning=versioning,
            object_lock=locking,
            legal_hold=locking,
            server_checksum=self._server_checksum,
        )

    def put(
        self,
        key: str,
        stream: BinaryIO,
        *,
        size: int | None = None,
        expected_sha256: str | None = None,
        metadata: Mapping[str, str] | None = None,
        retention: Retention | None = None,
        legal_hold: bool = False,
    ) -> PutResult:
        """Upload in one request when ``size`` fits a part, else as a multipart upload.

        A large stream whose digest is not given is hashed first (read twice when seekable,
        spooled to a temporary file otherwise) so that the digest can travel as metadata.
        """
        validate_key(key)
        expected = normalize_sha256(expected_sha256)
        user_metadata = validate_metadata(metadata)
        validate_new_retention(retention)
        if size is not None and size <= self._part_size:
            data = _read_up_to(stream, size + 1)
            return self._put_single(key, data, expected, size, user_metadata, retention, legal_hold)
        if expected is None:
            with _hashed(stream) as (source, digest, length):
                check_received(key, digest, length, expected_sha256=None, expected_size=size)
                return self.put(
                    key,
                    source,
                    size=length,
                    expected_sha256=digest,
                    metadata=user_metadata,
                    retention=retention,
                    legal_hold=legal_hold,
                )
        return self._put_multipart(
            key, stream, expected, size, user_metadata, retention, legal_hold
        )

    def open(
        self,
        key: str,
        *,
        version_id: str | None = None,
        start: int = 0,
        length: int | None = None,
    ) -> AbstractContextManager[BinaryIO]:
        validate_key(key)
        validate_range(start, length)
        return self._reader(key, version_id, start, length)

    def stat(self, key: str, *, version_id: str | None = None) -> ObjectInfo:
        validate_key(key)
        with _translated(key):
            try:
                found = self._client.stat_object(self.bucket, key, version_id=version_id)
            except S3Error as exc:
                # HEAD of a delete marker's version is 405; a malformed version id may be 400.
                if version_id and exc.code in ("MethodNotAllowed", "InvalidArgument", "BadRequest"):
                    raise ObjectNotFound(f"{key}: version {version_id}") from exc
                raise
        return _object_info(key, found)

    def exists(self, key: str) -> bool:
        try:
            self.stat(key)
        except ObjectNotFound:
            return False
        return True

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return self._listing(prefix, versions=False)

    def list_versions(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every version except delete markers: by key, the newest first within a key."""
        return self._listing(prefix, versions=True)

    def delete(
        self, key: str, *, version_id: str | None = None, bypass_governance: bool = False
    ) -> None:
        """Remove one version for good (never a delete marker); the latest when none is named."""
        info = self.stat(key, version_id=version_id)
        locked = lockrules.is_locked(info.retention, info.legal_hold)
        headers: _Headers = {_BYPASS: "true"} if bypass_governance else {}
        with _translated(key, access_denied=ObjectLocked if locked else StorageError):
            self._raw_request("DELETE", key, info.version_id, headers=headers)

    def set_retention(
        self,
        key: str,
        retention: Retention,
        *,
        version_id: str | None = None,
        bypass_governance: bool = False,
    ) -> None:
        validate_new_retention(retention)
        body = marshal(_minio_retention(retention))
        headers: _Headers = {"Content-MD5": cast(str, md5sum_hash(body))}
        if bypass_governance:
            headers[_BYPASS] = "true"

        def request(version: str | None) -> None:
            with _translated(key, access_denied=ObjectLocked):
                self._raw_request("PUT", key, version, headers=headers, body=body, retention=True)

        self._on_version(key, version_id, request)

    def set_legal_hold(self, key: str, on: bool, *, version_id: str | None = None) -> None:
        def request(version: str | None) -> None:
            with _translated(key):
                if on:
                    self._client.enable_object_legal_hold(self.bucket, key, version)
                else:
                    self._client.disable_object_legal_hold(self.bucket, key, version)

        self._on_version(key, version_id, request)

    def check(self) -> None:
        with _translated(self.bucket):
            if not self._client.bucket_exists(self.bucket):
                raise StorageUnavailable(f"bucket {self.bucket} does not exist")

    def _on_version(
        self, key: str, version_id: str | None, request: Callable[[str | None], None]
    ) -> None:
        """Send a lock request for one version of ``key``. Without a version named, the latest
        is looked up first and named (so the request cannot land on a newer one). With it, the
        request goes first, and a failure other than a refusal is explained afterwards:
        ``ObjectNotFound`` when the version does not exist (some servers answer a lock request
        on a missing key with a 500), else the failure itself."""
        if version_id is None:
            request(self.stat(key).version_id)
            return
        try:
            request(version_id)
        except ObjectLocked:
            raise
        except StorageError:
            self.stat(key, version_id=version_id)  # ObjectNotFound when the version is absent
            raise

    # -- uploads -------------------------------------------------------------------------------

    def _put_single(
        self,
        key: str,
        data: bytes,
        expected: str | None,
        size: int,
        metadata: Mapping[str, str],
        retention: Retention | None,
        legal_hold: bool,
    ) -> PutResult:
        digest = hashlib.sha256(data).hexdigest()
        check_received(key, digest, len(data), expected_sha256=expected, expected_size=size)
        headers = _metadata_headers(digest, metadata)
        headers["x-amz-checksum-sha256"] = base64.b64encode(bytes.fromhex(digest)).decode()
        with _translated(key):
            result = self._client.put_object(
                self.bucket,
                key,
                io.BytesIO(data),
                len(data),
                metadata=headers,
                retention=_minio_retention(retention) if retention else None,
                legal_hold=legal_hold,
            )
        return PutResult(key=key, size=len(data), sha256=digest, version_id=result.version_id)

    def _put_multipart(
        self,
        key: str,
        stream: BinaryIO,
        expected: str,
        size: int | None,
        metadata: Mapping[str, str],
        retention: Retention | None,
        legal_hold: bool,
    ) -> PutResult:
        """Stream in parts, then verify; locks are applied only to a verified version."""
        reader = HashingReader(stream)
        with _translated(key):
            result = self._client.put_object(
                self.bucket,
                key,
                cast(BinaryIO, reader),
                -1,
                part_size=self._part_size,
                metadata=_metadata_headers(expected, metadata),
            )
        try:
            check_received(
                key, reader.sha256, reader.size, expected_sha256=expected, expected_size=size
            )
        except ChecksumMismatch as mismatch:
            try:
                with _translated(key):
                    self._raw_request("DELETE", key, result.version_id)
            except StorageError as exc:
                mismatch.add_note(f"the uploaded version could not be removed: {exc}")
            raise
        if retention is not None:
            self.set_retention(key, retention, version_id=result.version_id)
        if legal_hold:
            self.set_legal_hold(key, True, version_id=result.version_id)
        return PutResult(key=key, size=reader.size, sha256=expected, version_id=result.version_id)

    # -- reads ---------------------------------------------------------------------------------

    @contextmanager
    def _reader(
        self, key: str, version_id: str | None, start: int, length: int | None
    ) -> Iterator[BinaryIO]:
        if length == 0:
            self.stat(key, version_id=version_id)
            yield io.BytesIO()
            return
        with _translated(key):
            response = self._get(key, version_id, start, length)
        if response is None:
            yield io.BytesIO()
            return
        try:
            yield cast(BinaryIO, io.BufferedReader(_ResponseBody(response, key), CHUNK_SIZE))
        finally:
            response.close()
            response.release_conn()

    def _get(
        self, key: str, version_id: str | None, start: int, length: int | None
    ) -> BaseHTTPResponse | None:
        """The GET response, or None when ``start`` is at or past the end of the object."""
        try:
            return self._client.get_object(
                self.bucket, key, offset=start, length=length or 0, version_id=version_id
            )
        except S3Error as exc:
            if exc.code == "InvalidRange":
                return None
            raise

    def _listing(self, prefix: str, *, versions: bool) -> Iterator[ObjectInfo]:
        # Plain (not URL-encoded) listings: SeaweedFS sorts URL-encoded listings by the encoded
        # form, which puts non-ASCII keys first.
        # A version listing gives each key's versions newest first, delete markers included: a
        # key whose newest entry is a marker has no current version.
        previous = None
        with _translated(prefix or self.bucket):
            for found in self._client.list_objects(
                self.bucket,
                prefix=prefix or None,
                recursive=True,
                include_version=versions,
                use_url_encoding_type=False,
            ):
                first, previous = found.object_name != previous, found.object_name
                if found.is_delete_marker or found.object_name is None:
                    continue
                yield ObjectInfo(
                    key=found.object_name,
                    size=found.size or 0,
                    version_id=found.version_id if versions else None,
                    last_modified=found.last_modified,
                    latest=not versions or _is_latest(found.is_latest, first),
                )

    def _raw_request(
        self,
        method: str,
        key: str,
        version_id: str | None,
        *,
        headers: _Headers | None = None,
        body: bytes | None = None,
        retention: bool = False,
    ) -> None:
        """A request the public minio API cannot express (the governance bypass header)."""
        query: _Headers = {"versionId": version_id} if version_id else {}
        if retention:
            query["retention"] = ""
        self._client._execute(
            method,
            self.bucket,
            key,
            body=body,
            headers=headers or {},
            query_params=query,
        )


class _ResponseBody(io.RawIOBase):
    """The body of a GET response as a raw stream; network failures become StorageUnavailable."""

    def __init__(self, response: BaseHTTPResponse, key: str) -> None:
        self._response = response
        self._key = key

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        try:
            data = self._response.read(len(buffer))
        except urllib3.exceptions.HTTPError as exc:
            raise StorageUnavailable(f"{self._key}: reading interrupted: {exc}") from exc
        buffer[: len(data)] = data
        return len(data)


@contextmanager
def _translated(what: str, *, access_denied: type[StorageError] = StorageError) -> Iterator[None]:
    """Turn minio and urllib3 failures into the storage errors of ``base``."""
    try:
        yield
    except S3Error as exc:
        raise _storage_error(what, exc, access_denied) from exc
    except (ServerError, InvalidResponseError, urllib3.exceptions.HTTPError) as exc:
        raise StorageUnavailable(f"{what}: {exc}") from exc


def _storage_error(what: str, exc: S3Error, access_denied: type[StorageError]) -> StorageError:
    message = f"{what}: {exc.code}: {exc.message}"
    status = exc.response.status if exc.response is not None else 0
    if exc.code == "NoSuchBucket" or status >= 500:
        return StorageUnavailable(message)
    if exc.code in _NOT_FOUND:
        return ObjectNotFound(message)
    if exc.code in _BAD_DIGEST:
        return ChecksumMismatch(message)
    if exc.code == "AccessDenied":
        return access_denied(message)
    return StorageError(message)


@contextmanager
def _hashed(stream: BinaryIO) -> Iterator[tuple[BinaryIO, str, int]]:
    """The rest of ``stream`` with its SHA-256 and size, ready to be read again."""
    if _seekable(stream):
        position = stream.tell()
        digest, size = sha256_of_stream(stream)
        stream.seek(position)
        yield stream, digest, size
        return
    with tempfile.TemporaryFile() as spool:
        digest, size = copy_with_sha256(stream, cast(BinaryIO, spool))
        spool.seek(0)
        yield cast(BinaryIO, spool), digest, size


def _read_up_to(stream: BinaryIO, limit: int) -> bytes:
    """Read until ``limit`` bytes or the end of ``stream``, however short its reads are."""
    chunks: list[bytes] = []
    left = limit
    while left > 0 and (chunk := stream.read(min(left, CHUNK_SIZE))):
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _seekable(stream: BinaryIO) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def _has_object_lock(client: Minio, bucket: str) -> bool:
    try:
        client.get_object_lock_config(bucket)
    except S3Error as exc:
        if exc.code == "ObjectLockConfigurationNotFoundError":
            return False
        raise
    return True


def _minio_retention(retention: Retention) -> MinioRetention:
    return MinioRetention(retention.mode.value, retention.until)


def _metadata_headers(sha256: str, metadata: Mapping[str, str]) -> _Headers:
    headers: _Headers = {
        _META_PREFIX + name: quote(value, safe="") for name, value in metadata.items()
    }
    headers[_META_PREFIX + _SHA256_META] = sha256
    return headers


def _is_latest(flag: str | None, first_of_key: bool) -> bool:
    """A listed version is current when the server says so (``IsLatest``), or, from a server
    that does not say, when it is the first (newest) listed for its key."""
    return flag.lower() == "true" if flag is not None else first_of_key


def _object_info(key: str, found: Object) -> ObjectInfo:
    headers = {name.lower(): value for name, value in (found.metadata or {}).items()}
    metadata = {
        name[len(_META_PREFIX) :]: unquote(value)
        for name, value in headers.items()
        if name.startswith(_META_PREFIX)
    }
    sha256 = metadata.pop(_SHA256_META, None)
    mode, until = headers.get(_LOCK_MODE), headers.get(_LOCK_UNTIL)
    return ObjectInfo(
        key=key,
        size=found.size or 0,
        version_id=found.version_id,
        last_modified=found.last_modified,
        sha256=sha256,
        retention=Retention(RetentionMode(mode.upper()), parse_lock_date(until))
        if mode and until
        else None,
        legal_hold=headers.get(_LEGAL_HOLD, "").upper() == "ON",
        metadata=metadata,
    )
