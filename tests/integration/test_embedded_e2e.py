"""End to end on the embedded default: a real ``archive serve``, spoken to over HTTP only.

A generated SIP (Vietnamese metadata, several PDFs) is deposited, followed to ``archived``, read
back (metadata, every document byte for byte) and downloaded as an AIP ZIP that is unpacked and
checked: every XML file valid against the bundled schemas, every METS checksum and size right.
"""

from __future__ import annotations

import base64
import hashlib
import random
import zipfile
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest

from archive_service.packages.aip_writer import aip_root_name
from archive_service.packages.mets_reader import read_mets
from archive_service.packages.plain import parse_plain_metadata
from archive_service.packages.schemas import validate
from archive_service.packages.sip_builder import build_sip
from archive_service.packages.xmlsafe import parse_xml_bytes
from archive_service.streams import FileSource
from tests.factories import CREATED, DOSSIER_CODE, FONDS_CODE, make_sip_zip, sample_metadata
from tests.integration.api_client import ArchiveServer, start_server, wait_for_final_status
from tests.integration.test_aip_writer import schema_for

AGENCY = DOSSIER_CODE.split("-")[0]
DOCUMENTS = 4
REP1_DATA = "/representations/rep1/data/"
LEDGER_WORDS = "sổ theo dõi hồ sơ thủ tục hành chính ủy ban nhân dân xã Quảng Tâm số"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArchiveServer]:
    running = start_server(tmp_path_factory.mktemp("embedded") / "archive-data", migrate=False)
    try:
        yield running
    finally:
        running.stop()


def sip_documents(sip: Path) -> dict[str, bytes]:
    """File name → bytes of the documents (rep1 data files) in a SIP ZIP."""
    with zipfile.ZipFile(sip) as archive:
        return {
            name.rsplit("/", 1)[-1]: archive.read(name)
            for name in archive.namelist()
            if REP1_DATA in name and not name.endswith("/")
        }


def upload_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as stream:
        while chunk := stream.read(64 * 1024):
            yield chunk


def test_a_dossier_goes_in_over_http_and_comes_back_exactly(
    server: ArchiveServer, tmp_path: Path
) -> None:
    # the first run printed the address and a first admin key, which works
    started = server.log()
    assert f" on {server.base_url} (data: " in started
    first_keys = [
        line.rsplit(": ", 1)[1]
        for line in started.splitlines()
        if line.startswith("Khóa API quản trị đầu tiên (chỉ hiện một lần): ")
    ]
    assert len(first_keys) == 1
    assert server.client(first_keys[0]).get("/api/v1/dossiers").status_code == 200
    assert server.client("not-" + first_keys[0]).get("/api/v1/dossiers").status_code == 401

    sip = make_sip_zip(tmp_path, documents=DOCUMENTS)
    originals = sip_documents(sip)
    assert len(originals) == DOCUMENTS
    depositor = server.client(server.create_key("depositor", AGENCY))
    auditor = server.client(server.create_key("auditor"))

    # deposit, streamed from disk
    answer = depositor.post(
        "/api/v1/deposits",
        content=upload_chunks(sip),
        headers={"Content-Type": "application/zip", "Idempotency-Key": "e2e-1"},
    )
    assert answer.status_code == 202, answer.text
    accepted = answer.json()
    assert accepted["received"][0]["sha256"] == hashlib.sha256(sip.read_bytes()).hexdigest()
    assert accepted["received"][0]["size"] == sip.stat().st_size
    final = wait_for_final_status(depositor, accepted["deposit_id"])
    assert final["status"] == "archived", final
    assert final["dossier_code"] == DOSSIER_CODE

    # the metadata
    dossier = depositor.get(f"/api/v1/dossiers/{DOSSIER_CODE}").json()
    assert dossier["title"] == "Hồ sơ đăng ký kết hôn của ông Nguyễn Văn A và bà Trần Thị B"
    assert dossier["procedure_name"] == "Đăng ký kết hôn"
    assert dossier["applicant"] == {"name": "Nguyễn Văn A", "id_number": "0380******34"}
    assert "038090001234" not in str(dossier)
    assert [d["ordinal"] for d in dossier["documents"]] == list(range(1, DOCUMENTS + 1))
    assert {e["event_type"] for e in dossier["events"]} >= {"ingestion", "validation"}

    # every document, byte for byte
    for document in dossier["documents"]:
        original = originals[document["file_name"]]
        assert document["sha256"] == hashlib.sha256(original).hexdigest()
        assert document["size"] == len(original)
        response = depositor.get(f"/api/v1/dossiers/{DOSSIER_CODE}/documents/{document['doc_id']}")
        assert response.status_code == 200
        assert response.content == original
        digest = base64.b64encode(hashlib.sha256(original).digest()).decode()
        assert response.headers["Digest"] == f"sha-256={digest}"
        assert response.headers["Content-Type"] == "application/pdf"

    # the search finds it
    found = depositor.get("/api/v1/dossiers", params={"q": "kết hôn"}).json()
    assert [item["dossier_code"] for item in found["items"]] == [DOSSIER_CODE]
    # an identity number in a query is answered, and never written to the server's log
    by_number = depositor.get("/api/v1/dossiers", params={"q": "038090001234"})
    assert by_number.status_code == 200
    assert "038090001234" not in by_number.text
    assert "038090001234" not in server.log()
    assert "/api/v1/dossiers?q=0380******34 " in server.log()  # logged, masked

    # the AIP, streamed into a file, unpacked and checked
    target = tmp_path / "aip.zip"
    with auditor.stream("GET", f"/api/v1/dossiers/{DOSSIER_CODE}/aip") as response:
        assert response.status_code == 200, response.read()
        assert response.headers["Content-Type"] == "application/zip"
        with target.open("wb") as out:
            for chunk in response.iter_bytes():
                out.write(chunk)
    unpacked = tmp_path / "aip"
    with zipfile.ZipFile(target) as archive:
        assert archive.testzip() is None
        archive.extractall(unpacked)
    root = unpacked / aip_root_name(dossier["aip_object_id"])
    assert [p.name for p in unpacked.iterdir()] == [root.name]
    check_aip_folder(root, originals)


def large_text_sip(directory: Path, dossier_code: str, size: int) -> tuple[Path, str]:
    """A SIP of one plain-text document of about ``size`` bytes; its path and the document's
    SHA-256."""
    document = directory / "so-lieu.txt"
    words = LEDGER_WORDS.split()
    rng = random.Random(size)
    pick = rng.choice
    with document.open("wb") as out:  # words in random order: compresses like real text
        written = 0
        while written < size:
            number = rng.getrandbits(64)
            line = (" ".join(pick(words) for _ in range(6)) + f" {number:x}\n").encode()
            written += out.write(line)
    sha256 = hashlib.sha256(document.read_bytes()).hexdigest()
    metadata = sample_metadata(documents=1, dossier_code=dossier_code)
    metadata["documents"][0].update(fileName=document.name, sha256=sha256)
    source = FileSource(lambda: document.open("rb"), document.stat().st_size, sha256)
    plain = parse_plain_metadata(metadata)
    manifest = build_sip(
        plain,
        {plain.documents[0].name: source},
        directory / f"{dossier_code}.zip",
        object_uuid=uuid4(),
        created=CREATED,
        fonds_code=FONDS_CODE,
    )
    assert manifest.location is not None
    return Path(manifest.location), sha256


def peak_rss_bytes(pid: int) -> int:
    """The process's peak resident set size since it started or since ``reset_peak_rss``."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) * 1024


def reset_peak_rss(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def test_a_large_aip_is_streamed_by_the_server_in_bounded_memory(
    server: ArchiveServer, tmp_path: Path
) -> None:
    """The AIP ZIP of a 48 MiB document leaves the server while its peak memory grows by a
    fraction of the ZIP's size: nothing is built whole, in memory or on disk."""
    code = DOSSIER_CODE.replace("-0001", "-0901")
    size = 48 * 1024 * 1024
    sip, sha256 = large_text_sip(tmp_path, code, size)
    depositor = server.client(server.create_key("depositor", AGENCY))
    auditor = server.client(server.create_key("auditor"))
    answer = depositor.post(
        "/api/v1/deposits", content=upload_chunks(sip), headers={"Content-Type": "application/zip"}
    )
    assert answer.status_code == 202, answer.text
    final = wait_for_final_status(depositor, answer.json()["deposit_id"])
    assert final["status"] == "archived", final
    pid = server.process.pid
    assert b"serve" in Path(f"/proc/{pid}/cmdline").read_bytes()
    staging = server.staging_once_emptied()

    reset_peak_rss(pid)
    before = peak_rss_bytes(pid)
    digest, received = hashlib.sha256(), 0
    with auditor.stream("GET", f"/api/v1/dossiers/{code}/aip") as response:
        assert response.status_code == 200
        target = tmp_path / "aip.zip"
        with target.open("wb") as out:
            for chunk in response.iter_bytes():
                received += len(chunk)
                out.write(chunk)
    growth = peak_rss_bytes(pid) - before

    # the ZIP is deflated: a server holding it whole would have grown by at least ``received``
    assert growth < received // 2, f"the server's peak memory grew by {growth} bytes"
    assert sorted(server.staging_dir.rglob("*")) == staging  # nothing spooled to disk
    with zipfile.ZipFile(target) as archive:
        (data,) = [n for n in archive.namelist() if "/representations/rep1/data/" in n]
        with archive.open(data) as stream:
            while chunk := stream.read(1024 * 1024):
                digest.update(chunk)
    assert digest.hexdigest() == sha256


def check_aip_folder(root: Path, originals: dict[str, bytes]) -> None:
    """Every XML valid against its schema; every METS reference has the right size and digest."""
    files = {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }
    validated = 0
    for path, data in files.items():
        schema = schema_for(path)
        if schema is not None:
            assert validate(parse_xml_bytes(data, path), schema, path) == [], path
            validated += 1
    assert validated >= 4 + DOCUMENTS  # METS ×2, EAD, TTHC, PREMIS …, one EAD_DOC per document
    referenced = set()
    mets_files = ["METS.xml", *(p for p in files if p.endswith("/METS.xml"))]
    for mets_path in mets_files:
        parsed, problems = read_mets(
            parse_xml_bytes(files[mets_path], mets_path).getroot(), mets_path
        )
        assert problems == [], mets_path
        for reference in parsed.references():
            assert reference.path in files, reference.href
            data = files[reference.path]
            assert reference.size == str(len(data)), reference.path
            assert reference.checksum == hashlib.sha256(data).hexdigest().upper(), reference.path
            referenced.add(reference.path)
    rep1 = {p.rsplit("/", 1)[-1]: d for p, d in files.items() if "representations/rep1/data/" in p}
    assert rep1 == originals
    assert referenced | {"METS.xml"} == set(files)
