"""``archive doctor``: reports the tools really installed on this machine, with their versions,
and refuses Ghostscript versions that destroy Vietnamese text."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archive_service.cli import app
from archive_service.formats.tools import ghostscript_warnings, parse_version

EXECUTABLES = {
    "ghostscript": ("gs",),
    "tesseract": ("tesseract",),
    "libreoffice": ("soffice", "libreoffice"),
    "clamscan": ("clamscan",),
    "verapdf": ("verapdf",),
}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    missing_socket = tmp_path_factory.mktemp("clamd") / "clamd.ctl"
    result = CliRunner().invoke(
        app, ["doctor", "--no-storage", "--json", "--clamd-socket", str(missing_socket)]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    tools = {tool["key"]: tool for tool in payload["tools"]}
    assert payload["missing"] == [key for key, tool in tools.items() if not tool["found"]]
    return tools


@pytest.mark.parametrize("key", sorted(EXECUTABLES))
def test_executable_found_exactly_when_it_is_on_path(
    report: dict[str, dict[str, object]], key: str
) -> None:
    location = next(filter(None, (shutil.which(name) for name in EXECUTABLES[key])), None)
    tool = report[key]

    assert tool["found"] is (location is not None)
    assert tool["location"] == location
    assert tool["enables"] and tool["when_missing"] and tool["install"]
    if location is None:
        assert tool["version"] is None and tool["usable"] is False


def test_ghostscript_version_and_verdict_match_the_installed_binary(
    report: dict[str, dict[str, object]],
) -> None:
    tool = report["ghostscript"]
    location = shutil.which("gs")
    if location is None:
        assert tool["found"] is False
        return
    installed = subprocess.run([location, "--version"], capture_output=True, text=True).stdout
    assert tool["version"] == installed.strip()
    old = parse_version(installed)[:2] < (10, 3)  # type: ignore[index]
    assert tool["usable"] is not old
    assert bool(tool["warnings"]) is old


def test_clamscan_reports_engine_version(report: dict[str, dict[str, object]]) -> None:
    location = shutil.which("clamscan")
    if location is None:
        assert report["clamscan"]["found"] is False
        return
    line = subprocess.run([location, "--version"], capture_output=True, text=True).stdout
    engine = line.removeprefix("ClamAV ").split("/")[0].strip()
    assert report["clamscan"]["version"] == engine


def test_clamd_socket_that_does_not_exist_is_missing(report: dict[str, dict[str, object]]) -> None:
    assert (report["clamd"]["found"], report["clamd"]["usable"]) == (False, False)


def test_python_validator_is_reported(report: dict[str, dict[str, object]]) -> None:
    tool = report["pikepdf-pdfa"]

    assert tool["found"] is True and tool["usable"] is True
    assert parse_version(str(tool["version"])) >= (10, 18)  # type: ignore[operator]


def test_text_output_lists_every_tool_and_what_is_missing(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["doctor", "--no-storage", "--clamd-socket", str(tmp_path / "none")]
    )

    assert result.exit_code == 0
    for name in ("Ghostscript", "Tesseract OCR", "LibreOffice", "ClamAV (clamscan)", "veraPDF"):
        assert name in result.output
    assert "Thiếu: " in result.output and "ClamAV (clamd)" in result.output.split("Thiếu: ")[1]


@pytest.mark.parametrize(
    ("version", "refused"),
    [("10.00.0", True), ("10.02.1", True), ("9.56.1", True), (None, True), ("10.03.0", False),
     ("10.05.1", False), ("11.0", False)],
)  # fmt: skip
def test_ghostscript_older_than_10_03_is_refused(version: str | None, refused: bool) -> None:
    warnings = ghostscript_warnings(version)

    assert bool(warnings) is refused
    if refused and version:
        assert version in warnings[0] and "tiếng Việt" in warnings[0]
