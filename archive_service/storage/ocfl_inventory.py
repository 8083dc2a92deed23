"""OCFL 1.1 inventories as plain JSON-shaped dicts: build, serialise, check, read state.

Nothing here touches storage. The archive writes ``sha256`` inventories whose content
directory is ``content``; version names are ``v1``, ``v2`` … without zero padding.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from archive_service.storage.base import StorageError

INVENTORY_TYPE = "https://ocfl.io/1.1/spec/#inventory"
DIGEST_ALGORITHM = "sha256"
CONTENT_DIRECTORY = "content"
INVENTORY_FILE = "inventory.json"
SIDECAR_FILE = f"inventory.json.{DIGEST_ALGORITHM}"
OBJECT_DECLARATION_FILE = "0=ocfl_object_1.1"
OBJECT_DECLARATION = b"ocfl_object_1.1\n"

_VERSION_NAME = re.compile(r"v([1-9][0-9]*)")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")
_UNSAFE_CHARACTER = re.compile(r"[\x00-\x1f\x7f\\]")
_SIDECAR_LINE = re.compile(r"([0-9a-fA-F]+)[ \t]+inventory\.json[ \t]*\n?")

Inventory = dict[str, Any]


class OcflError(StorageError):
    """An OCFL object or storage root is not as this archive writes it."""


class InventoryCorrupt(OcflError):
    """An inventory does not match its sidecar digest or breaks OCFL rules."""


class InvalidLogicalPath(OcflError, ValueError):
    """A logical path cannot be stored in an OCFL object (or conflicts with another one)."""


def version_name(number: int) -> str:
    """``v<number>``, never zero-padded."""
    return f"v{number}"


def version_number(name: str) -> int | None:
    """The number of a version directory name (``v3`` → 3), ``None`` for anything else."""
    match = _VERSION_NAME.fullmatch(name)
    return int(match.group(1)) if match else None


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def serialize(inventory: Inventory) -> bytes:
    """The exact bytes stored as ``inventory.json`` (UTF-8, keys in OCFL order)."""
    return (json.dumps(inventory, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def sidecar(inventory_sha256: str) -> bytes:
    """The content of ``inventory.json.sha256`` for an inventory digest."""
    return f"{inventory_sha256} {INVENTORY_FILE}\n".encode("ascii")


def parse_sidecar(data: bytes) -> str:
    """The lower-case digest recorded in an ``inventory.json.sha256`` file."""
    match = _SIDECAR_LINE.fullmatch(data.decode("ascii", errors="replace"))
    if match is None:
        raise InventoryCorrupt("inventory sidecar is not '<digest> inventory.json'")
    return match.group(1).lower()


def check_logical_path(path: str) -> None:
    """Refuse a logical path that OCFL (or its use as a content path) does not allow."""
    segments = path.split("/")
    if not path or _UNSAFE_CHARACTER.search(path) or any(s in ("", ".", "..") for s in segments):
        raise InvalidLogicalPath(
            f"logical path {path!r} must be non-empty '/'-separated segments without "
            "'.', '..', empty segments, backslashes or control characters"
        )


def check_non_conflicting(paths: Iterable[str]) -> None:
    """Refuse a state where one logical path is a directory of another (OCFL E095)."""
    files = set(paths)
    for path in files:
        segments = path.split("/")
        for end in range(1, len(segments)):
            directory = "/".join(segments[:end])
            if directory in files:
                raise InvalidLogicalPath(
                    f"logical path {directory!r} is both a file and a directory of {path!r}"
                )


def check_user_address(address: str) -> None:
    """OCFL wants the user's address as a URI, e.g. ``mailto:archivist@example.org``."""
    if not _URI.fullmatch(address):
        raise ValueError(f"user address {address!r} must be a URI such as 'mailto:…'")


def format_created(created: datetime) -> str:
    """RFC 3339 date-time with its offset; naive datetimes are refused."""
    if created.tzinfo is None or created.utcoffset() is None:
        raise ValueError("a version's created time must be timezone-aware")
    return created.isoformat()


def state_of(inventory: Inventory, version: str | None = None) -> dict[str, str]:
    """Logical path → digest of ``version`` (the head when ``None``)."""
    name = inventory["head"] if version is None else version
    try:
        state: Mapping[str, list[str]] = inventory["versions"][name]["state"]
    except KeyError:
        raise KeyError(f"version {name!r} does not exist") from None
    return {path: digest for digest, paths in state.items() for path in paths}


def with_new_version(
    previous: Inventory | None,
    object_id: str,
    *,
    version: str,
    manifest: Mapping[str, list[str]],
    state: Mapping[str, str],
    created: datetime,
    message: str,
    user_name: str,
    user_address: str,
) -> Inventory:
    """The inventory after adding ``version`` with ``state`` (logical path → digest)."""
    by_digest: dict[str, list[str]] = {}
    for path, digest in state.items():
        by_digest.setdefault(digest, []).append(path)
    versions = dict(previous["versions"]) if previous else {}
    versions[version] = {
        "created": format_created(created),
        "message": message,
        "state": {digest: sorted(paths) for digest, paths in sorted(by_digest.items())},
        "user": {"name": user_name, "address": user_address},
    }
    return {
        "id": object_id,
        "type": INVENTORY_TYPE,
        "digestAlgorithm": DIGEST_ALGORITHM,
        "head": version,
        "contentDirectory": CONTENT_DIRECTORY,
        "manifest": {digest: sorted(paths) for digest, paths in sorted(manifest.items())},
        "versions": versions,
    }


def check_inventory(inventory: Any, object_id: str) -> Inventory:
    """Check the parts of an inventory this archive relies on; raise ``InventoryCorrupt``."""
    if not isinstance(inventory, dict):
        raise InventoryCorrupt(f"inventory of {object_id!r} is not a JSON object")
    expected = {
        "id": object_id,
        "type": INVENTORY_TYPE,
        "digestAlgorithm": DIGEST_ALGORITHM,
        "contentDirectory": CONTENT_DIRECTORY,
    }
    for field, value in expected.items():
        if inventory.get(field) != value:
            raise InventoryCorrupt(
                f"inventory of {object_id!r}: {field} is {inventory.get(field)!r}, "
                f"expected {value!r}"
            )
    manifest = inventory.get("manifest")
    versions = inventory.get("versions")
    if not isinstance(manifest, dict) or not isinstance(versions, dict):
        raise InventoryCorrupt(f"inventory of {object_id!r} lacks manifest or versions")
    head_number = version_number(str(inventory.get("head")))
    expected_names = [version_name(n) for n in range(1, (head_number or 0) + 1)]
    if not expected_names or set(versions) != set(expected_names):
        raise InventoryCorrupt(
            f"inventory of {object_id!r}: versions {list(versions)} do not run v1…head "
            f"({inventory.get('head')!r})"
        )
    if any(not _SHA256_HEX.fullmatch(digest) for digest in manifest):
        raise InventoryCorrupt(f"inventory of {object_id!r}: manifest digest is not sha256 hex")
    for name, entry in versions.items():
        state = entry.get("state") if isinstance(entry, dict) else None
        if not isinstance(state, dict) or set(state) - set(manifest):
            raise InventoryCorrupt(
                f"inventory of {object_id!r}: {name} refers to digests not in the manifest"
            )
    return inventory
