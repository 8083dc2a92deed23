"""Checks every adapter applies: keys, metadata, digests, ranges, retention dates, sizes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

from archive_service.storage.base import ChecksumMismatch, Retention

MAX_KEY_BYTES = 1024  # the S3 limit, applied everywhere so that stores stay interchangeable
RESERVED_METADATA = frozenset({"sha256"})  # written by the adapters themselves

_METADATA_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


class InvalidKey(ValueError):
    """An object key that no adapter accepts."""


def validate_key(key: str) -> str:
    """Return ``key`` unchanged when it is a safe relative ``/``-separated path.

    Refused: empty keys or segments, ``.`` and ``..`` segments, a leading ``/``, backslashes,
    NUL and other control characters, and keys longer than 1024 bytes in UTF-8.
    """
    if not key:
        raise InvalidKey("empty object key")
    if "\\" in key:
        raise InvalidKey(f"object key contains a backslash: {key!r}")
    if _CONTROL.search(key):
        raise InvalidKey(f"object key contains a control character: {key!r}")
    if key.startswith("/"):
        raise InvalidKey(f"object key is absolute: {key!r}")
    if any(segment in ("", ".", "..") for segment in key.split("/")):
        raise InvalidKey(f"object key has an empty, '.' or '..' segment: {key!r}")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidKey(f"object key longer than {MAX_KEY_BYTES} bytes: {key[:80]!r}…")
    return key


def validate_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """Return a copy of user metadata whose names are lower-case tokens and values strings.

    Values may hold any Unicode text; adapters encode them as their medium requires.
    """
    checked: dict[str, str] = {}
    for name, value in (metadata or {}).items():
        if not _METADATA_NAME.fullmatch(name):
            raise ValueError(f"metadata name must be a lower-case token [a-z0-9-]: {name!r}")
        if name in RESERVED_METADATA:
            raise ValueError(f"metadata name {name!r} is reserved for the storage layer")
        if not isinstance(value, str):
            raise ValueError(f"metadata value of {name!r} must be a string")
        checked[name] = value
    return checked


def validate_new_retention(retention: Retention | None) -> None:
    """Refuse a retention date that is already past: no store accepts one."""
    if retention is not None and retention.until <= datetime.now(UTC):
        raise ValueError(f"retention date {retention.until.isoformat()} is not in the future")


def validate_range(start: int, length: int | None) -> None:
    """Refuse negative offsets and lengths of a range read."""
    if start < 0:
        raise ValueError(f"range start must not be negative: {start}")
    if length is not None and length < 0:
        raise ValueError(f"range length must not be negative: {length}")


def normalize_sha256(digest: str | None) -> str | None:
    """Return a caller's expected SHA-256 in lower-case hex, refusing anything else."""
    if digest is None:
        return None
    if not _SHA256_HEX.fullmatch(digest):
        raise ValueError(f"not a hex SHA-256 digest: {digest!r}")
    return digest.lower()


def check_received(
    key: str,
    sha256: str,
    size: int,
    *,
    expected_sha256: str | None,
    expected_size: int | None,
) -> None:
    """Raise ``ChecksumMismatch`` when the bytes received are not those the caller announced."""
    if expected_sha256 is not None and sha256 != expected_sha256:
        raise ChecksumMismatch(f"{key}: SHA-256 {sha256} received, {expected_sha256} expected")
    if expected_size is not None and size != expected_size:
        raise ChecksumMismatch(f"{key}: {size} bytes received, {expected_size} expected")
