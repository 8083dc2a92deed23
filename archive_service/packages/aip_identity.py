"""How an AIP and its keeper are named: the archive, the AIP's ids, ``arcFileCode``, its agents."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from archive_service.packages import mets
from archive_service.packages.premis import AgentType, PremisAgent

ARC_FILE_CODE_SEPARATOR = "."
ARC_FILE_CODE_MAX = 100


@dataclass(frozen=True)
class ArchiveIdentity:
    """Who keeps the AIP: the archive, its fonds, and the software writing the package."""

    archive_code: str
    archive_name: str
    fonds_code: str
    software_name: str
    software_version: str


def aip_object_id(fonds_code: str, aip_uuid: UUID) -> str:
    """``urn:<fonds>:uuid-<UUID>``: the AIP's ``OBJID`` and OCFL object id."""
    return f"urn:{fonds_code}:{mets.uuid_id(aip_uuid)}"


def aip_root_name(object_id: str) -> str:
    """Folder name of an AIP: its id with ``:`` replaced by ``_``."""
    return object_id.replace(":", "_")


def arc_file_code(archive_code: str, file_code: str) -> str:
    """``arcFileCode`` of a dossier: archive code, ``.``, ``fileCode``."""
    return f"{archive_code}{ARC_FILE_CODE_SEPARATOR}{file_code}"


def premis_identifier(object_id: str, logical_path: str) -> str:
    """PREMIS identifier of a file (or folder) of an AIP, unique in the archive."""
    return f"{object_id}/{logical_path}"


def software_agent(archive: ArchiveIdentity) -> PremisAgent:
    """The archive software as a PREMIS agent (id ``<name>/<version>``)."""
    return PremisAgent(
        identifier=f"{archive.software_name}/{archive.software_version}",
        name=archive.software_name,
        agent_type=AgentType.SOFTWARE,
        version=archive.software_version,
    )


def archive_agent(archive: ArchiveIdentity) -> PremisAgent:
    """The archive (organisation) as a PREMIS agent, identified by its code."""
    return PremisAgent(
        identifier=archive.archive_code,
        name=archive.archive_name,
        agent_type=AgentType.ORGANIZATION,
        notes=(f"Phông lưu trữ {archive.fonds_code}",),
    )
