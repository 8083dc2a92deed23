"""The files of an AIP being built, grouped in representations, as PREMIS and METS describe them."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from datetime import datetime

from archive_service.packages.mets import METS_FILE, PRESERVATION_DIR, REPRESENTATIONS_DIR, FileRef
from archive_service.packages.premis import FileFormat, Relationship, SignatureNote
from archive_service.streams import FileSource


def representation_path(name: str) -> str:
    """``representations/<rep>``: the folder of a representation."""
    return f"{REPRESENTATIONS_DIR}/{name}"


def representation_premis_path(name: str) -> str:
    """``representations/<rep>/metadata/preservation/PREMIS_<rep>.xml``."""
    return f"{representation_path(name)}/{PRESERVATION_DIR}/PREMIS_{name}.xml"


@dataclass(frozen=True)
class AipItem:
    """A file of the AIP: its bytes and how METS describes it."""

    path: str
    source: FileSource  # size and sha256 known
    mime_type: str
    created: datetime

    def ref(self, base: str = "") -> FileRef:
        """How a METS file in folder ``base`` refers to this file."""
        href = posixpath.relpath(self.path, base) if base else self.path
        return FileRef(href, self.size, self.sha256, self.mime_type, self.created)

    @property
    def size(self) -> int:
        assert self.source.size is not None
        return self.source.size

    @property
    def sha256(self) -> str:
        assert self.source.sha256 is not None
        return self.source.sha256


@dataclass(frozen=True)
class RepFile:
    """A data file of a representation, with what PREMIS and METS say of it."""

    item: AipItem
    original_name: str
    format: FileFormat
    signature: SignatureNote | None = None
    metadata: AipItem | None = None  # EAD_DOC … of the document (rep1)
    holey: bool = False  # a .fetch.txt reference
    derivation: Relationship | None = None


@dataclass(frozen=True)
class AipRepresentation:
    """A representation of the AIP (rep1 as deposited, rep2 renditions) and its data files."""

    name: str
    files: tuple[RepFile, ...]
    derivation: Relationship | None = None

    @property
    def folder(self) -> str:
        return representation_path(self.name)

    @property
    def mets_path(self) -> str:
        return f"{self.folder}/{METS_FILE}"

    @property
    def premis_path(self) -> str:
        return representation_premis_path(self.name)
