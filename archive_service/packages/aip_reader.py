"""Read an AIP back into a summary: what ``archive aip show`` prints.

The AIP is reached through a function that opens its files by logical path, so the same reader
serves an AIP folder (``read_aip_folder``) and an OCFL object in any store (``read_aip_object``).
The root METS leads to everything else: its dmdSecs to EAD.xml and TTHC.xml, its amdSec to
PREMIS.xml, its ``mptr`` elements to the representation METS files and their data files.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from lxml import etree

from archive_service.config import PackageLimits, get_settings
from archive_service.packages.ead import dossier_from_fields, read_simpledc
from archive_service.packages.mets import METS_FILE
from archive_service.packages.mets_reader import FileReference, MetsFile, read_mets
from archive_service.packages.models import Dossier, TthcFacts
from archive_service.packages.premis import PremisAgent, PremisEvent, read_agents, read_events
from archive_service.packages.tthc import TTHC_MDTYPE, TthcError, read_tthc
from archive_service.packages.xmlsafe import UnsafeXml, parse_xml
from archive_service.storage.base import StorageError
from archive_service.storage.ocfl import OcflRepository

#: Opens a file of the AIP by its logical path (relative to the AIP root folder).
AipOpener = Callable[[str], AbstractContextManager[BinaryIO]]


class AipUnreadable(Exception):
    """The AIP lacks a file the summary needs, or one of its files cannot be read."""


@dataclass(frozen=True)
class AipFile:
    """A file of a representation, as its METS declares it (SHA-256 lower-case)."""

    path: str
    size: int
    sha256: str
    mime_type: str | None


@dataclass(frozen=True)
class Representation:
    name: str
    mets_path: str
    files: tuple[AipFile, ...]


@dataclass(frozen=True)
class AipSummary:
    object_id: str
    package_type: str | None
    record_status: str | None
    created: datetime | None
    dossier: Dossier
    tthc: TthcFacts
    representations: tuple[Representation, ...]
    events: tuple[PremisEvent, ...]
    agents: tuple[PremisAgent, ...] = ()


def read_aip_folder(folder: Path, limits: PackageLimits | None = None) -> AipSummary:
    """Summary of an AIP written as a folder (``folder`` is its root, ``urn_…``)."""
    root = folder.resolve()

    def open_file(path: str) -> AbstractContextManager[BinaryIO]:
        target = (root / path).resolve()
        if not target.is_relative_to(root):
            raise AipUnreadable(f"Đường dẫn '{path}' nằm ngoài thư mục gói AIP")
        return target.open("rb")

    return read_aip(open_file, limits)


def read_aip_object(
    repository: OcflRepository,
    object_id: str,
    version: str | None = None,
    limits: PackageLimits | None = None,
) -> AipSummary:
    """Summary of an AIP stored as an OCFL object (its head, or ``version``)."""
    return read_aip(repository.opener(object_id, version), limits)


def read_aip(open_file: AipOpener, limits: PackageLimits | None = None) -> AipSummary:
    """Summary of the AIP whose files ``open_file`` opens."""
    reader = _Reader(open_file, (limits or get_settings().limits).max_xml_bytes)
    root = reader.mets(METS_FILE)
    ead = reader.xml(_metadata_path(root, "DC"))
    tthc = reader.xml(_metadata_path(root, TTHC_MDTYPE))
    premis = reader.xml(_metadata_path(root, "PREMIS"))
    try:
        dossier = dossier_from_fields(read_simpledc(ead))
        facts = read_tthc(tthc)
    except TthcError as error:
        raise AipUnreadable(error.message) from error
    except ValueError as error:
        raise AipUnreadable(f"EAD.xml của gói AIP không đọc được: {error}") from error
    representations = [reader.representation(path) for path in root.pointers if path]
    return AipSummary(
        object_id=root.objid or "",
        package_type=root.package_type,
        record_status=root.record_status,
        created=datetime.fromisoformat(root.created) if root.created else None,
        dossier=dossier,
        tthc=facts,
        representations=tuple(representations),
        events=tuple(read_events(premis)),
        agents=tuple(read_agents(premis)),
    )


class _Reader:
    def __init__(self, open_file: AipOpener, max_xml_bytes: int) -> None:
        self._open = open_file
        self._max = max_xml_bytes

    def xml(self, path: str) -> etree._Element:
        try:
            with self._open(path) as stream:
                return parse_xml(stream, path, self._max).getroot()
        except UnsafeXml as unsafe:
            raise AipUnreadable(unsafe.problem.message) from unsafe
        except (OSError, StorageError) as error:
            raise AipUnreadable(
                f"Gói AIP thiếu tệp '{path}' hoặc không đọc được: {error}"
            ) from error

    def mets(self, path: str) -> MetsFile:
        parsed, problems = read_mets(self.xml(path), path)
        if problems:
            raise AipUnreadable("; ".join(p.message for p in problems))
        return parsed

    def representation(self, mets_path: str) -> Representation:
        parsed = self.mets(mets_path)
        return Representation(
            name=posixpath.basename(posixpath.dirname(mets_path)),
            mets_path=mets_path,
            files=tuple(_file(ref) for ref in parsed.files.values()),
        )


def _metadata_path(mets: MetsFile, mdtype: str) -> str:
    for reference in mets.metadata.values():
        if reference.mdtype == mdtype and reference.path:
            return reference.path
    raise AipUnreadable(f"{mets.path}: không có mdRef MDTYPE '{mdtype}'")


def _file(reference: FileReference) -> AipFile:
    size = reference.size or ""
    if not (reference.path and size.isdigit() and reference.checksum):
        raise AipUnreadable(
            f"Tệp '{reference.href}' thiếu đường dẫn, SIZE hoặc CHECKSUM trong METS"
        )
    return AipFile(
        path=reference.path,
        size=int(size),
        sha256=reference.checksum.lower(),
        mime_type=reference.mime_type,
    )
