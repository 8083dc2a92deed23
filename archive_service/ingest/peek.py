"""A quick look into a received SIP, cheap enough to answer the upload request itself.

Only the ZIP's central directory, ``METS.xml``'s header and ``TTHC.xml`` are read, with the same
hardened reader as the full check. The deposit service uses this to refuse at once a SIP of
another agency (403) or of an already archived dossier (409); anything the quick look cannot read
is left to the full check, which reports every problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from archive_service.config import PackageLimits
from archive_service.packages.container import PackageReadError, open_package
from archive_service.packages.mets import METS_FILE, METS_NS
from archive_service.packages.problems import PackageInvalid
from archive_service.packages.tthc import TTHC_PATH, TthcError, read_tthc
from archive_service.packages.xmlsafe import UnsafeXml, parse_xml

#: Record statuses that add a version to an archived dossier instead of being a duplicate.
NEW_VERSION_STATUSES = frozenset({"SUPPLEMENT", "REPLACEMENT"})


@dataclass(frozen=True)
class SipGlance:
    """What a SIP says about itself, before it is checked."""

    dossier_code: str
    receiving_agency_id: str
    receiving_agency_name: str
    record_status: str | None

    @property
    def adds_version(self) -> bool:
        """Whether the SIP asks for a new version of an archived dossier."""
        return self.record_status in NEW_VERSION_STATUSES


def glance_sip(path: Path, limits: PackageLimits) -> SipGlance | None:
    """The dossier code, receiving agency and record status of a SIP ZIP; ``None`` if unreadable."""
    try:
        with open_package(path, limits) as source:
            with source.open(TTHC_PATH) as stream:
                facts = read_tthc(parse_xml(stream, TTHC_PATH, limits.max_xml_bytes).getroot())
            with source.open(METS_FILE) as stream:
                mets = parse_xml(stream, METS_FILE, limits.max_xml_bytes).getroot()
    except (PackageInvalid, PackageReadError, UnsafeXml, TthcError, OSError):
        return None
    header = mets.find(f"{{{METS_NS}}}metsHdr")
    return SipGlance(
        dossier_code=facts.dossier_code,
        receiving_agency_id=facts.receiving_agency.id,
        receiving_agency_name=facts.receiving_agency.name,
        record_status=header.get("RECORDSTATUS") if header is not None else None,
    )
