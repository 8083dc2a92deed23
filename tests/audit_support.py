"""Helpers of the audit-trail tests: filling a trail, tampering with rows, a local RFC 3161 TSA.

The local TSA answers real HTTP requests with real RFC 3161 structures (status, nonce, imprint,
generation time), but its token carries no CMS signature: it tests the client's protocol, not
the validation of a TSA's certificate.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from asn1crypto import cms, core, tsp
from sqlalchemy import text

from archive_service.db.session import Database
from archive_service.integrity.audit import record_audit
from archive_service.integrity.chain import EntryContent
from archive_service.integrity.checkpoints import CheckpointSigner, load_signing_key

ENTRY_COLUMNS = ("at", "actor", "role", "action", "target_type", "target_id", "remote_addr")


def fill_trail(database: Database, count: int, *, start: int = 1) -> None:
    """Append ``count`` varied entries (non-ASCII text, nested details), one transaction each."""
    for number in range(start, start + count):
        with database.session() as session:
            record_audit(
                session,
                actor=f"key:{number % 3 + 1}",
                role="archivist",
                action="document.read" if number % 2 else "deposit.received",
                target_type="dossier",
                target_id=f"000.00.12.H12-240610-{number:04d}",
                remote_addr="203.0.113.9",
                detail={"số": number, "tên": "Hồ sơ đất đai", "range": [0, number], "ok": True},
            )


def signer_in(directory: Path, archive_code: str = "LTDT") -> CheckpointSigner:
    """A checkpoint signer with a key file created in ``directory``."""
    return CheckpointSigner(load_signing_key(directory / "keys" / "audit.pem"), archive_code)


def execute(database: Database, sql: str, **params: Any) -> None:
    """Run SQL directly, past the ORM (as someone with database access would)."""
    with database.engine.begin() as connection:
        connection.execute(text(sql), params)


def row(database: Database, seq: int) -> dict[str, Any]:
    """The stored columns of entry ``seq``."""
    with database.engine.connect() as connection:
        found = connection.execute(
            text("SELECT * FROM audit_entries WHERE seq = :seq"), {"seq": seq}
        ).mappings()
        return dict(found.one())


def rewrite_from(database: Database, seq: int, detail: dict[str, Any]) -> None:
    """Change entry ``seq``'s detail and recompute its hash and every later link and hash.

    What a forger who knows the chain format does: the chain itself stays consistent.
    """
    from archive_service.db.models import AuditEntry

    with database.session() as session:
        rows = session.query(AuditEntry).filter(AuditEntry.seq >= seq).order_by(AuditEntry.seq)
        entries = [(entry.seq, _content(entry)) for entry in rows]
    prev_hash = row(database, seq)["prev_hash"]
    for number, content in entries:
        changed = {**content, "prev_hash": prev_hash}
        if number == seq:
            changed["detail"] = detail
        new_hash = EntryContent(**changed).digest()
        execute(
            database,
            "UPDATE audit_entries SET detail = :detail, prev_hash = :prev, entry_hash = :hash "
            "WHERE seq = :seq",
            detail=_json(changed["detail"]),
            prev=prev_hash,
            hash=new_hash,
            seq=number,
        )
        prev_hash = new_hash


def _content(entry: Any) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "at": entry.at,
        "actor": entry.actor,
        "role": entry.role,
        "action": entry.action,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "remote_addr": entry.remote_addr,
        "detail": entry.detail,
        "prev_hash": entry.prev_hash,
    }


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


# --- a local time-stamping authority ------------------------------------------------------------


def timestamp_reply(
    request_der: bytes, *, status: str = "granted", nonce_shift: int = 0, other_digest: bool = False
) -> bytes:
    """A DER ``TimeStampResp`` answering ``request_der`` (unsigned token, see module doc)."""
    request = tsp.TimeStampReq.load(request_der)
    if status != "granted":  # a reply without a token: SEQUENCE { PKIStatusInfo }
        info = tsp.PKIStatusInfo({"status": status, "status_string": ["refused by test TSA"]})
        return core.Sequence(contents=info.dump()).dump()
    imprint = request["message_imprint"]
    if other_digest:
        imprint = tsp.MessageImprint(
            {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": b"\x01" * 32}
        )
    info = tsp.TSTInfo(
        {
            "version": "v1",
            "policy": "1.3.6.1.4.1.99999.1",
            "message_imprint": imprint,
            "serial_number": 1,
            "gen_time": datetime.now(UTC).replace(microsecond=0),
            "nonce": request["nonce"].native + nonce_shift,
        }
    )
    signed = cms.SignedData(
        {
            "version": "v3",
            "digest_algorithms": [],
            "encap_content_info": {"content_type": "tst_info", "content": info},
            "signer_infos": [],
        }
    )
    token = cms.ContentInfo({"content_type": "signed_data", "content": signed})
    return tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token}).dump()


@contextmanager
def local_tsa() -> Iterator[str]:
    """An RFC 3161 HTTP TSA on 127.0.0.1 for the duration; yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            reply = timestamp_reply(body)
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/tsa"
    finally:
        server.shutdown()
        server.server_close()
