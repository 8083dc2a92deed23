"""The METS files of a SIP: the root METS and the representation METS files it points at.

Each must be schema-valid and have a CSIP structMap; the root METS must also identify the
package (``OBJID`` = root folder, package type SIP, record status, creator and fonds code).
"""

from __future__ import annotations

from datetime import datetime

from archive_service.packages import codes
from archive_service.packages.mets import METS_FILE
from archive_service.packages.mets_reader import MetsFile, read_mets
from archive_service.packages.problems import ProblemCode
from archive_service.packages.schemas import SchemaName, validate
from archive_service.packages.sip_contents import SipCheck


def iso_datetime(text: str | None) -> datetime | None:
    """The date-time ``text`` writes in ISO 8601, or ``None`` when it is missing or malformed."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


class MetsChecks(SipCheck):
    """Reads and checks the METS files of a SIP."""

    def root_mets(self) -> MetsFile | None:
        """The root METS, read and checked; ``None`` when it is missing or unreadable."""
        if self.contents.find(METS_FILE) is None:
            self.add(
                ProblemCode.METS_MISSING,
                METS_FILE,
                f"Thiếu tệp {METS_FILE} ở thư mục gốc '{self.contents.root_name}' của gói",
            )
            return None
        mets = self._mets(METS_FILE)
        if mets is not None:
            self._check_sip_header(mets)
        return mets

    def representations(self, root_mets: MetsFile | None) -> list[MetsFile] | None:
        """The representation METS files the root METS points at; ``None`` if any is unusable."""
        if root_mets is None:
            return None
        found: list[MetsFile] = []
        usable = bool(root_mets.pointers)
        declared = {reference.path for reference in root_mets.references()}
        for pointer in root_mets.pointers:
            path = self.contents.find(pointer) if pointer else None
            if pointer and path is None and pointer not in declared:
                self.add(
                    ProblemCode.SIP_FILE_MISSING,
                    pointer,
                    f"Không có tệp '{pointer}' mà mptr trong {root_mets.path} trỏ tới",
                    "mptr",
                )
            mets = self._mets(path) if path else None
            if mets is None:
                usable = False
            else:
                found.append(mets)
        return found if usable else None

    def _mets(self, path: str) -> MetsFile | None:
        root = self.contents.xml(path, SchemaName.METS)
        if root is None:
            return None
        self.problems.extend(validate(root, SchemaName.METS, path))
        mets, problems = read_mets(root, path)
        self.problems.extend(problems)
        if not mets.has_csip_struct_map:
            self.add(
                ProblemCode.METS_STRUCTMAP,
                path,
                f'{path}: thiếu structMap LABEL="CSIP" TYPE="PHYSICAL"',
                "structMap",
            )
        return mets

    def _check_sip_header(self, mets: MetsFile) -> None:
        path = mets.path
        root_name = self.contents.root_name
        if mets.objid != root_name:
            self.add(
                ProblemCode.METS_OBJID_MISMATCH,
                path,
                f"{path}: OBJID '{mets.objid or ''}' phải trùng tên thư mục gốc '{root_name}'",
                "OBJID",
            )
        if mets.package_type != "SIP":
            self.add(
                ProblemCode.METS_PACKAGE_TYPE,
                path,
                f"{path}: csip:OAISPACKAGETYPE phải là 'SIP', gặp '{mets.package_type or ''}'",
                "OAISPACKAGETYPE",
            )
        if mets.record_status not in codes.RECORD_STATUS:
            self.add(
                ProblemCode.METS_RECORD_STATUS,
                path,
                f"{path}: RECORDSTATUS '{mets.record_status or ''}' không thuộc "
                f"{', '.join(codes.RECORD_STATUS)}",
                "RECORDSTATUS",
            )
        if not mets.creator_name:
            self.add(
                ProblemCode.METS_HEADER,
                path,
                f'{path}: metsHdr thiếu agent ROLE="CREATOR" có tên phần mềm tạo gói',
                "agent",
            )
        if not mets.creator_note:
            self.add(
                ProblemCode.METS_HEADER,
                path,
                f'{path}: agent CREATOR thiếu note csip:NOTETYPE="IDENTIFICATIONCODE" '
                "(mã phông lưu trữ)",
                "agent/note",
            )
        if iso_datetime(mets.created) is None:
            self.add(
                ProblemCode.METS_HEADER,
                path,
                f"{path}: CREATEDATE '{mets.created or ''}' không phải thời điểm ISO 8601",
                "CREATEDATE",
            )
        if not any(pointer for pointer in mets.pointers):
            self.add(
                ProblemCode.METS_STRUCTMAP,
                path,
                f"{path}: structMap thiếu mptr trỏ tới METS của representations/rep1",
                "mptr",
            )
