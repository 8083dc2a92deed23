"""What the catalogue records of each document's format and rendition, read from the stored AIP.

The facts come from the committed version itself — not from memory of the attempt — so a
deposit finished after a crash records the same: the MIME type from rep1's METS (the type by
content), format name and PRONOM id from ``PREMIS_rep1.xml``, the rendition (path, size,
SHA-256 in rep2's METS) and the validators that checked it (the event's agents in the
``validator`` role) from the successful ``normalization`` event whose source is the document,
and a failed rendition's reason from the failed one. A document that went through
``format identification`` without a normalization needed none.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from archive_service.config import PackageLimits
from archive_service.packages.aip_items import representation_premis_path
from archive_service.packages.aip_reader import AipFile, AipOpener, AipSummary
from archive_service.packages.premis import (
    AgentRole,
    EventType,
    FileFormat,
    ObjectRole,
    Outcome,
    PremisEvent,
    read_file_formats,
)
from archive_service.packages.xmlsafe import parse_xml

ORIGINALS = "rep1"
RENDITIONS = "rep2"


class RenditionState(StrEnum):
    """The outcome of the rendition step for one document."""

    CREATED = "created"
    NOT_NEEDED = "not-needed"
    FAILED = "failed"


@dataclass(frozen=True)
class DocumentFormat:
    """The catalogue's format and rendition columns of one document."""

    mime_type: str | None = None
    format: FileFormat | None = None
    rendition: AipFile | None = None
    rendition_state: RenditionState | None = None
    rendition_failure: str | None = None
    rendition_validator: str | None = None

    def columns(self) -> dict[str, Any]:
        """The document row's format and rendition columns (None where nothing is known),
        and its media type when this knows it (else the row keeps the declared one)."""
        found, rendition = self.format, self.rendition
        return {
            **({"mime_type": self.mime_type} if self.mime_type else {}),
            "format_name": _designation(found) if found is not None else None,
            "pronom_id": found.pronom_id if found is not None else None,
            "rendition_path": rendition.path if rendition is not None else None,
            "rendition_size": rendition.size if rendition is not None else None,
            "rendition_sha256": rendition.sha256 if rendition is not None else None,
            "rendition_status": self.rendition_state,
            "rendition_failure": self.rendition_failure,
            "rendition_validator": self.rendition_validator,
        }


def stored_document_formats(
    open_file: AipOpener,
    object_id: str,
    summary: AipSummary,
    limits: PackageLimits,
) -> dict[str, DocumentFormat]:
    """By logical path of each original in rep1: its format and rendition facts, read from
    the stored version ``open_file`` opens (``OcflRepository.opener``)."""
    files = {rep.name: {f.path: f for f in rep.files} for rep in summary.representations}
    originals = files.get(ORIGINALS, {})
    premis_path = representation_premis_path(ORIGINALS)
    with open_file(premis_path) as stream:
        formats = read_file_formats(parse_xml(stream, premis_path, limits.max_xml_bytes).getroot())
    outcomes = _Outcomes(object_id, summary.events, files.get(RENDITIONS, {}))
    return {
        path: DocumentFormat(
            mime_type=original.mime_type,
            format=formats.get(path) if path in outcomes.identified else None,
            rendition=outcomes.renditions.get(path),
            rendition_state=outcomes.state(path),
            rendition_failure=outcomes.failures.get(path),
            rendition_validator=outcomes.validators.get(path),
        )
        for path, original in originals.items()
    }


class _Outcomes:
    """What the normalization and identification events say, by original's logical path."""

    def __init__(
        self, object_id: str, events: tuple[PremisEvent, ...], renditions: dict[str, AipFile]
    ) -> None:
        self.prefix = f"{object_id}/"
        self.renditions: dict[str, AipFile] = {}
        self.failures: dict[str, str] = {}
        self.validators: dict[str, str] = {}
        self.identified: set[str] = set()
        for event in events:
            sources = self.paths(event, ObjectRole.SOURCE)
            if event.event_type == EventType.FORMAT_IDENTIFICATION:
                self.identified.update(sources)
            elif event.event_type != EventType.NORMALIZATION:
                continue
            elif event.outcome == Outcome.SUCCESS:
                made = [
                    renditions[p] for p in self.paths(event, ObjectRole.OUTCOME) if p in renditions
                ]
                self.renditions.update((source, made[0]) for source in sources if made)
                checked = _validators(event)
                if made and checked:
                    self.validators.update((source, checked) for source in sources)
            elif event.outcome == Outcome.FAILURE:
                reason = event.outcome_detail or event.detail or ""
                self.failures.update((source, reason) for source in sources)

    def paths(self, event: PremisEvent, role: ObjectRole) -> list[str]:
        return [
            linked.identifier.removeprefix(self.prefix)
            for linked in event.objects
            if linked.role == role and linked.identifier.startswith(self.prefix)
        ]

    def state(self, path: str) -> RenditionState | None:
        if path in self.renditions:
            return RenditionState.CREATED
        if path in self.failures:
            return RenditionState.FAILED
        return RenditionState.NOT_NEEDED if path in self.identified else None


def _validators(event: PremisEvent) -> str | None:
    """``archive-service 0.1.0 + pikepdf.pdfa 10.18.0``: the event's validator agents
    (identified ``<name>/<version>``), or None when it names none."""
    names = [
        " ".join(agent.identifier.rsplit("/", 1))
        for agent in event.agents
        if agent.role == AgentRole.VALIDATOR
    ]
    return " + ".join(dict.fromkeys(names)) or None


def _designation(file_format: FileFormat) -> str:
    """``PDF/A 2b``, ``JPEG (JFIF) 1.01``: name and version as one label."""
    if file_format.version:
        return f"{file_format.name} {file_format.version}"
    return file_format.name
