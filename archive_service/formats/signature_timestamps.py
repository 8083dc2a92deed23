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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from pyhanko.sign.general import (
    extract_certificate_info,
    extract_signer_info,
    find_cms_attribute_iter,
)
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
    token = next(find_cms_attribute_iter(signer_info["unsigned_attrs"], TOKEN_ATTRIBUTE), None)
    if token is None:
        return None
    signed_data = token["content"]
    tst_info = signed_data["encap_content_info"]["content"]
    try:
        tsa_signer = extract_signer_info(signed_data)
        certificate: asn1_x509.Certificate | None = extract_certificate_info(
            signed_data
        ).signer_cert
    except ValueError:  # not one signer, or its certificate is not in the token
        certificate = None
    stamped = signer_info["signature"].native
    verifies = certificate is not None and imprint_matches(
        tst_info.parsed, lambda algorithm: hashlib.new(algorithm, stamped).digest()
    )
    if verifies and certificate is not None:
        verifies = all(token_integrity(tsa_signer, certificate, tst_info))
    return SignatureTimestamp(
        time=tst_info.parsed["gen_time"].native,
        authority=certificate.subject.human_friendly if certificate is not None else None,
        verifies=verifies,
    )


def token_integrity(
    tsa_signer: cms.SignerInfo,
    certificate: asn1_x509.Certificate,
    tst_info: cms.ParsableOctetString,
) -> tuple[bool, bool]:
    """Whether the TSA's signature over the token's ``TSTInfo`` is intact and valid."""
    algorithm = tsa_signer["digest_algorithm"]["algorithm"].native
    digest = hashlib.new(algorithm, bytes(tst_info)).digest()
    intact, valid = validate_sig_integrity(tsa_signer, certificate, "tst_info", digest)
    return intact, valid


def imprint_matches(tst_info: cms.TSTInfo, digest_of: Callable[[str], bytes]) -> bool:
    """The token's message imprint is ``digest_of(its hash algorithm)`` of what it stamps (a
    signature value, or a document's signed byte range)."""
    imprint = tst_info["message_imprint"]
    try:
        expected = digest_of(imprint["hash_algorithm"]["algorithm"].native)
    except ValueError:  # a digest algorithm we cannot compute
        return False
    return bool(expected == imprint["hashed_message"].native)
