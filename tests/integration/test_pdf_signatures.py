"""PDF signature inspection on PDFs signed here with a throw-away PKI: integrity of the signed
byte range, cryptographic verification, trust only against configured anchors (never "valid"
without them), damaged files reported instead of crashing, and the PREMIS values; and the
PDF/A-2b rendition of a signed PDF: an unsigned copy, while the original keeps its signature."""

from __future__ import annotations

import hashlib
import re
import socket
from datetime import UTC, datetime
from pathlib import Path

import pikepdf
import pytest
from asn1crypto import cms
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.reader import PdfFileReader

from archive_service.formats import signatures_pdf
from archive_service.formats.convert_pdf import SIGNATURE_NOT_CARRIED
from archive_service.formats.identify import identify
from archive_service.formats.pdfa import validate_pdfa
from archive_service.formats.rendition import (
    ConversionPath,
    RenditionResult,
    RenditionStatus,
    RenditionTools,
    make_rendition,
)
from archive_service.formats.signature_timestamps import signature_timestamp
from archive_service.formats.signatures_pdf import (
    Integrity,
    SignatureInfo,
    SignatureKind,
    Trust,
    TrustAnchorError,
    inspect_signatures,
    signature_note,
    to_premis,
)
from archive_service.formats.verify_rendition import page_texts
from archive_service.streams import copy_with_sha256
from tests import formats_fixtures as fx
from tests import signed_pdf_fixtures as sf

#: The lossless pikepdf path only: no external converter takes part.
PIKEPDF_ONLY = RenditionTools(libreoffice=None, ghostscript=None)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("signatures")


@pytest.fixture(scope="module")
def pki(workdir: Path) -> sf.TestPki:
    return sf.make_pki(workdir)


@pytest.fixture(scope="module")
def signed(workdir: Path, pki: sf.TestPki) -> Path:
    return sf.signed_vietnamese_pdf(workdir, pki)


def only(signatures: list[SignatureInfo]) -> SignatureInfo:
    assert len(signatures) == 1, signatures
    return signatures[0]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_signed_pdf_is_intact_verifies_and_is_not_trust_validated(
    signed: Path, pki: sf.TestPki
) -> None:
    before = datetime.now(UTC)
    info = only(inspect_signatures(signed))

    assert info.error is None
    assert info.kind is SignatureKind.SIGNATURE
    assert info.field_name == sf.FIELD_NAME
    assert info.sub_filter == "ETSI.CAdES.detached"
    assert (info.signer_common_name, info.signer_organization) == (
        sf.SIGNER_NAME,
        sf.SIGNER_ORGANIZATION,
    )
    assert info.integrity is Integrity.INTACT and info.coverage == "entire file"
    assert info.verifies is True
    assert info.trust is Trust.NOT_VALIDATED and "chưa cấu hình" in (info.trust_reason or "")
    assert info.revocation == "not checked"
    assert info.chain_subjects == (
        pki.signer.certificate.subject.rfc4514_string(),
        pki.ca.certificate.subject.rfc4514_string(),
    )
    # PAdES forbids the signingTime attribute: the claimed time is the dictionary's /M.
    assert info.signing_time_source == "PDF /M"
    assert info.signing_time is not None and info.signing_time <= before
    assert info.signature_method == "RSA-SHA256" and info.digest_algorithm == "sha256"


def test_pkcs7_signature_takes_its_time_from_the_signed_attributes(
    workdir: Path, pki: sf.TestPki
) -> None:
    signed = sf.signed_vietnamese_pdf(workdir, pki, pades=False)

    info = only(inspect_signatures(signed))

    assert info.sub_filter == "adbe.pkcs7.detached"
    assert info.signing_time_source == "signed attributes" and info.signing_time is not None
    assert info.integrity is Integrity.INTACT and info.verifies


def test_signer_chaining_to_a_configured_anchor_is_trusted(signed: Path, pki: sf.TestPki) -> None:
    info = only(inspect_signatures(signed, trust_anchors=[pki.ca_file]))

    assert info.trust is Trust.TRUSTED and info.trust_reason is None
    assert info.integrity is Integrity.INTACT and info.verifies
    assert info.revocation == "not checked"
    assert info.chain_subjects[-1] == pki.ca.certificate.subject.rfc4514_string()


def test_trust_validation_never_reaches_for_the_network(
    signed: Path, pki: sf.TestPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The signer certificate names CRL and OCSP locations; none may be contacted."""
    attempts: list[object] = []

    def refuse(*arguments: object, **_: object) -> None:
        attempts.append(arguments)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)

    info = only(inspect_signatures(signed, trust_anchors=[pki.ca_file]))

    assert attempts == []
    assert info.trust is Trust.TRUSTED and info.revocation == "not checked"


def test_anchor_given_as_der_file_works_too(signed: Path, pki: sf.TestPki, tmp_path: Path) -> None:
    der = tmp_path / "ca.cer"
    der.write_bytes(pki.ca.certificate.public_bytes(serialization.Encoding.DER))

    assert only(inspect_signatures(signed, trust_anchors=[der])).trust is Trust.TRUSTED


def test_signer_from_another_ca_is_untrusted_with_the_reason(signed: Path, pki: sf.TestPki) -> None:
    info = only(inspect_signatures(signed, trust_anchors=[pki.other_ca_file]))

    assert info.trust is Trust.UNTRUSTED
    assert "không dựng được chuỗi chứng thư" in (info.trust_reason or "")
    assert info.integrity is Integrity.INTACT and info.verifies  # trust is a separate verdict


def test_unreadable_trust_anchor_is_a_configuration_error(signed: Path, tmp_path: Path) -> None:
    broken = tmp_path / "khong-phai-chung-thu.pem"
    broken.write_text("-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n")

    with pytest.raises(TrustAnchorError, match=r"khong-phai-chung-thu\.pem"):
        inspect_signatures(signed, trust_anchors=[broken])


def test_incremental_update_after_signing_covers_part(
    signed: Path, workdir: Path, pki: sf.TestPki
) -> None:
    updated = sf.incremental_update(signed, workdir / "cap-nhat-sau-ky.pdf")

    info = only(inspect_signatures(updated, trust_anchors=[pki.ca_file]))

    assert info.integrity is Integrity.COVERS_PART
    assert info.coverage == "entire revision" and info.modifications == "other"
    assert info.verifies  # the signed revision itself is unchanged


def test_bytes_appended_after_signing_cover_part(signed: Path, workdir: Path) -> None:
    appended = sf.append_bytes(signed, workdir / "them-byte.pdf")

    info = only(inspect_signatures(appended))

    assert info.integrity is Integrity.COVERS_PART and info.verifies


def test_byte_flipped_inside_the_signed_range_fails_integrity(
    signed: Path, workdir: Path, pki: sf.TestPki
) -> None:
    flipped = sf.flip_signed_byte(signed, workdir / "sua-mot-byte.pdf")

    plain = only(inspect_signatures(flipped))
    anchored = only(inspect_signatures(flipped, trust_anchors=[pki.ca_file]))

    for info in (plain, anchored):
        assert info.integrity is Integrity.MODIFIED and not info.verifies
    assert plain.trust is Trust.NOT_VALIDATED
    assert anchored.trust is Trust.UNTRUSTED and "không khớp" in (anchored.trust_reason or "")


def test_second_signature_leaves_the_first_covering_its_revision(
    signed: Path, workdir: Path, pki: sf.TestPki
) -> None:
    twice = sf.sign_pdf(signed, workdir / "hai-chu-ky.pdf", pki, field_name="ChuKyVanThu")

    first, second = inspect_signatures(twice, trust_anchors=[pki.ca_file])

    assert (first.field_name, second.field_name) == (sf.FIELD_NAME, "ChuKyVanThu")
    assert first.integrity is Integrity.COVERS_PART and first.modifications == "form_filling"
    assert second.integrity is Integrity.INTACT
    assert first.verifies and second.verifies
    assert first.trust is second.trust is Trust.TRUSTED


def test_document_timestamp_is_inspected_with_the_tsa_time(
    signed: Path, workdir: Path, pki: sf.TestPki
) -> None:
    stamped = sf.timestamp_pdf(signed, workdir / "dau-thoi-gian.pdf", pki)

    signature, timestamp = inspect_signatures(stamped)
    _, anchored = inspect_signatures(stamped, trust_anchors=[pki.ca_file])

    assert signature.integrity is Integrity.COVERS_PART and signature.modifications == "lta_updates"
    assert timestamp.kind is SignatureKind.DOCUMENT_TIMESTAMP
    assert timestamp.sub_filter == "ETSI.RFC3161"
    assert timestamp.signer_common_name == sf.TSA_NAME
    assert timestamp.signing_time_source == "timestamp token"
    assert timestamp.integrity is Integrity.INTACT and timestamp.verifies
    assert timestamp.trust is Trust.NOT_VALIDATED
    assert anchored.trust is Trust.TRUSTED


def test_a_signature_time_stamp_token_is_checked_and_recorded(
    workdir: Path, pki: sf.TestPki
) -> None:
    source = fx.vietnamese_pdf(workdir / "truoc-khi-ky-t.pdf")
    stamped = sf.sign_pdf(source, workdir / "ky-co-dau-tg.pdf", pki, timestamped=True)
    plain = sf.sign_pdf(source, workdir / "ky-khong-dau-tg.pdf", pki)

    signature = only(inspect_signatures(stamped))
    assert signature.verifies and signature.timestamp is not None
    assert signature.timestamp.verifies
    assert sf.TSA_NAME in (signature.timestamp.authority or "")
    assert abs((signature.timestamp.time - datetime.now(UTC)).total_seconds()) < 3600
    assert signature.signing_time_source == "PDF /M"  # the claimed time stays the claim
    stamp_line = next(
        p for p in to_premis(signature).signature_properties if p.startswith("signatureTimestamp")
    )
    assert "verifies: yes" in stamp_line and "not trust-validated" in stamp_line
    note = signature_note([signature])
    assert note is not None and "dấu thời gian của TSA" in note.note
    assert signature.timestamp.trusted is None  # no anchors: the TSA is not judged
    anchored = only(inspect_signatures(stamped, trust_anchors=[pki.ca_file]))
    assert anchored.timestamp is not None and anchored.timestamp.trusted is True
    assert any(
        p.startswith("signatureTimestamp") and "TSA trusted" in p
        for p in to_premis(anchored).signature_properties
    )
    stranger = only(inspect_signatures(stamped, trust_anchors=[pki.other_ca_file]))
    assert stranger.timestamp is not None and stranger.timestamp.trusted is False
    unstamped = only(inspect_signatures(plain))
    assert unstamped.timestamp is None
    assert not any(
        p.startswith("signatureTimestamp") for p in to_premis(unstamped).signature_properties
    )


def test_a_time_stamp_token_over_other_bytes_does_not_verify(
    workdir: Path, pki: sf.TestPki
) -> None:
    source = fx.vietnamese_pdf(workdir / "truoc-khi-ky-t2.pdf")
    stamped = sf.sign_pdf(source, workdir / "ky-co-dau-tg-2.pdf", pki, timestamped=True)
    with stamped.open("rb") as stream:
        (embedded,) = PdfFileReader(stream).embedded_signatures
        signer_info = cms.SignerInfo.load(embedded.signer_info.dump())
    assert (checked := signature_timestamp(signer_info)) is not None and checked.verifies
    value = bytearray(signer_info["signature"].native)
    value[0] ^= 0xFF  # the token now stamps a signature value that is not this one
    signer_info["signature"] = bytes(value)
    forged = signature_timestamp(signer_info)
    assert forged is not None and not forged.verifies


def test_byte_for_byte_copy_still_verifies_and_inspection_never_writes(
    signed: Path, tmp_path: Path
) -> None:
    original_digest = sha256(signed)
    kept = tmp_path / "rep1" / "data" / "da-ky.pdf"
    kept.parent.mkdir(parents=True)
    with open(signed, "rb") as source, open(kept, "wb") as target:
        digest, size = copy_with_sha256(source, target)

    info = only(inspect_signatures(kept))

    assert digest == original_digest and size == signed.stat().st_size
    assert kept.read_bytes() == signed.read_bytes()
    assert info.integrity is Integrity.INTACT and info.verifies
    assert sha256(kept) == sha256(signed) == original_digest


def test_unsigned_pdf_has_no_signatures(workdir: Path) -> None:
    assert inspect_signatures(fx.vietnamese_pdf(workdir / "khong-ky.pdf")) == []


def test_a_pdf_without_a_form_is_unsigned_without_a_second_parse(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No interactive form, no signature field, no signature: pyHanko is not asked. A file
    with a form (even an empty one) is still parsed by pyHanko."""
    plain = fx.vietnamese_pdf(workdir / "khong-bieu-mau.pdf")
    with_form = workdir / "bieu-mau-trong.pdf"
    with pikepdf.open(plain) as pdf:
        pdf.Root.AcroForm = pikepdf.Dictionary(Fields=pikepdf.Array())
        pdf.save(with_form)
    parsed: list[object] = []
    reader = signatures_pdf.PdfFileReader

    def counted(stream: object, **options: object) -> PdfFileReader:
        parsed.append(stream)
        return reader(stream, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(signatures_pdf, "PdfFileReader", counted)
    assert inspect_signatures(plain) == [] and parsed == []
    assert inspect_signatures(with_form) == [] and len(parsed) == 1


@pytest.mark.parametrize("damage", ["truncated", "garbage", "encrypted"])
def test_unreadable_pdf_gives_an_error_result(damage: str, signed: Path, workdir: Path) -> None:
    target = workdir / f"hong-{damage}.pdf"
    if damage == "truncated":
        sf.truncated(signed, target)
    elif damage == "garbage":
        fx.garbage_with_pdf_header(target)
    else:
        fx.encrypted_pdf(target)

    info = only(inspect_signatures(target))

    assert info.kind is SignatureKind.UNREADABLE and info.field_name is None
    assert info.integrity is Integrity.UNKNOWN and not info.verifies
    assert info.error and target.name in info.error
    assert info.trust is Trust.NOT_VALIDATED
    if damage == "encrypted":
        assert "mã hóa" in info.error


def test_signature_whose_contents_are_not_cms_is_reported_per_field(
    signed: Path, workdir: Path
) -> None:
    data = signed.read_bytes()
    start = data.index(b"/Contents <") + len(b"/Contents <")
    broken = workdir / "cms-hong.pdf"
    broken.write_bytes(data[:start] + b"0" * 64 + data[start + 64 :])

    info = only(inspect_signatures(broken))

    assert info.field_name == sf.FIELD_NAME and info.kind is SignatureKind.SIGNATURE
    assert info.error and sf.FIELD_NAME in info.error and broken.name in info.error
    assert info.integrity is Integrity.UNKNOWN and not info.verifies


def test_premis_values(signed: Path, pki: sf.TestPki) -> None:
    info = only(inspect_signatures(signed))
    values = to_premis(info)

    assert values.signer == pki.signer.certificate.subject.rfc4514_string()
    assert values.signature_method == "RSA-SHA256"
    assert re.fullmatch(r"[0-9a-f]{64}", values.signature_value)
    assert "SHA-256" in values.signature_encoding
    assert "ETSI.CAdES.detached" in values.signature_validation_rules
    assert "pyHanko" in values.signature_validation_rules
    properties = "\n".join(values.signature_properties)
    for expected in (
        "integrity: intact",
        "verifies: yes",
        "trust: not trust-validated",
        "revocation: not checked",
        f"field: {sf.FIELD_NAME}",
        "signingTime: ",
        f"certificate[1]: {pki.ca.certificate.subject.rfc4514_string()}",
    ):
        assert expected in properties
    assert not re.search(r"\bvalid\b", properties)  # never "valid" without anchors


def test_signature_note_for_the_current_premis_writer(signed: Path) -> None:
    note = signature_note(inspect_signatures(signed))

    assert note is not None
    assert note.signer == f"{sf.SIGNER_NAME} ({sf.SIGNER_ORGANIZATION})"
    assert note.note and "toàn vẹn: intact" in note.note and "not trust-validated" in note.note
    assert signature_note([]) is None


# --- the PDF/A-2b rendition of a signed PDF ------------------------------------------------------


def render(source: Path, folder: Path) -> RenditionResult:
    return make_rendition(source, identify(source), folder, tools=PIKEPDF_ONLY)


def pages(path: Path) -> int:
    with pikepdf.open(path) as pdf:
        return len(pdf.pages)


def assert_unsigned_pdfa_copy(result: RenditionResult, source: Path) -> Path:
    """A created rendition: valid PDF/A-2b, the source's pages and text, no signature left."""
    assert result.status is RenditionStatus.CREATED, result.reason
    assert result.path is ConversionPath.PDF and result.output_path is not None
    output = result.output_path
    report = validate_pdfa(output, "2b")
    assert report.is_valid_pdfa_2b, (report.summary_vi(), report.not_checked)
    assert result.pdfa_report is not None and result.pdfa_report.is_valid_pdfa_2b
    assert pages(output) == pages(source) == result.input_pages == result.output_pages
    assert page_texts(output) == page_texts(source) and result.text_equal
    assert "Hồ sơ thủ tục hành chính" in page_texts(output)[0]
    assert SIGNATURE_NOT_CARRIED in result.warnings
    assert inspect_signatures(output) == []
    with pikepdf.open(output) as pdf:
        for key in ("/AcroForm", "/Perms", "/DSS", "/Extensions"):
            assert key not in pdf.Root, key
        assert all("/Annots" not in page.obj for page in pdf.pages)
    return output


def test_signed_pdf_gets_an_unsigned_pdfa_rendition_and_keeps_its_own_signature(
    signed: Path, tmp_path: Path
) -> None:
    before = signed.read_bytes()

    result = render(signed, tmp_path / "ban-pdfa")

    assert_unsigned_pdfa_copy(result, signed)
    assert f"bỏ trường chữ ký số '{sf.FIELD_NAME}' cùng giá trị chữ ký" in result.changes
    assert "bỏ khai báo phần mở rộng PAdES (ESIC)" in result.changes
    assert "bỏ biểu mẫu AcroForm chỉ chứa trường chữ ký" in result.changes
    assert signed.read_bytes() == before
    info = only(inspect_signatures(signed))
    assert info.integrity is Integrity.INTACT and info.verifies


def test_certified_visible_timestamped_pdf_with_dss_loses_every_signature_part(
    workdir: Path, pki: sf.TestPki, tmp_path: Path
) -> None:
    unsigned = fx.vietnamese_pdf(workdir / "chua-ky-2.pdf")
    certified = sf.sign_pdf(
        unsigned, workdir / "chung-thuc.pdf", pki, box=(350, 40, 560, 110), certify=True
    )
    stamped = sf.timestamp_pdf(certified, workdir / "chung-thuc-dau-tg.pdf", pki)
    source = sf.add_dss(stamped, workdir / "chung-thuc-dss.pdf", pki)
    with pikepdf.open(source) as pdf:
        assert {"/Perms", "/DSS", "/Extensions", "/AcroForm"} <= set(pdf.Root.keys())
    before = source.read_bytes()

    result = render(source, tmp_path / "ban-pdfa")

    assert_unsigned_pdfa_copy(result, source)
    changes = "\n".join(result.changes)
    for removed in (
        "quyền chữ ký (Perms)",
        "kho dữ liệu xác minh chữ ký (DSS)",
        "phần mở rộng PAdES (ESIC)",
        f"ô chữ ký số '{sf.FIELD_NAME}' ở trang 1 (hình chữ ký hiển thị không còn",
        "bỏ trường chữ ký số 'Timestamp",
    ):
        assert removed in changes, removed
    assert source.read_bytes() == before
    signature, timestamp = inspect_signatures(source)
    assert signature.verifies and timestamp.verifies
    assert timestamp.integrity is Integrity.COVERS_PART  # the DSS update came after it


def test_signed_pdf_with_other_form_fields_is_not_called_pdfa(signed: Path, tmp_path: Path) -> None:
    """A text field stays (it is the document's content); pikepdf cannot check forms, so
    without veraPDF the rendition is discarded rather than called PDF/A."""
    source = tmp_path / "bieu-mau-da-ky.pdf"
    with pikepdf.open(signed) as pdf:
        text_field = pdf.make_indirect(
            pikepdf.Dictionary(
                FT=pikepdf.Name.Tx,
                T=pikepdf.String("HoTen"),
                V=pikepdf.String("Nguyễn Văn An"),
                Type=pikepdf.Name.Annot,
                Subtype=pikepdf.Name.Widget,
                Rect=pikepdf.Array([50, 50, 250, 70]),
                F=4,
                P=pdf.pages[0].obj,
            )
        )
        pdf.Root.AcroForm.Fields.append(text_field)
        pdf.pages[0].obj.Annots.append(text_field)
        pdf.save(source)

    tools = RenditionTools(libreoffice=None, ghostscript=None, use_verapdf=False)
    result = make_rendition(source, identify(source), tmp_path / "ban-pdfa", tools=tools)

    assert result.status is RenditionStatus.FAILED and result.output_path is None
    assert result.reason and "AcroForm" in result.reason
    assert f"bỏ trường chữ ký số '{sf.FIELD_NAME}' cùng giá trị chữ ký" in result.changes
