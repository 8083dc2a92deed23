"""``archive deposit``, the real command in a subprocess, against a real ``archive serve``.

What a depositing clerk or script relies on: the exit status (0 archived, 1 rejected or refused,
2 not carried out), the receipt (deposit id, dossier code, status, SHA-256 and size received,
every problem with its code, path and message), a progress bar only on a terminal, and an upload
streamed from disk rather than read into memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import pty
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from uuid import uuid4

import httpx
import pytest

from archive_service.db.session import Database
from archive_service.ingest.client import DepositClient
from archive_service.ingest.models import Deposit, WaitingFor
from archive_service.ingest.status import start_waiting, stop_waiting
from tests.factories import make_sip_zip as _make_sip_zip
from tests.factories import sample_deposit, sample_metadata
from tests.integration.api_client import ArchiveServer, start_server
from tests.integration.sip_mutations import EAD, SipEditor, data_path
from tests.s3server.servers import closed_port
from tests.service_stack import AGENCY_ID, redis_database

pytestmark = pytest.mark.slow

ARCHIVE = [sys.executable, "-m", "archive_service.cli"]
#: The CLI, reporting its own peak resident set size (KiB) on stderr when it exits.
ARCHIVE_MEASURED = [
    sys.executable,
    "-c",
    "import atexit, resource, sys\n"
    "atexit.register(lambda: sys.stderr.write("
    "f'PEAK_RSS_KIB {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\\n'))\n"
    "from archive_service.cli import app\n"
    "app()",
]
_codes = iter(range(1, 10_000))


def dossier_code() -> str:
    """A dossier code not used by any other test of this module."""
    return f"{AGENCY_ID}-240610-{next(_codes):04d}"


def make_sip(directory: Path) -> Path:
    """A valid SIP ZIP of a new dossier (2 documents)."""
    directory.mkdir(parents=True, exist_ok=True)
    return _make_sip_zip(directory, documents=2, dossier_code=dossier_code())


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArchiveServer]:
    running = start_server(tmp_path_factory.mktemp("deposit-client") / "archive-data")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def depositor_key(server: ArchiveServer) -> str:
    return server.create_key("depositor", AGENCY_ID)


def environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without ``ARCHIVE_*`` settings, plus ``extra``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVE_")}
    return {**base, **(extra or {})}


def deposit(
    *args: str,
    url: str | None = None,
    key: str | None = None,
    env: Mapping[str, str] | None = None,
    command: list[str] = ARCHIVE,
) -> subprocess.CompletedProcess[str]:
    """Run ``archive deposit ARGS`` (with ``--url``/``--key`` when given)."""
    options = [*(["--url", url] if url else []), *(["--key", key] if key else [])]
    return subprocess.run(
        [*command, "deposit", *args, *options],
        capture_output=True,
        text=True,
        env=environment(env),
        timeout=300,
        check=False,
    )


def test_a_sip_is_archived_and_its_receipt_printed(
    server: ArchiveServer, depositor_key: str, tmp_path: Path
) -> None:
    sip = make_sip(tmp_path)
    done = deposit(str(sip), url=server.base_url, key=depositor_key)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = dict(line.split(":", 1) for line in done.stdout.splitlines() if ":" in line)
    deposit_id = lines["Mã giao nộp"].strip()
    assert lines["Trạng thái"].strip() == "archived (đã lưu trữ)"
    assert lines["Mã hồ sơ"].strip().startswith(AGENCY_ID)
    assert f"{sip.stat().st_size} byte, SHA-256 {sha256_of(sip)}" in done.stdout
    assert "Tải lên" not in done.stderr  # not a terminal: no progress bar
    with server.client(depositor_key) as client:
        answer = client.get(f"/api/v1/deposits/{deposit_id}").json()
    assert answer["status"] == "archived"
    assert answer["sha256"] == sha256_of(sip)


def test_the_url_and_key_come_from_the_environment_and_a_repeat_is_the_same_deposit(
    server: ArchiveServer, depositor_key: str, tmp_path: Path
) -> None:
    sip = make_sip(tmp_path)
    env = {"ARCHIVE_URL": server.base_url, "ARCHIVE_API_KEY": depositor_key}
    first = deposit(str(sip), "--json", "--idempotency-key", f"k-{uuid4()}", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    receipt = json.loads(first.stdout)
    assert receipt["status"] == "archived"
    assert receipt["received"] == [
        {"name": sip.name, "sha256": sha256_of(sip), "size": sip.stat().st_size}
    ]
    assert receipt["problems"] == []
    again = deposit(str(sip), "--json", env=env)  # the same bytes from the same agency
    assert again.returncode == 0, again.stdout + again.stderr
    assert json.loads(again.stdout)["deposit_id"] == receipt["deposit_id"]


def test_a_rejected_sip_lists_every_problem_and_exits_1(
    server: ArchiveServer, depositor_key: str, tmp_path: Path
) -> None:
    code = dossier_code()
    good = _make_sip_zip(tmp_path, documents=2, dossier_code=code)
    editor = SipEditor(good.read_bytes())
    doc_file = data_path(f"{code.split('-', 1)[1]}.1")
    changed = bytearray(editor.get(doc_file))
    changed[len(changed) // 2] ^= 0xFF  # same size, other bytes
    editor.set(doc_file, bytes(changed), refresh=False)
    editor.set_field(EAD, "mode", "09")  # not in the code list
    sip = editor.write(tmp_path / "bad.zip")

    as_json = deposit(str(sip), "--json", url=server.base_url, key=depositor_key)
    assert as_json.returncode == 1, as_json.stdout + as_json.stderr
    receipt = json.loads(as_json.stdout)
    assert receipt["status"] == "rejected"
    found = {(p["code"], p["path"]) for p in receipt["problems"]}
    assert {("SIP_CHECKSUM_MISMATCH", doc_file), ("FIELD_BAD_CODE", EAD)} <= found, found
    assert all(p["message"] for p in receipt["problems"])

    readable = deposit(str(sip), url=server.base_url, key=depositor_key)  # same SIP: same deposit
    assert readable.returncode == 1
    assert "rejected (bị từ chối)" in readable.stdout
    assert f"Vấn đề ({len(receipt['problems'])}):" in readable.stdout
    for problem in receipt["problems"]:
        assert f"{problem['code']}  {problem['path']}" in readable.stdout
        assert problem["message"] in readable.stdout


def test_a_second_sip_of_an_archived_dossier_is_refused_with_409(
    server: ArchiveServer, depositor_key: str, tmp_path: Path
) -> None:
    code = dossier_code()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = _make_sip_zip(tmp_path / "a", documents=2, dossier_code=code)
    second = _make_sip_zip(tmp_path / "b", documents=2, dossier_code=code, object_uuid=uuid4())
    assert deposit(str(first), url=server.base_url, key=depositor_key).returncode == 0
    refused = deposit(str(second), "--json", url=server.base_url, key=depositor_key)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    answer = json.loads(refused.stdout)
    assert answer["http_status"] == 409
    assert answer["error"]["code"] == "DUPLICATE_DOSSIER"
    assert code in answer["error"]["message"]


def test_a_plain_deposit_sends_the_metadata_and_each_file(
    server: ArchiveServer, depositor_key: str, tmp_path: Path
) -> None:
    code = dossier_code()
    plain, sources = sample_deposit(documents=3, dossier_code=code)
    folder = tmp_path / "files"
    folder.mkdir()
    expected = []
    for document in plain.documents:
        name = document.file_name or document.name
        with sources[document.name].open() as stream:
            data = stream.read()
        (folder / name).write_bytes(data)
        sha256 = hashlib.sha256(data).hexdigest()
        expected.append({"name": document.name, "sha256": sha256, "size": len(data)})
    metadata = tmp_path / "deposit.json"
    metadata.write_text(json.dumps(sample_metadata(documents=3, dossier_code=code)), "utf-8")

    done = deposit(
        "--metadata",
        str(metadata),
        "--files",
        str(folder),
        "--json",
        url=server.base_url,
        key=depositor_key,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    receipt = json.loads(done.stdout)
    assert receipt["status"] == "archived"
    assert receipt["dossier_code"] == code
    by_part = sorted(receipt["received"], key=lambda item: item["name"])
    assert by_part == expected  # one entry per form part, as the archive received it


def test_a_wrong_key_is_told_plainly_and_exits_2(server: ArchiveServer, tmp_path: Path) -> None:
    done = deposit(str(make_sip(tmp_path)), url=server.base_url, key="ak_not-a-real-key")
    assert done.returncode == 2
    assert "khóa API không hợp lệ" in done.stderr
    assert done.stdout == ""


def test_an_unreachable_server_or_missing_settings_exit_2(tmp_path: Path) -> None:
    sip = make_sip(tmp_path)
    with closed_port() as refused:
        port = refused.getsockname()[1]
        unreachable = deposit(str(sip), url=f"http://127.0.0.1:{port}", key="ak_x")
    assert unreachable.returncode == 2
    assert "không kết nối được tới máy chủ lưu trữ" in unreachable.stderr
    no_key = deposit(str(sip), url=f"http://127.0.0.1:{port}")
    assert no_key.returncode == 2
    assert "ARCHIVE_API_KEY" in no_key.stderr
    missing = deposit(str(tmp_path / "absent.zip"), url="http://127.0.0.1:1", key="ak_x")
    assert missing.returncode == 2
    assert "absent.zip" in missing.stderr


def on_terminal(
    args: list[str], on_output: Callable[[str], None] | None = None
) -> tuple[int, str, str]:
    """Run ``archive ARGS`` with its standard error on a terminal: (exit status, standard
    output, what the terminal showed). ``on_output`` is given the screen so far at each read."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [*ARCHIVE, *args],
        stdout=subprocess.PIPE,
        stderr=terminal,
        env=environment({"TERM": "xterm", "COLUMNS": "120"}),
    )
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal is gone: the command has ended
            break
        if not chunk:
            break
        shown += chunk
        if on_output is not None:
            on_output(shown.decode("utf-8", "replace"))
    os.close(controller)
    status = process.wait(60)
    assert process.stdout is not None
    return status, process.stdout.read().decode(), shown.decode("utf-8", "replace")


def test_a_terminal_sees_an_upload_progress_bar_and_the_status_changes(
    server: ArchiveServer, depositor_key: str, tmp_path: Path
) -> None:
    sip = make_sip(tmp_path)
    status, output, screen = on_terminal(
        ["deposit", str(sip), "--url", server.base_url, "--key", depositor_key]
    )
    assert status == 0
    assert "archived" in output
    assert "Tải lên" in screen
    assert "archived (đã lưu trữ)" in screen


@pytest.fixture(scope="module")
def idle_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArchiveServer]:
    """A server with a broker but no worker: its deposits stay ``received``."""
    with redis_database() as broker_url:
        folder = tmp_path_factory.mktemp("idle") / "archive-data"
        running = start_server(folder, {"ARCHIVE_BROKER_URL": broker_url})
        try:
            yield running
        finally:
            running.stop()


def set_wait(server: ArchiveServer, deposit_id: str, what: WaitingFor | None) -> None:
    """Make the deposit wait for ``what`` (or for nothing), as the pipeline records a wait."""
    database = Database(server.database_url)
    try:
        with database.session() as session:
            deposit = session.get_one(Deposit, deposit_id)
            if what is None:
                stop_waiting(deposit)
            else:
                start_waiting(deposit, what)
    finally:
        database.dispose()


def test_a_long_poll_answers_when_a_wait_begins_and_when_it_ends(
    idle_server: ArchiveServer, tmp_path: Path
) -> None:
    key = idle_server.create_key("depositor", AGENCY_ID)
    with DepositClient(idle_server.base_url, key) as client:
        deposit_id = client.submit_zip(make_sip(tmp_path)).deposit_id
    with idle_server.client(key) as http:
        for what in (WaitingFor.STORAGE, None):
            # The change comes a second after the request, which by then waits for news.
            change = threading.Timer(1.0, set_wait, (idle_server, deposit_id, what))
            asked = time.monotonic()
            change.start()
            answer = http.get(f"/api/v1/deposits/{deposit_id}", params={"wait": 60})
            change.join()
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert (body["status"], body["waiting_for"]) == ("received", what)
            # at the change, not when its 60 seconds ran out (the status never changed)
            assert time.monotonic() - asked < 30


def test_a_terminal_sees_what_a_deposit_waits_for_and_a_timeout_names_it(
    idle_server: ArchiveServer, tmp_path: Path
) -> None:
    key = idle_server.create_key("depositor", AGENCY_ID)
    seen: list[str] = []

    def make_it_wait(screen: str) -> None:
        found = re.search(r"Giao nộp ([0-9a-f-]{36}): received", screen)
        if found and not seen:
            seen.append(found.group(1))
            set_wait(idle_server, found.group(1), WaitingFor.STORAGE)

    sip = make_sip(tmp_path)
    status, _, screen = on_terminal(
        ["deposit", str(sip), "--timeout", "10", "--url", idle_server.base_url, "--key", key],
        on_output=make_it_wait,
    )
    assert seen and status == 2, screen
    # shown while it waits, and named by the time-out
    assert "received (đã nhận) — đang chờ (một tiến trình khác đang ghi gói AIP" in screen
    assert f"giao nộp {seen[0]} vẫn ở trạng thái 'received', chờ 'storage' từ 20" in screen


def test_the_upload_is_streamed_from_disk_not_read_into_memory(
    server: ArchiveServer, depositor_key: str, tmp_path: Path
) -> None:
    size = 192 * 1024 * 1024

    def peak_rss_sending(name: str, length: int) -> int:
        """Peak RSS (bytes) of `archive deposit` sending a sparse file of ``length`` bytes."""
        path = tmp_path / name
        with path.open("wb") as out:  # sparse: nothing to write, everything to send
            out.truncate(length)
        done = deposit(
            str(path), "--json", url=server.base_url, key=depositor_key, command=ARCHIVE_MEASURED
        )
        assert done.returncode == 1, done.stdout + done.stderr  # not a ZIP: rejected
        receipt = json.loads(done.stdout)
        assert receipt["received"][0]["size"] == length
        assert [p["code"] for p in receipt["problems"]] == ["SIP_NOT_ZIP"]
        return int(done.stderr.rsplit("PEAK_RSS_KIB", 1)[1].split()[0]) * 1024

    # The command's own footprint (interpreter and imports) is measured on a 1 MiB upload; the
    # 192 MiB upload may add buffers, never the file.
    baseline = peak_rss_sending("small.zip", 1024 * 1024)
    assert peak_rss_sending("big.zip", size) - baseline < size // 4


class _Recording(httpx.HTTPTransport):
    """A real HTTP transport that keeps every request it sent."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return super().handle_request(request)


def test_a_client_without_status_display_waits_for_the_end_in_one_long_poll(
    server: ArchiveServer, depositor_key: str, tmp_path: Path
) -> None:
    transport = _Recording()
    with DepositClient(server.base_url, depositor_key, transport=transport) as client:
        first = client.submit_zip(make_sip(tmp_path))
        final = client.wait(first, timeout=120)
    assert final.status == "archived" and final.dossier_code
    post, *gets = transport.requests
    assert post.method == "POST" and gets and all(get.method == "GET" for get in gets)
    # received → checking → packaging → storing → archived, without an answer in between
    # (a second long poll only if the first ran out of time on a slow machine)
    assert len(gets) <= 2, [str(get.url) for get in gets]
    assert all(get.url.params.get("until") == "final" for get in gets)


def test_waiting_gives_up_after_the_timeout_and_says_where_the_deposit_is(
    idle_server: ArchiveServer, tmp_path: Path
) -> None:
    key = idle_server.create_key("depositor", AGENCY_ID)
    done = deposit(str(make_sip(tmp_path)), "--timeout", "1", url=idle_server.base_url, key=key)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "hết 1 giây chờ" in done.stderr
    assert "'received'" in done.stderr
