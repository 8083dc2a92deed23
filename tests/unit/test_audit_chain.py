"""The audit chain's canonical form, hashes, Merkle roots, verification and RFC 3161 replies."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from archive_service.integrity.chain import (
    GENESIS_HASH,
    ChainEntry,
    ChainVerifier,
    CheckpointStatement,
    EntryContent,
    MalformedRecord,
    ProblemKind,
    SignedCheckpoint,
    VerificationReport,
    canonical_json,
    format_timestamp,
    key_fingerprint,
    merkle_root,
    parse_timestamp,
    signature_is_valid,
)
from archive_service.integrity.timestamping import (
    TimestampError,
    timestamp_request,
    token_from_reply,
    token_matches,
    token_time,
)
from tests.audit_support import timestamp_reply

HANOI = timezone(timedelta(hours=7))
KEY = Ed25519PrivateKey.generate()
START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def make_chain(count: int) -> list[ChainEntry]:
    """A correct chain of ``count`` entries."""
    entries: list[ChainEntry] = []
    prev = GENESIS_HASH
    for seq in range(1, count + 1):
        content = EntryContent(
            seq=seq,
            at=START + timedelta(seconds=seq),
            actor="system",
            role=None,
            action="deposit.received",
            target_type="deposit",
            target_id=f"d{seq}",
            remote_addr=None,
            detail={"n": seq},
            prev_hash=prev,
        )
        entries.append(ChainEntry(content, content.digest()))
        prev = entries[-1].entry_hash
    return entries


def checkpoint(entries: list[ChainEntry], key: Ed25519PrivateKey = KEY) -> SignedCheckpoint:
    statement = CheckpointStatement(
        archive="LTDT",
        first_seq=entries[0].seq,
        last_seq=entries[-1].seq,
        merkle_root=merkle_root([e.entry_hash for e in entries]),
        head_hash=entries[-1].entry_hash,
        created_at=START + timedelta(hours=1),
    )
    return SignedCheckpoint(
        statement,
        key.sign(statement.canonical()).hex(),
        key_fingerprint(key.public_key()),
        "audit/checkpoints/x.json",
    )


def verify(
    entries: list[ChainEntry], checkpoints: Sequence[SignedCheckpoint] = ()
) -> VerificationReport:
    verifier = ChainVerifier(checkpoints, KEY.public_key())
    for entry in entries:
        verifier.add(entry)
    return verifier.finish()


def edited(entry: ChainEntry, **changes: object) -> ChainEntry:
    return ChainEntry(replace(entry.content, **changes), entry.entry_hash)  # type: ignore[arg-type]


# --- canonical form ------------------------------------------------------------------------------


def test_canonical_json_sorts_keys_everywhere_has_no_whitespace_and_is_utf8() -> None:
    value = {"b": 1, "a": {"z": [1, {"y": None, "x": "Hồ sơ"}], "c": True}}
    assert canonical_json(value) == '{"a":{"c":true,"z":[1,{"x":"Hồ sơ","y":null}]},"b":1}'.encode()


def test_canonical_json_refuses_nan() -> None:
    with pytest.raises(ValueError):
        canonical_json({"x": math.nan})


def test_timestamps_are_written_in_utc_with_microseconds_and_read_back() -> None:
    moment = datetime(2026, 3, 1, 15, 4, 5, 7, tzinfo=HANOI)
    assert format_timestamp(moment) == "2026-03-01T08:04:05.000007Z"
    assert parse_timestamp("2026-03-01T08:04:05.000007Z") == moment
    with pytest.raises(ValueError):
        format_timestamp(datetime(2026, 3, 1))
    with pytest.raises(MalformedRecord):
        parse_timestamp("2026-03-01 08:04:05")


def test_the_entry_hash_is_sha256_of_the_documented_canonical_form() -> None:
    content = EntryContent(
        seq=1,
        at=datetime(2026, 3, 1, 8, 0, tzinfo=UTC),
        actor="key:7",
        role="auditor",
        action="document.read",
        target_type="document",
        target_id="X/1",
        remote_addr=None,
        detail={"tên": "Đơn", "a": 1},
        prev_hash=GENESIS_HASH,
    )
    expected = (
        '{"action":"document.read","actor":"key:7","at":"2026-03-01T08:00:00.000000Z",'
        '"detail":{"a":1,"tên":"Đơn"},"prev_hash":"' + "0" * 64 + '","remote_addr":null,'
        '"role":"auditor","seq":1,"target_id":"X/1","target_type":"document"}'
    )
    assert content.digest() == hashlib.sha256(expected.encode()).hexdigest()


def test_an_entry_survives_its_json_form_and_malformed_ones_are_refused() -> None:
    [entry] = make_chain(1)
    assert ChainEntry.from_json(entry.as_json()) == entry
    broken_fields: list[dict[str, object]] = [
        {"seq": "1"},
        {"seq": True},
        {"detail": []},
        {"at": "yesterday"},
    ]
    for broken in broken_fields:
        with pytest.raises(MalformedRecord):
            ChainEntry.from_json({**entry.as_json(), **broken})
    without_actor = {k: v for k, v in entry.as_json().items() if k != "actor"}
    with pytest.raises(MalformedRecord, match="actor"):
        ChainEntry.from_json(without_actor)


# --- Merkle roots ---------------------------------------------------------------------------------


def _leaf(value: str) -> bytes:
    return hashlib.sha256(b"\x00" + bytes.fromhex(value)).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def test_merkle_roots_follow_rfc_6962() -> None:
    a, b, c = ("aa" * 32, "bb" * 32, "cc" * 32)
    assert merkle_root([a]) == _leaf(a).hex()
    assert merkle_root([a, b]) == _node(_leaf(a), _leaf(b)).hex()
    assert merkle_root([a, b, c]) == _node(_node(_leaf(a), _leaf(b)), _leaf(c)).hex()
    assert merkle_root([b, a]) != merkle_root([a, b])
    with pytest.raises(ValueError):
        merkle_root([])


# --- verification ---------------------------------------------------------------------------------


def test_an_untouched_chain_and_its_checkpoints_verify() -> None:
    entries = make_chain(7)
    report = verify(entries, [checkpoint(entries[:3]), checkpoint(entries[3:6])])
    assert report.ok, report.problems
    assert (report.entries, report.checkpoints, report.head_seq) == (7, 2, 7)
    assert report.head_hash == entries[-1].entry_hash


def test_an_edited_entry_is_named_by_its_content_hash() -> None:
    entries = make_chain(5)
    entries[2] = edited(entries[2], detail={"n": 999})
    problem = verify(entries).first_problem
    assert problem is not None
    assert (problem.seq, problem.kind) == (3, ProblemKind.CONTENT_HASH_MISMATCH)


def test_a_missing_entry_is_a_gap_named_by_its_number() -> None:
    entries = make_chain(5)
    del entries[1]
    problem = verify(entries).first_problem
    assert problem is not None
    assert (problem.seq, problem.kind) == (2, ProblemKind.SEQ_GAP)
    assert "thiếu mục số 2" in problem.message


def test_a_missing_first_entry_is_a_gap_at_one() -> None:
    problem = verify(make_chain(3)[1:]).first_problem
    assert problem is not None
    assert (problem.seq, problem.kind) == (1, ProblemKind.SEQ_GAP)


def test_a_forged_entry_with_a_correct_hash_but_a_wrong_link_is_named() -> None:
    entries = make_chain(5)
    forged = replace(entries[3].content, prev_hash=entries[1].entry_hash, detail={"n": "forged"})
    entries[3] = ChainEntry(forged, forged.digest())
    problem = verify(entries).first_problem
    assert problem is not None
    assert (problem.seq, problem.kind) == (4, ProblemKind.PREV_HASH_MISMATCH)


def test_a_rewritten_tail_that_chains_again_is_caught_by_the_checkpoint_root() -> None:
    entries = make_chain(6)
    signed = checkpoint(entries[:4])
    forged = make_chain(6)
    # rebuild from entry 2 with other content, every later link recomputed
    prev = forged[0].entry_hash
    for index in range(1, 6):
        content = replace(forged[index].content, prev_hash=prev, detail={"n": -index})
        forged[index] = ChainEntry(content, content.digest())
        prev = forged[index].entry_hash
    report = verify(forged, [signed])
    assert [(p.seq, p.kind) for p in report.problems] == [(1, ProblemKind.CHECKPOINT_ROOT_MISMATCH)]
    assert "1–4" in report.problems[0].message


def test_entries_cut_from_the_end_of_a_checkpoint_are_reported() -> None:
    entries = make_chain(5)
    report = verify(entries[:3], [checkpoint(entries)])
    problem = report.first_problem
    assert problem is not None
    assert (problem.seq, problem.kind) == (4, ProblemKind.MISSING_ENTRIES)


def test_a_checkpoint_signed_by_another_key_or_changed_after_signing_is_refused() -> None:
    entries = make_chain(4)
    foreign = checkpoint(entries, Ed25519PrivateKey.generate())
    assert [p.kind for p in verify(entries, [foreign]).problems] == [ProblemKind.BAD_SIGNATURE]
    good = checkpoint(entries)
    assert signature_is_valid(good, KEY.public_key())
    changed = replace(good, statement=replace(good.statement, archive="OTHER"))
    assert not signature_is_valid(changed, KEY.public_key())
    assert [p.kind for p in verify(entries, [changed]).problems] == [ProblemKind.BAD_SIGNATURE]


def test_checkpoints_must_cover_the_chain_without_gaps() -> None:
    entries = make_chain(6)
    report = verify(entries, [checkpoint(entries[:2]), checkpoint(entries[3:5])])
    assert [(p.seq, p.kind) for p in report.problems] == [(3, ProblemKind.CHECKPOINT_GAP)]


def test_verification_can_start_after_a_checkpoint() -> None:
    entries = make_chain(5)
    verifier = ChainVerifier([], KEY.public_key(), first_seq=3, prev_hash=entries[1].entry_hash)
    for entry in entries[2:]:
        verifier.add(entry)
    assert verifier.finish().ok


def test_a_checkpoint_survives_its_json_form() -> None:
    signed = replace(checkpoint(make_chain(2)), tsa_token=b"\x30\x00")
    assert SignedCheckpoint.from_json(signed.as_json()) == signed


# --- RFC 3161 replies -----------------------------------------------------------------------------


def test_a_granted_time_stamp_with_the_same_imprint_and_nonce_is_kept() -> None:
    digest = hashlib.sha256(b"signature").digest()
    request = timestamp_request(digest, nonce=12345)
    token = token_from_reply(timestamp_reply(request), digest, 12345)
    assert token_matches(token, digest)
    assert not token_matches(token, hashlib.sha256(b"other").digest())
    assert token_time(token).tzinfo is not None


@pytest.mark.parametrize(
    ("reply_options", "message"),
    [
        ({"status": "rejection"}, "từ chối"),
        ({"nonce_shift": 1}, "nonce"),
        ({"other_digest": True}, "mã băm khác"),
    ],
)
def test_refused_or_mismatching_time_stamps_are_errors(
    reply_options: dict[str, object], message: str
) -> None:
    digest = hashlib.sha256(b"signature").digest()
    request = timestamp_request(digest, nonce=7)
    with pytest.raises(TimestampError, match=message):
        token_from_reply(timestamp_reply(request, **reply_options), digest, 7)  # type: ignore[arg-type]


def test_garbage_is_not_a_time_stamp() -> None:
    with pytest.raises(TimestampError):
        token_from_reply(b"not DER", b"\x00" * 32, 1)
    assert not token_matches(b"not DER", b"\x00" * 32)
