"""TTHC.xml of a SIP: present, schema-valid, readable, and consistent with the package.

The dossier code has the national shape ``<unit>-<YYMMDD>-<NNNN>`` with a real day; each result
code is ``<dossier code>-KQ<n>`` and names a document of the package; the dossier was finished
after it was received.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from archive_service.packages.models import TthcFacts
from archive_service.packages.problems import Problem, ProblemCode
from archive_service.packages.schemas import SchemaName, validate
from archive_service.packages.sip_contents import SipCheck
from archive_service.packages.sip_documents import FoundDocuments
from archive_service.packages.tthc import TTHC_PATH, TthcError, parse_dossier_code, read_tthc


class TthcChecks(SipCheck):
    """Reads TTHC.xml and checks its facts against the documents found."""

    def tthc(self, documents: FoundDocuments | None) -> TthcFacts | None:
        """The TTHC facts, checked; ``None`` when TTHC.xml is missing or cannot be read."""
        path = self.contents.find(TTHC_PATH)
        if path is None:
            self.add(
                ProblemCode.TTHC_MISSING,
                TTHC_PATH,
                f"Thiếu tệp {TTHC_PATH}: mọi hồ sơ nộp lưu vào kho lưu trữ này đều phải kèm "
                "TTHC.xml (mã hồ sơ, thủ tục, quá trình xử lý, kết quả)",
            )
            return None
        root = self.contents.xml(path, SchemaName.TTHC)
        if root is None:
            return None
        invalid = [
            Problem(ProblemCode.TTHC_INVALID, p.path, p.message, p.field)
            for p in validate(root, SchemaName.TTHC, path)
        ]
        self.problems.extend(invalid)
        try:
            facts = read_tthc(root)
        except TthcError as failure:
            if not invalid:
                self.add(ProblemCode.TTHC_INVALID, path, failure.message)
            return None
        self._check_tthc(facts, path, documents)
        return facts

    def _check_tthc(self, facts: TthcFacts, path: str, documents: FoundDocuments | None) -> None:
        code = facts.dossier_code
        if not _valid_dossier_code(code):
            self.add(
                ProblemCode.TTHC_DOSSIER_CODE,
                path,
                f"{path}: mã hồ sơ '{code}' không có dạng <mã đơn vị>-<YYMMDD>-<NNNN> "
                "(ví dụ 000.00.19.H56-240610-0001)",
                "dossierCode",
            )
        result_code = re.compile(re.escape(code) + r"-KQ[1-9]\d*")
        doc_ids = documents.doc_ids() if documents and documents.complete else None
        for result in facts.results:
            if not result_code.fullmatch(result.code):
                self.add(
                    ProblemCode.TTHC_RESULT_CODE,
                    path,
                    f"{path}: mã kết quả '{result.code}' phải có dạng {code}-KQ<số thứ tự>",
                    "result/@code",
                )
            if doc_ids is not None and result.doc_id not in doc_ids:
                self.add(
                    ProblemCode.TTHC_RESULT_DOC_MISSING,
                    path,
                    f"{path}: kết quả '{result.code}' trỏ tới docId '{result.doc_id}' không có "
                    "trong gói",
                    "result/@docId",
                )
        if _comparable(facts.received, facts.finished) and facts.received > facts.finished:
            self.add(
                ProblemCode.TTHC_DATES,
                path,
                f"{path}: thời điểm hoàn thành {facts.finished.isoformat()} trước thời điểm "
                f"tiếp nhận {facts.received.isoformat()}",
                "finished",
            )


def _valid_dossier_code(code: str) -> bool:
    parts = parse_dossier_code(code)
    if parts is None:
        return False
    try:
        date(2000 + int(parts.day[:2]), int(parts.day[2:4]), int(parts.day[4:]))
    except ValueError:
        return False
    return True


def _comparable(first: datetime, second: datetime) -> bool:
    return (first.tzinfo is None) == (second.tzinfo is None)
