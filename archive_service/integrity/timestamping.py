"""RFC 3161 time stamps: ask a time-stamping authority (TSA) to stamp a SHA-256 digest.

The client sends a ``TimeStampReq`` (SHA-256 imprint, random nonce, certificate requested) over
HTTP (``application/timestamp-query``), and keeps the ``TimeStampToken`` (a CMS ``SignedData``)
only when the status is granted and the token's ``TSTInfo`` carries the same imprint and nonce.

Not done here: checking the TSA's CMS signature and certificate chain. Whoever relies on a token
must validate it against the TSA's certificate with a CMS tool (e.g. ``openssl ts -verify``).
"""

from __future__ import annotations

import secrets
from datetime import datetime

from asn1crypto import algos, cms, core, tsp

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
GRANTED = frozenset({"granted", "granted_with_mods"})


class _TimeStampResp(core.Sequence):
    """``TimeStampResp`` as RFC 3161 defines it: the token is absent unless granted."""

    _fields = [  # noqa: RUF012 - asn1crypto's declaration style
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


class TimestampError(Exception):
    """The TSA could not be reached, refused, or answered with a token that does not fit."""


def timestamp_request(digest: bytes, nonce: int) -> bytes:
    """DER ``TimeStampReq`` for a SHA-256 ``digest``."""
    return tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": _imprint(digest),
            "nonce": nonce,
            "cert_req": True,
        }
    ).dump()


def request_timestamp(url: str, digest: bytes, *, timeout: float = 30.0) -> bytes:
    """Ask the TSA at ``url`` to stamp ``digest``; the DER ``TimeStampToken``."""
    import httpx  # only when a TSA is configured: keeps the import of the audit trail light

    nonce = secrets.randbits(63)
    try:
        response = httpx.post(
            url,
            content=timestamp_request(digest, nonce),
            headers={"Content-Type": QUERY_TYPE, "Accept": REPLY_TYPE},
            timeout=timeout,
        )
    except httpx.HTTPError as exc:
        raise TimestampError(f"không liên lạc được máy chủ cấp dấu thời gian {url}: {exc}") from exc
    if response.status_code != 200:
        raise TimestampError(f"máy chủ cấp dấu thời gian {url} trả lời HTTP {response.status_code}")
    return token_from_reply(response.content, digest, nonce)


def token_from_reply(reply: bytes, digest: bytes, nonce: int) -> bytes:
    """The token of a DER ``TimeStampResp`` once status, imprint and nonce are checked."""
    try:
        parsed = _TimeStampResp.load(reply)
        status = parsed["status"]["status"].native
        if status not in GRANTED:
            text = parsed["status"]["status_string"].native
            raise TimestampError(f"máy chủ cấp dấu thời gian từ chối: {status} {text or ''}")
        token = parsed["time_stamp_token"]
        info = _tst_info(token)
        got_nonce = info["nonce"].native
    except (ValueError, KeyError, TypeError) as exc:
        raise TimestampError(f"trả lời dấu thời gian không đọc được: {exc}") from exc
    if got_nonce != nonce:
        raise TimestampError("dấu thời gian mang nonce khác nonce đã gửi")
    if not token_matches(token.dump(), digest):
        raise TimestampError("dấu thời gian đóng cho một mã băm khác mã băm đã gửi")
    return bytes(token.dump())


def token_matches(token: bytes, digest: bytes) -> bool:
    """Whether a DER ``TimeStampToken`` stamps the SHA-256 ``digest``."""
    try:
        imprint = _tst_info(cms.ContentInfo.load(token))["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        return bool(algorithm == "sha256" and imprint["hashed_message"].native == digest)
    except (ValueError, KeyError, TypeError):
        return False


def token_time(token: bytes) -> datetime:
    """The time the TSA put into a DER ``TimeStampToken``."""
    moment: datetime = _tst_info(cms.ContentInfo.load(token))["gen_time"].native
    return moment


def _imprint(digest: bytes) -> tsp.MessageImprint:
    return tsp.MessageImprint(
        {
            "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
            "hashed_message": digest,
        }
    )


def _tst_info(token: cms.ContentInfo) -> tsp.TSTInfo:
    if token["content_type"].native != "signed_data":
        raise ValueError("the token is not CMS SignedData")
    encapsulated = token["content"]["encap_content_info"]
    if encapsulated["content_type"].native != "tst_info":
        raise ValueError("the token does not hold a TSTInfo")
    info: tsp.TSTInfo = encapsulated["content"].parsed
    return info
