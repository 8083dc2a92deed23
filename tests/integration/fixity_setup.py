"""What the fixity tests share: an archive holding real deposited dossiers (filesystem or S3),
the keys of their documents, ways to damage stored objects as bit rot or a careless
administrator would, and a TCP relay that can be cut to make an S3 server unreachable.

Damage on the filesystem is done on the files themselves (as the disk would); on S3 through the
S3 API with the bucket's credentials: a changed object is a new version on top (older versions
stay), a deletion is a delete marker.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from minio import Minio
from sqlalchemy import select

from archive_service.config import Settings
from archive_service.db.session import Database
from archive_service.dossiers.models import Document, Dossier, StoredObject
from archive_service.ingest.dispatch import InProcessDispatcher
from archive_service.ingest.models import DepositStatus
from archive_service.ingest.service import DepositService
from archive_service.storage.base import ObjectStore
from archive_service.storage.filesystem import FilesystemStore
from archive_service.storage.ocfl import OcflRepository
from archive_service.storage.s3 import MIN_PART_SIZE, S3Store
from tests.factories import make_sip_zip
from tests.integration.deposit_setup import principal_for, stage, wait_final
from tests.s3server.servers import BucketPool, S3Server

AGENCY = "000.00.19.H56"
CODES = ("000.00.19.H56-240610-0001", "000.00.19.H56-240611-0002")


def archive_dossiers(
    settings: Settings,
    database: Database,
    repository: OcflRepository,
    work: Path,
    codes: Sequence[str] = CODES,
    documents: int = 4,
) -> None:
    """Deposit one SIP per dossier code through the real pipeline and wait until archived."""
    dispatcher = InProcessDispatcher(settings.workers)
    service = DepositService(settings, database, repository, dispatcher)
    dispatcher.start(service)
    try:
        principal = principal_for(database)
        receipts = []
        for code in codes:
            folder = work / code
            folder.mkdir(parents=True)
            sip = make_sip_zip(folder, documents=documents, dossier_code=code)
            receipts.append(service.register_zip(principal, stage(settings, sip)))
        for receipt in receipts:
            view = wait_final(service, principal, receipt.deposit_id)
            assert view.status is DepositStatus.ARCHIVED, (view.problems, view.failure_reason)
    finally:
        dispatcher.close()


def document_keys(database: Database, repository: OcflRepository, code: str) -> list[str]:
    """Content keys of a dossier's documents, in document order."""
    with database.read_session() as session:
        dossier = session.scalars(select(Dossier).where(Dossier.dossier_code == code)).one()
        paths = session.scalars(
            select(Document.logical_path)
            .where(Document.dossier_id == dossier.id)
            .order_by(Document.ordinal)
        ).all()
    state = repository.state(dossier.aip_object_id)
    return [state[path].content_key for path in paths]


def stored_keys(database: Database, code: str | None = None) -> set[str]:
    """Keys of the stored objects (of one dossier)."""
    query = select(StoredObject.key)
    if code is not None:
        query = query.join(Dossier, Dossier.id == StoredObject.dossier_id).where(
            Dossier.dossier_code == code
        )
    with database.read_session() as session:
        return set(session.scalars(query))


def read_bytes(store: ObjectStore, key: str) -> bytes:
    with store.open(key) as stream:
        return stream.read()


def fresh_s3_store(server: S3Server, pool: BucketPool) -> S3Store:
    """An S3 store on a fresh versioned Object Lock bucket of ``server``."""
    return S3Store(
        server.client(),
        pool.take(),
        part_size=MIN_PART_SIZE,
        server_checksum=server.kind.server_checksum,
    )


@dataclass
class Damage:
    """Damages objects of one store: on disk for a filesystem store, through S3 otherwise."""

    store: ObjectStore
    s3: Minio | None = None

    def flip_byte(self, key: str, offset: int = 100) -> None:
        data = bytearray(read_bytes(self.store, key))
        data[offset] ^= 0x01
        self._write(key, bytes(data))

    def truncate(self, key: str) -> None:
        self._write(key, read_bytes(self.store, key)[:-10])

    def delete(self, key: str) -> None:
        if isinstance(self.store, FilesystemStore):
            self._path(key).unlink()
        else:
            assert isinstance(self.store, S3Store) and self.s3 is not None
            self.s3.remove_object(self.store.bucket, key)  # a delete marker on top

    def replace(self, key: str, other_key: str) -> None:
        """Put another valid object's bytes in place of ``key``'s."""
        self._write(key, read_bytes(self.store, other_key))

    def _write(self, key: str, data: bytes) -> None:
        if isinstance(self.store, FilesystemStore):
            path = self._path(key)
            path.chmod(0o644)
            path.write_bytes(data)
        else:
            assert isinstance(self.store, S3Store) and self.s3 is not None
            self.s3.put_object(self.store.bucket, key, _Bytes(data), len(data))

    def _path(self, key: str) -> Path:
        assert isinstance(self.store, FilesystemStore)
        return self.store.root / key


class _Bytes:
    """A readable stream over bytes (what the minio client reads an upload from)."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._at = 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._data) if size < 0 else self._at + size
        chunk = bytes(self._data[self._at : end])
        self._at += len(chunk)
        return chunk


class TcpRelay:
    """Relays TCP connections from a local port to ``target``; ``cut`` makes the port refuse
    connections and drops every open one — to the client, the server has gone away."""

    def __init__(self, target: str) -> None:
        host, _, port = target.rpartition(":")
        self._target = (host, int(port))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._cut = False
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            self._cut = True
            sockets, self._open = self._open, []
        self._listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target)
            with self._lock:
                if self._cut:
                    client.close()
                    upstream.close()
                    return
                self._open += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def relayed(target: str) -> Iterator[TcpRelay]:
    relay = TcpRelay(target)
    try:
        yield relay
    finally:
        relay.cut()
