"""Digital signatures inside a PDF (PAdES / CMS): who signed, when, what the signature covers,
whether it still verifies, and — only when trust anchors are configured — whether it is trusted.

The file is only read, never rewritten. For each signature field the inspection reports:

- **integrity**: ``intact`` when the signed byte range covers the whole file except the
  signature value and its digest still matches; ``covers-part`` when the signed bytes are
  unchanged but the file goes on past them (incremental updates, or appended bytes — see
  ``coverage`` and ``modifications``); ``modified`` when the signed bytes were changed;
  ``unknown`` when the signature could not be read.
- **verifies**: the CMS signature verifies over the byte range (digest and signature value).
- **trust**: ``not trust-validated`` without anchors (never "valid"); against configured anchors
  ``trusted`` or ``untrusted`` with the reason. Revocation is never checked here (no network).

A PDF without signatures gives ``[]``; a PDF that cannot be read gives one entry whose ``error``
says why (whether it holds signatures cannot be known).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from importlib import metadata
from pathlib import Path
from typing import Any

import pikepdf
from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.crypt import AuthStatus
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESIndeterminate
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.generic_cms import extract_self_reported_ts, validate_sig_integrity
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import ModificationInfo, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from archive_service.formats.signature_timestamps import (
    SignatureTimestamp,
    imprint_matches,
    signature_timestamp,
    token_integrity,
)
from archive_service.packages.premis import SignatureNote

REVOCATION_NOT_CHECKED = "not checked"
NO_ANCHORS = "chưa cấu hình chứng thư gốc tin cậy: không kiểm tra chuỗi tin cậy"
#: A signer certificate must allow one of these (Vietnamese CAs set both).
SIGNER_KEY_USAGE = frozenset({"non_repudiation", "digital_signature"})
_DOCUMENT_TIMESTAMP = "/DocTimeStamp"
_COVERAGE_NAMES: dict[SignatureCoverageLevel | None, str] = {
    SignatureCoverageLevel.ENTIRE_FILE: "entire file",
    SignatureCoverageLevel.ENTIRE_REVISION: "entire revision",
    SignatureCoverageLevel.CONTIGUOUS_BLOCK_FROM_START: "contiguous block from start",
    SignatureCoverageLevel.UNCLEAR: "unclear",
}
_SIGNATURE_METHODS = {
    "rsassa_pkcs1v15": "RSA",
    "rsassa_pss": "RSA-PSS",
    "ecdsa": "ECDSA",
    "dsa": "DSA",
    "ed25519": "Ed25519",
    "ed448": "Ed448",
}
_TRUST_REASONS: dict[Any, str] = {
    AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND: (
        "không dựng được chuỗi chứng thư tới chứng thư gốc tin cậy nào đã cấu hình"
    ),
    AdESIndeterminate.CHAIN_CONSTRAINTS_FAILURE: (
        "chứng thư trong chuỗi không đáp ứng ràng buộc (mục đích sử dụng khóa, "
        "ràng buộc cơ bản hoặc chính sách)"
    ),
    AdESIndeterminate.EXPIRED: "chứng thư đã hết hạn",
    AdESIndeterminate.OUT_OF_BOUNDS_NO_POE: "chứng thư hết hạn hoặc chưa có hiệu lực",
    AdESIndeterminate.OUT_OF_BOUNDS_NOT_REVOKED: "chứng thư hết hạn hoặc chưa có hiệu lực",
    AdESIndeterminate.NOT_YET_VALID: "chứng thư chưa có hiệu lực",
    AdESIndeterminate.REVOKED_NO_POE: "chứng thư của người ký đã bị thu hồi",
    AdESIndeterminate.REVOKED_CA_NO_POE: "chứng thư của tổ chức cấp đã bị thu hồi",
    AdESIndeterminate.CRYPTO_CONSTRAINTS_FAILURE: "thuật toán mật mã không còn được chấp nhận",
    AdESIndeterminate.CRYPTO_CONSTRAINTS_FAILURE_NO_POE: (
        "thuật toán mật mã không còn được chấp nhận"
    ),
}


class Integrity(StrEnum):
    """What the signed byte range says about the file as it is now."""

    INTACT = "intact"
    COVERS_PART = "covers-part"
    MODIFIED = "modified"
    UNKNOWN = "unknown"


class Trust(StrEnum):
    """Trust status; never "valid" when no trust anchors were configured."""

    NOT_VALIDATED = "not trust-validated"
    TRUSTED = "trusted"
    UNTRUSTED = "untrusted"


class SignatureKind(StrEnum):
    SIGNATURE = "signature"
    DOCUMENT_TIMESTAMP = "document timestamp"
    UNREADABLE = "unreadable"


class TrustAnchorError(ValueError):
    """A configured trust anchor file cannot be read as X.509 certificates."""


@dataclass(frozen=True)
class SignatureInfo:
    """One signature field of a PDF, as inspected (``error`` set when it could not be)."""

    file_name: str
    field_name: str | None
    kind: SignatureKind
    sub_filter: str | None = None
    signer_common_name: str | None = None
    signer_organization: str | None = None
    signer_subject: str | None = None
    signing_time: datetime | None = None
    signing_time_source: str | None = None
    integrity: Integrity = Integrity.UNKNOWN
    coverage: str | None = None
    modifications: str | None = None
    verifies: bool = False
    digest_algorithm: str | None = None
    signature_method: str | None = None
    chain_subjects: tuple[str, ...] = ()
    trust: Trust = Trust.NOT_VALIDATED
    trust_reason: str | None = None
    revocation: str = REVOCATION_NOT_CHECKED
    contents_sha256: str | None = None
    error: str | None = None
    timestamp: SignatureTimestamp | None = None  # the signature's own time-stamp token


@dataclass(frozen=True)
class PremisSignatureValues:
    """Values of one PREMIS ``signature`` (inside ``signatureInformation``), in schema order.

    ``signature_value`` is the SHA-256 of the CMS container, not the signature itself (the file
    keeps the signature; the record identifies it).
    """

    signature_encoding: str
    signer: str | None
    signature_method: str
    signature_value: str
    signature_validation_rules: str
    signature_properties: tuple[str, ...]


# --------------------------------------------------------------------------- trust anchors


def load_trust_anchors(paths: Iterable[Path]) -> list[asn1_x509.Certificate]:
    """Certificates from PEM (one or more per file) or DER files; unreadable files raise."""
    anchors: list[asn1_x509.Certificate] = []
    for path in paths:
        try:
            data = Path(path).read_bytes()
            found = (
                x509.load_pem_x509_certificates(data)
                if b"-----BEGIN" in data
                else [x509.load_der_x509_certificate(data)]
            )
        except (OSError, ValueError) as problem:
            raise TrustAnchorError(
                f"Không đọc được chứng thư gốc tin cậy '{path}': {problem}"
            ) from problem
        anchors.extend(_asn1(cert) for cert in found)
    return anchors


# --------------------------------------------------------------------------- inspection


def inspect_signatures(
    path: Path, *, trust_anchors: Sequence[Path] | None = None
) -> list[SignatureInfo]:
    """Every signature and document timestamp of the PDF at ``path``, oldest first; fields
    whose signature cannot be read come last, each with its ``error``.

    ``trust_anchors``: certificate files; ``None`` or empty means no trust validation.
    """
    anchors = load_trust_anchors(trust_anchors) if trust_anchors else []
    if _plainly_unsigned(path):
        return []
    name = Path(path).name
    with open(path, "rb") as stream:
        try:
            fields = _signature_fields(stream)
        except Exception as problem:  # pyhanko raises many types for damaged files
            return [_unreadable(name, problem)]
        readable: list[EmbeddedPdfSignature] = []
        broken: list[SignatureInfo] = []
        for field_name, embedded in fields:
            if isinstance(embedded, EmbeddedPdfSignature):
                readable.append(embedded)
            else:
                broken.append(_field_error(name, field_name, None, embedded))
        readable.sort(key=lambda signature: signature.signed_revision)
        return [_inspect(name, signature, anchors) for signature in readable] + broken


def _plainly_unsigned(path: Path) -> bool:
    """Whether qpdf reads the file without repairs and its catalog has no ``AcroForm``.

    A PDF signature, document timestamps included, lives in a signature field of the
    interactive form (ISO 32000-1 §12.8): such a file has none, and pyHanko's slower
    pure-Python parse is not needed to say so. Any other file goes to pyHanko, which judges
    damaged and password-protected files itself."""
    try:
        with pikepdf.open(path) as pdf:
            has_form = "/AcroForm" in pdf.Root
            return not has_form and not pdf.get_warnings()
    except Exception:  # pikepdf raises many types for damaged files; pyHanko will say why
        return False


def _signature_fields(stream: Any) -> list[tuple[str, EmbeddedPdfSignature | Exception]]:
    """Each filled signature field: its parsed signature, or why it cannot be parsed."""
    reader = PdfFileReader(stream, strict=False)
    if reader.encrypted and reader.decrypt("").status is AuthStatus.FAILED:
        raise ValueError("tệp được mã hóa bằng mật khẩu mở tệp")
    found: list[tuple[str, EmbeddedPdfSignature | Exception]] = []
    for field_name, _value, field in enumerate_sig_fields(reader, filled_status=True):
        try:
            found.append((field_name, EmbeddedPdfSignature(reader, field, field_name)))
        except Exception as problem:  # a /Contents that is no CMS, a missing /ByteRange …
            found.append((field_name, problem))
    return found


def _unreadable(name: str, problem: BaseException) -> SignatureInfo:
    return SignatureInfo(
        file_name=name,
        field_name=None,
        kind=SignatureKind.UNREADABLE,
        error=f"Không đọc được cấu trúc PDF của tệp '{name}' để tìm chữ ký số: "
        f"{_describe(problem)}",
    )


def _field_error(
    name: str, field_name: str, embedded: EmbeddedPdfSignature | None, problem: BaseException
) -> SignatureInfo:
    return SignatureInfo(
        file_name=name,
        field_name=field_name,
        kind=_kind(embedded) if embedded is not None else SignatureKind.SIGNATURE,
        sub_filter=_sub_filter(embedded) if embedded is not None else None,
        error=f"Không kiểm tra được chữ ký '{field_name}' của tệp '{name}': {_describe(problem)}",
    )


def _kind(embedded: EmbeddedPdfSignature) -> SignatureKind:
    if embedded.sig_object_type == _DOCUMENT_TIMESTAMP:
        return SignatureKind.DOCUMENT_TIMESTAMP
    return SignatureKind.SIGNATURE


def _describe(problem: BaseException) -> str:
    return str(problem).strip() or type(problem).__name__


def _inspect(
    name: str, embedded: EmbeddedPdfSignature, anchors: list[asn1_x509.Certificate]
) -> SignatureInfo:
    field_name = str(embedded.field_name)
    try:
        return _inspect_readable(name, field_name, _kind(embedded), embedded, anchors)
    except Exception as problem:  # a CMS without signer certificate, an odd SubFilter …
        return _field_error(name, field_name, embedded, problem)


def _inspect_readable(
    name: str,
    field_name: str,
    kind: SignatureKind,
    embedded: EmbeddedPdfSignature,
    anchors: list[asn1_x509.Certificate],
) -> SignatureInfo:
    signer = _certificate(embedded.signer_cert)
    signing_time, time_source = _signing_time(embedded, kind)
    checked = _validate_trust(embedded, kind, anchors) if anchors else _verify(embedded, kind)
    modifications = ModificationInfo(
        coverage=checked.coverage, diff_result=checked.diff_result
    ).modification_level
    return SignatureInfo(
        file_name=name,
        field_name=field_name,
        kind=kind,
        sub_filter=_sub_filter(embedded),
        signer_common_name=_attribute(signer, NameOID.COMMON_NAME),
        signer_organization=_attribute(signer, NameOID.ORGANIZATION_NAME),
        signer_subject=signer.subject.rfc4514_string(),
        signing_time=signing_time,
        signing_time_source=time_source,
        integrity=_integrity(checked.digest_ok, checked.coverage),
        coverage=_COVERAGE_NAMES.get(checked.coverage),
        modifications=modifications.name.lower() if modifications is not None else None,
        verifies=checked.digest_ok and checked.signature_ok,
        digest_algorithm=embedded.md_algorithm,
        signature_method=_signature_method(embedded),
        chain_subjects=_chain_subjects(embedded, checked.validation_path),
        trust=checked.trust,
        trust_reason=checked.trust_reason,
        contents_sha256=hashlib.sha256(embedded.pkcs7_content).hexdigest(),
        timestamp=_timestamp(embedded, kind, checked),
    )


def _timestamp(
    embedded: EmbeddedPdfSignature, kind: SignatureKind, checked: _Checked
) -> SignatureTimestamp | None:
    """The signature's own time-stamp token, checked, with its trust when anchors were given."""
    stamp = signature_timestamp(embedded.signer_info) if kind is SignatureKind.SIGNATURE else None
    if stamp is None or checked.timestamp_trusted is None:
        return stamp
    return replace(stamp, trusted=checked.timestamp_trusted)


def _integrity(digest_ok: bool, coverage: SignatureCoverageLevel | None) -> Integrity:
    if not digest_ok:
        return Integrity.MODIFIED
    if coverage == SignatureCoverageLevel.ENTIRE_FILE:
        return Integrity.INTACT
    return Integrity.COVERS_PART


@dataclass(frozen=True)
class _Checked:
    """What the checks of one signature found (pyHanko's types for coverage, diff, path)."""

    digest_ok: bool  # the signed digest matches the signed byte range
    signature_ok: bool  # the signature value verifies with the signer's key
    coverage: SignatureCoverageLevel | None
    diff_result: Any
    trust: Trust
    trust_reason: str | None
    validation_path: Any = None
    timestamp_trusted: bool | None = None  # the signature's time-stamp token, against anchors


def _verify(embedded: EmbeddedPdfSignature, kind: SignatureKind) -> _Checked:
    """Coverage and cryptographic verification only — no trust validation at all."""
    embedded.compute_integrity_info()
    summary = embedded.summarise_integrity_info()
    signer_info, certificate = embedded.signer_info, embedded.signer_cert
    if kind is SignatureKind.SIGNATURE:
        digest_ok, signature_ok = validate_sig_integrity(
            signer_info, certificate, "data", embedded.compute_digest()
        )
    else:  # a timestamp token signs its TSTInfo, whose imprint is the byte range digest
        token = embedded.signed_data["encap_content_info"]["content"]
        token_ok, signature_ok = token_integrity(signer_info, certificate, token)
        digest_ok = token_ok and imprint_matches(token.parsed, embedded.compute_digest)
    return _Checked(
        digest_ok=digest_ok,
        signature_ok=signature_ok,
        coverage=summary["coverage"],
        diff_result=summary["diff_result"],
        trust=Trust.NOT_VALIDATED,
        trust_reason=NO_ANCHORS,
    )


def _validate_trust(
    embedded: EmbeddedPdfSignature, kind: SignatureKind, anchors: list[asn1_x509.Certificate]
) -> _Checked:
    """pyHanko's full validation against ``anchors``; no fetching, revocation not required."""
    context = ValidationContext(
        trust_roots=anchors, allow_fetching=False, revocation_mode="soft-fail"
    )
    status: Any
    if kind is SignatureKind.SIGNATURE:
        status = validate_pdf_signature(
            embedded,
            signer_validation_context=context,
            key_usage_settings=KeyUsageConstraints(key_usage=set(SIGNER_KEY_USAGE)),
        )
    else:
        status = validate_pdf_timestamp(embedded, validation_context=context)
    return _Checked(
        digest_ok=status.intact,
        signature_ok=status.valid,
        coverage=status.coverage,
        diff_result=status.diff_result,
        trust=Trust.TRUSTED if status.trusted else Trust.UNTRUSTED,
        trust_reason=None if status.trusted else _trust_reason(status),
        validation_path=status.validation_path,
        timestamp_trusted=_timestamp_trusted(status),
    )


def _timestamp_trusted(status: Any) -> bool | None:
    """Whether pyHanko found the signature's time-stamp token trusted (None: it has none)."""
    validity = getattr(status, "timestamp_validity", None)
    return None if validity is None else bool(validity.trusted)


def _trust_reason(status: Any) -> str:
    if not (status.intact and status.valid):
        return "chữ ký không khớp với nội dung nên không xét chuỗi tin cậy"
    indication = status.trust_problem_indic
    if indication is None:
        return "không có chuỗi chứng thư hợp lệ tới chứng thư gốc tin cậy"
    reason = _TRUST_REASONS.get(indication, "kiểm tra chuỗi chứng thư không thành công")
    horizon = status.error_time_horizon
    suffix = f" (từ {horizon.isoformat()})" if horizon else ""
    return f"{reason}{suffix} [{indication.name}]"


# --------------------------------------------------------------------------- facts


def _asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(Encoding.DER))


def _certificate(certificate: asn1_x509.Certificate) -> x509.Certificate:
    return x509.load_der_x509_certificate(certificate.dump())


def _attribute(certificate: x509.Certificate, oid: x509.ObjectIdentifier) -> str | None:
    values = certificate.subject.get_attributes_for_oid(oid)
    return str(values[0].value) if values else None


def _sub_filter(embedded: EmbeddedPdfSignature) -> str | None:
    value = embedded.sig_object.get("/SubFilter")
    return str(value).lstrip("/") if value is not None else None


def _signing_time(
    embedded: EmbeddedPdfSignature, kind: SignatureKind
) -> tuple[datetime | None, str | None]:
    """Claimed signing time and where it was read; a document timestamp's time is the TSA's."""
    if kind is SignatureKind.DOCUMENT_TIMESTAMP:
        token = embedded.signed_data["encap_content_info"]["content"].parsed
        return token["gen_time"].native, "timestamp token"
    claimed = extract_self_reported_ts(embedded.signer_info)
    if claimed is not None:
        return claimed, "signed attributes"
    modified = embedded.sig_object.get("/M")
    if modified is None:
        return None, None
    return generic.parse_pdf_date(str(modified), strict=False), "PDF /M"


def _signature_method(embedded: EmbeddedPdfSignature) -> str:
    """``RSA-SHA256`` style, as PREMIS examples name methods."""
    algorithm: cms.SignedDigestAlgorithm = embedded.signer_info["signature_algorithm"]
    mechanism = algorithm.signature_algo
    return f"{_SIGNATURE_METHODS.get(mechanism, mechanism)}-{embedded.md_algorithm.upper()}"


def _chain_subjects(embedded: EmbeddedPdfSignature, validation_path: Any) -> tuple[str, ...]:
    """Subjects from the signer up: the validated path when there is one, else the chain
    that the certificates embedded in the signature form."""
    if validation_path is not None:
        certificates = list(reversed(list(validation_path.iter_certs(include_root=True))))
    else:
        certificates = _embedded_chain(embedded.signer_cert, embedded.other_embedded_certs)
    return tuple(_certificate(cert).subject.rfc4514_string() for cert in certificates)


def _embedded_chain(
    signer: asn1_x509.Certificate, others: list[asn1_x509.Certificate]
) -> list[asn1_x509.Certificate]:
    chain = [signer]
    remaining = list(others)
    while remaining and chain[-1].subject != chain[-1].issuer:
        issuer = next((cert for cert in remaining if cert.subject == chain[-1].issuer), None)
        if issuer is None:
            break
        chain.append(issuer)
        remaining.remove(issuer)
    return chain


# --------------------------------------------------------------------------- PREMIS


def _tool_version() -> str:
    try:
        return metadata.version("pyhanko")
    except metadata.PackageNotFoundError:
        return "?"


def to_premis(signature: SignatureInfo) -> PremisSignatureValues:
    """The PREMIS ``signature`` values of one inspected signature."""
    rules = (
        f"{signature.sub_filter or 'không rõ SubFilter'}: ISO 32000-1 §12.8 (chữ ký PDF), "
        f"ETSI EN 319 142-1 (PAdES); kiểm tra bằng pyHanko {_tool_version()}"
    )
    time = signature.signing_time.isoformat() if signature.signing_time else "không có"
    properties = [
        f"field: {signature.field_name}",
        f"kind: {signature.kind}",
        f"signingTime: {time} (claimed, {signature.signing_time_source or 'no source'})",
        f"integrity: {signature.integrity}",
        f"coverage: {signature.coverage or 'unknown'}",
        f"verifies: {'yes' if signature.verifies else 'no'}",
        f"trust: {signature.trust}"
        + (f" — {signature.trust_reason}" if signature.trust_reason else ""),
        f"revocation: {signature.revocation}",
    ]
    if signature.timestamp is not None:
        stamp = signature.timestamp
        properties.append(
            f"signatureTimestamp: {stamp.time.isoformat()} (RFC 3161 token of "
            f"{stamp.authority or 'unknown TSA'}; verifies: {'yes' if stamp.verifies else 'no'}; "
            f"{_tsa_trust(stamp)})"
        )
    if signature.modifications:
        properties.append(f"modificationsAfterSigning: {signature.modifications}")
    properties.extend(
        f"certificate[{index}]: {subject}" for index, subject in enumerate(signature.chain_subjects)
    )
    if signature.error:
        properties.append(f"error: {signature.error}")
    return PremisSignatureValues(
        signature_encoding="SHA-256 (hex) of the CMS SignedData in /Contents",
        signer=signature.signer_subject,
        signature_method=signature.signature_method or "unknown",
        signature_value=signature.contents_sha256 or "unavailable",
        signature_validation_rules=rules,
        signature_properties=tuple(properties),
    )


def _tsa_trust(stamp: SignatureTimestamp) -> str:
    if stamp.trusted is None:
        return "TSA not trust-validated"
    return "TSA trusted" if stamp.trusted else "TSA not trusted"


def signature_note(signatures: Sequence[SignatureInfo]) -> SignatureNote | None:
    """The summary the current PREMIS writer takes (``SignatureNote``): the first signer and
    one line per signature, in Vietnamese. ``None`` for an unsigned file."""
    if not signatures:
        return None
    first = signatures[0]
    signer = first.signer_common_name
    if signer and first.signer_organization:
        signer = f"{signer} ({first.signer_organization})"
    return SignatureNote(signer=signer, note="; ".join(map(_summary_line, signatures)))


def _summary_line(signature: SignatureInfo) -> str:
    if signature.error:
        return signature.error
    time = signature.signing_time.isoformat() if signature.signing_time else "không rõ"
    stamp = signature.timestamp
    stamped = (
        f", dấu thời gian của TSA {stamp.time.isoformat()} "
        f"({'xác minh đạt' if stamp.verifies else 'xác minh không đạt'})"
        if stamp is not None
        else ""
    )
    return (
        f"{signature.kind} '{signature.field_name}' của {signature.signer_common_name}, "
        f"thời điểm ký (tự khai) {time}{stamped}, toàn vẹn: {signature.integrity}, "
        f"xác minh mật mã: {'đạt' if signature.verifies else 'không đạt'}, "
        f"tin cậy: {signature.trust}, thu hồi: {signature.revocation}"
    )
