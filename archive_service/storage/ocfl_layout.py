"""Where OCFL objects live in the storage root: extension 0003 (hash and id n-tuple).

Published at https://ocfl.github.io/extensions/0003-hash-and-id-n-tuple-storage-layout.html.
An object's path is ``numberOfTuples`` slices of ``tupleSize`` characters of the lower-case hex
digest of its identifier, followed by the percent-encoded identifier (truncated to 100
characters plus ``-`` and the digest when longer).
"""

from __future__ import annotations

import hashlib
import json
import string
from dataclasses import dataclass
from typing import Any

ROOT_DECLARATION_KEY = "0=ocfl_1.1"
ROOT_DECLARATION = b"ocfl_1.1\n"
LAYOUT_KEY = "ocfl_layout.json"

_UNENCODED = frozenset(string.ascii_letters + string.digits + "-_")
_MAX_ENCODED_LENGTH = 100


@dataclass(frozen=True)
class HashAndIdNTupleLayout:
    """The 0003 layout with its parameters (the archive uses sha256, 3 tuples of 3)."""

    digest_algorithm: str = "sha256"
    tuple_size: int = 3
    number_of_tuples: int = 3

    name = "0003-hash-and-id-n-tuple-storage-layout"
    description = (
        "Hashed Truncated N-tuple Trees with Object ID Encapsulating Directory "
        "for OCFL Storage Hierarchies"
    )

    @property
    def config_key(self) -> str:
        """Key of the extension's parameters in the storage root."""
        return f"extensions/{self.name}/config.json"

    def config(self) -> dict[str, Any]:
        """Content of ``extensions/<name>/config.json``."""
        return {
            "extensionName": self.name,
            "digestAlgorithm": self.digest_algorithm,
            "tupleSize": self.tuple_size,
            "numberOfTuples": self.number_of_tuples,
        }

    def layout_declaration(self) -> dict[str, str]:
        """Content of ``ocfl_layout.json``."""
        return {"extension": self.name, "description": self.description}

    def object_path(self, object_id: str) -> str:
        """The object's root directory, relative to the storage root, ``/``-separated."""
        if not object_id:
            raise ValueError("an OCFL object id must not be empty")
        digest = hashlib.new(self.digest_algorithm, object_id.encode("utf-8")).hexdigest()
        tuples = [
            digest[i * self.tuple_size : (i + 1) * self.tuple_size]
            for i in range(self.number_of_tuples)
        ]
        return "/".join([*tuples, _encapsulation_directory(object_id, digest)])


def _encapsulation_directory(object_id: str, digest: str) -> str:
    encoded = "".join(_percent_encode(character) for character in object_id)
    if len(encoded) > _MAX_ENCODED_LENGTH:
        return f"{encoded[:_MAX_ENCODED_LENGTH]}-{digest}"
    return encoded


def _percent_encode(character: str) -> str:
    if character in _UNENCODED:
        return character
    return "".join(f"%{byte:02x}" for byte in character.encode("utf-8"))


def parse_layout_config(data: bytes) -> dict[str, Any]:
    """Read a 0003 ``config.json``, filling in the extension's documented defaults."""
    config = json.loads(data)
    if not isinstance(config, dict):
        raise ValueError("config.json is not a JSON object")
    return {**HashAndIdNTupleLayout().config(), **config}
