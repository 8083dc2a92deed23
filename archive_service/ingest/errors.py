"""Why the deposit service refuses a request. The HTTP layer maps each to a status and code."""

from __future__ import annotations


class DepositError(Exception):
    """A request the deposit service refuses; ``message`` is for people (Vietnamese)."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class DepositNotFound(DepositError):
    """No deposit has this id, or the caller may not see it (404: existence is not revealed)."""

    def __init__(self, deposit_id: str) -> None:
        self.deposit_id = deposit_id
        super().__init__(f"Không có gói nộp lưu mã {deposit_id}")


class DepositForbidden(DepositError):
    """The caller's role may not deposit (403)."""


class AgencyMismatch(DepositError):
    """The SIP belongs to another agency than the depositor's key (403)."""

    def __init__(self, sip_agency: str, principal_agency: str | None) -> None:
        self.sip_agency = sip_agency
        self.principal_agency = principal_agency
        super().__init__(
            f"Gói nộp lưu thuộc cơ quan {sip_agency} (TTHC.xml, receivingAgency/@id), "
            f"khóa API chỉ được nộp cho cơ quan {principal_agency or '(không có)'}"
        )


class DuplicateDossier(DepositError):
    """The dossier code is already archived and the SIP is not a supplement or replacement (409)."""

    def __init__(self, dossier_code: str) -> None:
        self.dossier_code = dossier_code
        super().__init__(
            f"Hồ sơ mã {dossier_code} đã được lưu trữ; muốn bổ sung hoặc thay thế, "
            "gói nộp lưu phải có RECORDSTATUS là SUPPLEMENT hoặc REPLACEMENT (METS.xml, metsHdr)"
        )


class IdempotencyKeyReused(DepositError):
    """The Idempotency-Key was already used by this agency for a different SIP (422)."""

    def __init__(self, idempotency_key: str, deposit_id: str) -> None:
        self.idempotency_key = idempotency_key
        self.deposit_id = deposit_id
        super().__init__(
            f"Khóa Idempotency-Key '{idempotency_key}' đã dùng cho gói nộp lưu {deposit_id} "
            "có nội dung khác (SHA-256 khác); hãy dùng khóa mới cho gói mới"
        )
