"""Signed PDFs made at test time: a throw-away PKI (CA, signer, time-stamping authority, and an
unrelated CA) generated with ``cryptography``, and Vietnamese PDFs signed with pyHanko.

Everything is local: no time-stamping server, no revocation server, no network.
"""

from __future__ import annotations

import io
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from tests import formats_fixtures as fx

SIGNER_NAME = "Nguyễn Văn An"
SIGNER_ORGANIZATION = "UBND xã Quảng Tâm"
CA_NAME = "CA thử nghiệm Lưu trữ điện tử"
OTHER_CA_NAME = "CA khác không liên quan"
TSA_NAME = "Máy chủ cấp dấu thời gian thử nghiệm"
FIELD_NAME = "ChuKyLanhDao"
#: Written into issued certificates as CRL and OCSP locations; ``.invalid`` never resolves.
REVOCATION_URL = "http://revocation.archive-test.invalid"
_VALIDITY = timedelta(days=3650)


@dataclass(frozen=True)
class Identity:
    """A certificate and its private key."""

    certificate: x509.Certificate
    key: rsa.RSAPrivateKey

    def asn1_certificate(self) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(self.certificate.public_bytes(serialization.Encoding.DER))

    def asn1_key(self) -> asn1_keys.PrivateKeyInfo:
        return asn1_keys.PrivateKeyInfo.load(
            self.key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


@dataclass(frozen=True)
class TestPki:
    """The test CA and what it issued, the unrelated CA, and their certificate files (PEM)."""

    __test__ = False  # not a pytest test class

    ca: Identity
    signer: Identity
    tsa: Identity
    other_ca: Identity
    ca_file: Path
    other_ca_file: Path


def _name(common_name: str, organization: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(*, signing: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signing,
        content_commitment=signing,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not signing,
        crl_sign=not signing,
        encipher_only=False,
        decipher_only=False,
    )


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _certificate(
    subject: x509.Name,
    key: rsa.RSAPrivateKey,
    issuer: Identity | None,
    *,
    serial: int,
    time_stamping: bool = False,
) -> x509.Certificate:
    """A CA certificate when ``issuer`` is None (self-signed), else an end-entity one."""
    now = datetime.now(UTC)
    issuer_name = issuer.certificate.subject if issuer else subject
    issuer_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
        .add_extension(_key_usage(signing=issuer is not None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if issuer is not None:  # revocation endpoints that must never be contacted (no network)
        builder = builder.add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        [x509.UniformResourceIdentifier(REVOCATION_URL + "/ca.crl")],
                        None,
                        None,
                        None,
                    )
                ]
            ),
            critical=False,
        ).add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.OCSP,
                        x509.UniformResourceIdentifier(REVOCATION_URL + "/ocsp"),
                    )
                ]
            ),
            critical=False,
        )
    if time_stamping:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _authority(name: str, organization: str, serial: int) -> Identity:
    key = _new_key()
    return Identity(_certificate(_name(name, organization), key, None, serial=serial), key)


def _issued(
    ca: Identity, name: str, organization: str, serial: int, *, time_stamping: bool = False
) -> Identity:
    key = _new_key()
    subject = _name(name, organization)
    return Identity(_certificate(subject, key, ca, serial=serial, time_stamping=time_stamping), key)


def _write_pem(path: Path, identity: Identity) -> Path:
    path.write_bytes(identity.certificate.public_bytes(serialization.Encoding.PEM))
    return path


def make_pki(directory: Path) -> TestPki:
    """A fresh PKI; the two CA certificates are written as PEM files into ``directory``."""
    ca = _authority(CA_NAME, "Lưu trữ điện tử", serial=1)
    other_ca = _authority(OTHER_CA_NAME, "Tổ chức khác", serial=2)
    signer = _issued(ca, SIGNER_NAME, SIGNER_ORGANIZATION, serial=3)
    tsa = _issued(ca, TSA_NAME, "Lưu trữ điện tử", serial=4, time_stamping=True)
    return TestPki(
        ca=ca,
        signer=signer,
        tsa=tsa,
        other_ca=other_ca,
        ca_file=_write_pem(directory / "ca-thu-nghiem.pem", ca),
        other_ca_file=_write_pem(directory / "ca-khac.pem", other_ca),
    )


def _timestamper(pki: TestPki) -> DummyTimeStamper:
    return DummyTimeStamper(
        tsa_cert=pki.tsa.asn1_certificate(),
        tsa_key=pki.tsa.asn1_key(),
        certs_to_embed=SimpleCertificateStore.from_certs([pki.ca.asn1_certificate()]),
    )


def sign_pdf(
    source: Path,
    target: Path,
    pki: TestPki,
    *,
    field_name: str = FIELD_NAME,
    pades: bool = True,
    box: tuple[int, int, int, int] | None = None,
    certify: bool = False,
    timestamped: bool = False,
) -> Path:
    """Sign ``source`` into ``target`` (PAdES, or the older adbe.pkcs7.detached).

    ``box``: a visible signature there on the first page (pyHanko's own stamp); ``certify``: a
    certification signature (DocMDP, recorded in the catalog's ``/Perms``); ``timestamped``: the
    signature carries a time-stamp token of the test TSA (PAdES-T).
    """
    signer = signers.SimpleSigner(
        signing_cert=pki.signer.asn1_certificate(),
        signing_key=pki.signer.asn1_key(),
        cert_registry=SimpleCertificateStore.from_certs([pki.ca.asn1_certificate()]),
    )
    sub_filter = (
        fields.SigSeedSubFilter.PADES if pades else fields.SigSeedSubFilter.ADOBE_PKCS7_DETACHED
    )
    metadata = signers.PdfSignatureMetadata(
        field_name=field_name,
        subfilter=sub_filter,
        md_algorithm="sha256",
        reason="Phê duyệt hồ sơ",
        location="Quảng Tâm, Thanh Hóa",
        name=SIGNER_NAME,
        certify=certify,
    )
    spec = fields.SigFieldSpec(field_name, on_page=0, box=box) if box else None
    output = io.BytesIO()
    with open(source, "rb") as stream:
        writer = IncrementalPdfFileWriter(stream, strict=False)
        signers.sign_pdf(
            writer,
            metadata,
            signer=signer,
            timestamper=_timestamper(pki) if timestamped else None,
            output=output,
            new_field_spec=spec,
        )
    target.write_bytes(output.getvalue())
    return target


def timestamp_pdf(source: Path, target: Path, pki: TestPki) -> Path:
    """Add a document timestamp (``/DocTimeStamp``) from the test TSA."""
    output = io.BytesIO()
    with open(source, "rb") as stream:
        writer = IncrementalPdfFileWriter(stream, strict=False)
        signers.PdfTimeStamper(_timestamper(pki)).timestamp_pdf(writer, "sha256", output=output)
    target.write_bytes(output.getvalue())
    return target


def add_dss(signed: Path, target: Path, pki: TestPki) -> Path:
    """An incremental update adding a Document Security Store with the CA certificate (what
    long-term validation material looks like; no revocation data, there is no network)."""
    certificate = generic.StreamObject(
        stream_data=pki.ca.certificate.public_bytes(serialization.Encoding.DER)
    )
    output = io.BytesIO()
    with open(signed, "rb") as stream:
        writer = IncrementalPdfFileWriter(stream, strict=False)
        dss = generic.DictionaryObject(
            {
                generic.NameObject("/Type"): generic.NameObject("/DSS"),
                generic.NameObject("/Certs"): generic.ArrayObject([writer.add_object(certificate)]),
            }
        )
        writer.root["/DSS"] = writer.add_object(dss)
        writer.update_root()
        writer.write(output)
    target.write_bytes(output.getvalue())
    return target


def signed_vietnamese_pdf(directory: Path, pki: TestPki, *, pades: bool = True) -> Path:
    """A Vietnamese text PDF, signed once."""
    unsigned = fx.vietnamese_pdf(directory / "chua-ky.pdf")
    name = "da-ky.pdf" if pades else "da-ky-pkcs7.pdf"
    return sign_pdf(unsigned, directory / name, pki, pades=pades)


def incremental_update(signed: Path, target: Path) -> Path:
    """A proper incremental update after signing: the catalogue gets a ``/Lang``."""
    output = io.BytesIO()
    with open(signed, "rb") as stream:
        writer = IncrementalPdfFileWriter(stream, strict=False)
        writer.root["/Lang"] = generic.TextStringObject("vi-VN")
        writer.update_root()
        writer.write(output)
    target.write_bytes(output.getvalue())
    return target


def append_bytes(signed: Path, target: Path, data: bytes = b"\n% them sau khi ky\n") -> Path:
    """The signed file with bytes appended (not a PDF revision)."""
    shutil.copyfile(signed, target)
    with open(target, "ab") as stream:
        stream.write(data)
    return target


def flip_signed_byte(signed: Path, target: Path) -> Path:
    """The signed file with one byte inside the first signed range changed (in the binary
    comment of the header, so the file still parses)."""
    data = bytearray(signed.read_bytes())
    offset = data.index(b"\n") + 2
    data[offset] ^= 0x01
    target.write_bytes(bytes(data))
    return target


def truncated(signed: Path, target: Path) -> Path:
    """The first two thirds of the signed file."""
    data = signed.read_bytes()
    target.write_bytes(data[: len(data) * 2 // 3])
    return target
