"""The time-stamp token of a signature (RFC 3161; PAdES-T and above): when a time-stamping
authority (TSA) saw the signature value, and whether the token proves it.

A PAdES signature at level T or higher carries, among the unsigned attributes of its signer
info, a ``signature-time-stamp-token``: a TSA's signed statement that the signature value
existed at the token's time. That time is the TSA's, not the signer's own claim (the
``signingTime`` attribute or the PDF's ``/M``).

The token is checked cryptographically, without trust anchors: its own signature must verify
with the TSA certificate it carries, and its message imprint must be the digest of the
signature value it stamps. Whether the TSA is to be trusted is decided only against configured
trust anchors, by pyHanko's validation of the signature (``signatures_pdf``); without anchors
the token is "not trust-validated", as the signature is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from pyhanko.sign.validation.generic_cms import validate_sig_integrity

TOKEN_ATTRIBUTE = "signature_time_stamp_token"


@dataclass(frozen=True)
class SignatureTimestamp:
    """A signature's time-stamp token: the TSA's time, the TSA, and whether it verifies."""

    time: datetime
    authority: str | None  # the TSA certificate's subject, when the token carries it
    verifies: bool
    trusted: bool | None = None  # the TSA's chain to a configured anchor; None: not validated


def signature_timestamp(signer_info: cms.SignerInfo) -> SignatureTimestamp | None:
    """The first signature time-stamp token of ``signer_info``, checked; None without one."""
    token = _token(signer_info)
    if token is None:
        return None
    signed_data = token["content"]
    tst_info = signed_data["encap_content_info"]["content"]
    tsa_signer = signed_data["signer_infos"][0]
    certificate = _certificate(signed_data, tsa_signer["sid"])
    verifies = certificate is not None and _imprint_matches(tst_info.parsed, signer_info)
    if verifies and certificate is not None:
        algorithm = tsa_signer["digest_algorithm"]["algorithm"].native
        digest = hashlib.new(algorithm, bytes(tst_info)).digest()
        intact, valid = validate_sig_integrity(tsa_signer, certificate, "tst_info", digest)
        verifies = intact and valid
    return SignatureTimestamp(
        time=tst_info.parsed["gen_time"].native,
        authority=certificate.subject.human_friendly if certificate is not None else None,
        verifies=verifies,
    )


def _token(signer_info: cms.SignerInfo) -> cms.ContentInfo | None:
    unsigned = signer_info["unsigned_attrs"]
    if unsigned.native is None:
        return None
    for attribute in unsigned:
        if attribute["type"].native == TOKEN_ATTRIBUTE and len(attribute["values"]):
            token: cms.ContentInfo = attribute["values"][0]
            return token
    return None


def _imprint_matches(tst_info: cms.TSTInfo, signer_info: cms.SignerInfo) -> bool:
    """The token's message imprint is the digest of the stamped signature value."""
    imprint = tst_info["message_imprint"]
    algorithm = imprint["hash_algorithm"]["algorithm"].native
    try:
        expected = hashlib.new(algorithm, signer_info["signature"].native).digest()
    except ValueError:  # a digest algorithm hashlib does not know
        return False
    return bool(expected == imprint["hashed_message"].native)


def _certificate(
    signed_data: cms.SignedData, sid: cms.SignerIdentifier
) -> asn1_x509.Certificate | None:
    """The certificate of the token's signer, among those the token carries."""
    for choice in signed_data["certificates"] or []:
        certificate = choice.chosen
        if not isinstance(certificate, asn1_x509.Certificate):
            continue
        if sid.name == "issuer_and_serial_number":
            wanted = sid.chosen
            if (
                certificate.issuer == wanted["issuer"]
                and certificate.serial_number == wanted["serial_number"].native
            ):
                return certificate
        elif certificate.key_identifier == sid.chosen.native:
            return certificate
    return None
