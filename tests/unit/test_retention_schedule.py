"""The retention schedule file: the shipped starter schedule, the format, every refusal with its
line number, the procedure → sector → ``*`` lookup, and ``archive retention schedule …``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archive_service.cli import app
from archive_service.config import Settings
from retention.schedule import (
    SHIPPED_SCHEDULE,
    Schedule,
    ScheduleInvalid,
    ScheduleRow,
    Scope,
    load_schedule,
    parse_schedule,
    read_schedule,
)
from retention.terms import Term

HEADER = "procedure_code,retention,years,name,legal_basis,note\n"
PRELUDE = "# version: test-1\n" + HEADER  # the header is line 2, the first row line 3
BASIS = "Văn bản X Điều 1"


def parse(text: str) -> tuple[Schedule | None, list[tuple[int, str | None]]]:
    report = parse_schedule(text.encode("utf-8"), source="test.csv")
    return report.schedule, [(error.line, error.column) for error in report.errors]


def valid(text: str) -> Schedule:
    schedule, errors = parse(text)
    assert errors == [] and schedule is not None
    return schedule


# --- the shipped starter schedule -----------------------------------------------------------


def test_shipped_schedule_is_valid_and_is_the_default() -> None:
    report = read_schedule(SHIPPED_SCHEDULE)
    assert report.errors == ()
    assert Settings().retention_schedule_path == SHIPPED_SCHEDULE
    schedule = load_schedule(SHIPPED_SCHEDULE)
    assert schedule.version == "2025.1"
    assert schedule.sha256 == hashlib.sha256(SHIPPED_SCHEDULE.read_bytes()).hexdigest()
    assert all(row.legal_basis for row in schedule.rows)


def test_shipped_schedule_keeps_civil_status_registrations_permanently() -> None:
    schedule = load_schedule(SHIPPED_SCHEDULE)
    for procedure in ("1.001193", "1.000894", "1.000656"):  # khai sinh, kết hôn, khai tử
        row = schedule.row_for(procedure, "HT")
        assert row is not None and row.scope is Scope.PROCEDURE
        assert row.term == Term.of("01")
        assert "Thông tư 04/2020/TT-BTP" in row.legal_basis and "Điều 37" in row.legal_basis
    other_civil_status = schedule.row_for("1.999999", "HT")
    assert other_civil_status is not None and other_civil_status.key == "sector:HT"
    assert other_civil_status.term == Term.of("01")


def test_shipped_schedule_says_where_no_per_procedure_term_exists() -> None:
    schedule = load_schedule(SHIPPED_SCHEDULE)
    declared = [row for row in schedule.rows if row.term is None]
    assert {row.key for row in declared} >= {"sector:DD", "sector:XD", "sector:DKKD", "*"}
    for row in declared:
        assert "Không có quy định riêng theo thủ tục" in row.legal_basis
        assert row.note
    fallback = schedule.row_for(None, None)
    assert fallback is not None and fallback.key == "*" and fallback.retention == "declared"


# --- the format -----------------------------------------------------------------------------


def test_rows_are_read_with_their_lines_scopes_and_terms() -> None:
    schedule = valid(
        "# Bình luận đầu tệp: bị bỏ qua\n"
        "# version: 2025.2\n"
        "# effective: 2025-07-01\n"
        + HEADER
        + f'1.000894,01,,Đăng ký kết hôn,"{BASIS}, khoản 2",ghi chú\n'
        + "\n"
        + "# nhóm xây dựng\n"
        + f"sector:XD,07,15,Xây dựng,{BASIS},\n"
        + f"*,declared,,,{BASIS},\n"
    )
    assert schedule.version == "2025.2"
    assert schedule.effective == date(2025, 7, 1)
    assert [(row.line, row.key, row.scope, row.term) for row in schedule.rows] == [
        (5, "1.000894", Scope.PROCEDURE, Term("01", None)),
        (8, "sector:XD", Scope.SECTOR, Term("07", 15)),
        (9, "*", Scope.DEFAULT, None),
    ]
    assert schedule.rows[0].legal_basis == f"{BASIS}, khoản 2"
    assert schedule.rows[0].name == "Đăng ký kết hôn"
    assert schedule.rows[2].retention == "declared" and schedule.rows[2].years is None


def test_each_fixed_code_carries_its_own_years() -> None:
    body = "".join(f"sector:S{code},{code},,,{BASIS},\n" for code in ("01", "02", "03", "04", "05"))
    schedule = valid(PRELUDE + body + f"*,06,,,{BASIS},\n")
    assert [row.years for row in schedule.rows] == [None, 70, 50, 30, 20, 10]


def test_columns_in_any_order_without_name_with_bom_and_crlf() -> None:
    text = (
        "# version: 3\r\n"
        "note,legal_basis,retention,years,procedure_code\r\n"
        f"ghi chú,{BASIS},07,2,1.000001\r\n"
    )
    report = parse_schedule(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert report.errors == ()
    assert report.schedule is not None
    row = report.schedule.rows[0]
    assert (row.line, row.key, row.term, row.name, row.note) == (
        3,
        "1.000001",
        Term("07", 2),
        "",
        "ghi chú",
    )


def test_a_multi_line_cell_keeps_the_line_numbers_of_the_rows_after_it() -> None:
    schedule, errors = parse(
        PRELUDE
        + f'1.000001,01,,,{BASIS},"ghi chú\ndòng hai\ndòng ba"\n'  # lines 3-5
        + f"1.000002,09,,,{BASIS},\n"  # line 6
    )
    assert schedule is None
    assert errors == [(6, "retention")]


# --- refusals, each with its line -----------------------------------------------------------

REFUSED_ROWS = [
    pytest.param(f"1.000894,08,,,{BASIS},", "retention", id="unknown-code"),
    pytest.param(f"1.000894,7,,,{BASIS},", "retention", id="code-without-leading-zero"),
    pytest.param(f"1.000894,Declared,,,{BASIS},", "retention", id="declared-capitalised"),
    pytest.param(f"1.000894,07,,,{BASIS},", "years", id="07-without-years"),
    pytest.param(f"1.000894,07,1,,{BASIS},", "years", id="07-one-year"),
    pytest.param(f"1.000894,07,71,,{BASIS},", "years", id="07-71-years"),
    pytest.param(f"1.000894,07,mười,,{BASIS},", "years", id="07-years-not-a-number"),
    pytest.param(f"1.000894,07,-5,,{BASIS},", "years", id="07-negative-years"),
    pytest.param(f"1.000894,06,10,,{BASIS},", "years", id="years-for-06"),
    pytest.param(f"1.000894,01,5,,{BASIS},", "years", id="years-for-permanent"),
    pytest.param(f"1.000894,declared,5,,{BASIS},", "years", id="years-for-declared"),
    pytest.param("1.000894,06,,,,", "legal_basis", id="missing-legal-basis"),
    pytest.param("1.000894,06,,,   ,", "legal_basis", id="blank-legal-basis"),
    pytest.param(f"1.00089,06,,,{BASIS},", "procedure_code", id="code-too-short"),
    pytest.param(f"1000894,06,,,{BASIS},", "procedure_code", id="code-without-dot"),
    pytest.param(f"T-BPC-285172-TT,06,,,{BASIS},", "procedure_code", id="old-style-code"),
    pytest.param(f",06,,,{BASIS},", "procedure_code", id="code-empty"),
    pytest.param(f"sector:,06,,,{BASIS},", "procedure_code", id="sector-empty"),
    pytest.param(f'"sector:H T",06,,,{BASIS},', "procedure_code", id="sector-with-space"),
    pytest.param(f"**,06,,,{BASIS},", "procedure_code", id="double-star"),
    pytest.param(f"1.000894,06,,{BASIS},", None, id="too-few-cells"),
    pytest.param(f"1.000894,06,,,{BASIS},,x", None, id="too-many-cells"),
]


@pytest.mark.parametrize(("row", "column"), REFUSED_ROWS)
def test_a_bad_row_is_refused_with_its_line_and_column(row: str, column: str | None) -> None:
    good = f"1.000001,06,,,{BASIS},\n"
    schedule, errors = parse(PRELUDE + good + "# chú thích\n" + row + "\n" + good.replace("1", "2"))
    assert schedule is None
    assert errors == [(5, column)]


@pytest.mark.parametrize(
    "key", ["1.000894", "sector:HT", "*"], ids=["procedure", "sector", "default"]
)
def test_the_same_key_twice_is_refused_naming_the_first_line(key: str) -> None:
    report = parse_schedule(
        (PRELUDE + f"{key},06,,,{BASIS},\n" + f"{key},02,,,{BASIS},\n").encode(), "dup.csv"
    )
    assert [(e.line, e.column) for e in report.errors] == [(4, "procedure_code")]
    assert "dòng 3" in report.errors[0].message


def test_every_error_of_a_file_is_reported_in_line_order() -> None:
    _, errors = parse(
        PRELUDE
        + "x,09,,,,\n"  # line 3: code, retention, basis
        + f"1.000001,07,80,,{BASIS},\n"  # line 4: years
        + f"1.000001,01,,,{BASIS},\n"  # line 5: duplicate
    )
    assert errors == [
        (3, "procedure_code"),
        (3, "retention"),
        (3, "legal_basis"),
        (4, "years"),
        (5, "procedure_code"),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", [(1, None), (1, None)], id="empty-file"),
        pytest.param(HEADER + f"*,06,,,{BASIS},\n", [(1, None)], id="no-version"),
        pytest.param("# version:\n" + HEADER, [(1, None)], id="empty-version"),
        pytest.param(
            "# version: 1\n# effective: 01/07/2025\n" + HEADER, [(2, None)], id="bad-effective"
        ),
        pytest.param(
            "# version: 1\nprocedure_code,retention,years,legal_basis\n",
            [(2, None)],
            id="missing-column",
        ),
        pytest.param(
            "# version: 1\nprocedure_code,retention,years,legal_basis,note,term\n",
            [(2, None)],
            id="unknown-column",
        ),
        pytest.param(
            "# version: 1\nprocedure_code,retention,years,legal_basis,note,note\n",
            [(2, None)],
            id="repeated-column",
        ),
        pytest.param(
            PRELUDE + f'*,06,,,{BASIS},"ghi chú không đóng\n\n',
            [(3, None)],
            id="unterminated-quote",
        ),
    ],
)
def test_a_bad_file_is_refused(text: str, expected: list[tuple[int, str | None]]) -> None:
    schedule, errors = parse(text)
    assert schedule is None
    assert errors == expected


def test_bytes_that_are_not_utf8_are_refused_at_their_line() -> None:
    data = (PRELUDE + f"*,06,,,{BASIS},\n").encode() + b"1.000001,06,,,V\xe3n b\xe1n,\n"
    report = parse_schedule(data, "latin.csv")
    assert [(e.line, e.column) for e in report.errors] == [(4, None)]
    assert report.schedule is None


def test_load_schedule_refuses_a_file_with_errors_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "danh-muc.csv"
    path.write_text(PRELUDE + "1.000894,08,,,,\n", encoding="utf-8")
    with pytest.raises(ScheduleInvalid) as caught:
        load_schedule(path)
    assert caught.value.source == "danh-muc.csv"
    assert [(e.line, e.column) for e in caught.value.errors] == [
        (3, "retention"),
        (3, "legal_basis"),
    ]
    assert "danh-muc.csv:3 [retention]" in str(caught.value)


# --- lookup ---------------------------------------------------------------------------------

LOOKUP = valid(
    PRELUDE
    + f"1.000001,04,,,{BASIS},\n"
    + f"1.000002,declared,,,{BASIS},\n"
    + f"sector:HT,01,,,{BASIS},\n"
    + f"*,06,,,{BASIS},\n"
)


@pytest.mark.parametrize(
    ("procedure", "sector", "key"),
    [
        ("1.000001", "HT", "1.000001"),  # the procedure row wins over its sector's, though shorter
        ("1.000002", "HT", "1.000002"),  # a 'declared' procedure row also stops the fallback
        ("1.000003", "HT", "sector:HT"),
        ("1.000003", "ht", "*"),  # codes are matched exactly as written
        ("1.000003", "DD", "*"),
        (None, None, "*"),
        ("sector:HT", None, "*"),  # a procedure code is never read as a key of another kind
    ],
)
def test_lookup_goes_procedure_then_sector_then_default(
    procedure: str | None, sector: str | None, key: str
) -> None:
    row = LOOKUP.row_for(procedure, sector)
    assert row is not None and row.key == key


def test_without_a_default_row_an_unknown_procedure_has_no_row() -> None:
    schedule = valid(PRELUDE + f"sector:HT,01,,,{BASIS},\n")
    assert schedule.row_for("1.000001", "DD") is None
    assert isinstance(schedule.row_for("1.000001", "HT"), ScheduleRow)


# --- the command line -----------------------------------------------------------------------


def test_check_exits_0_for_a_valid_file(tmp_path: Path) -> None:
    path = tmp_path / "ok.csv"
    path.write_text(PRELUDE + f"*,06,,,{BASIS},\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["retention", "schedule", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert "HỢP LỆ" in result.output and "test-1" in result.output


def test_check_exits_1_listing_each_error_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(PRELUDE + f"*,06,,,{BASIS},\n1.000894,07,99,,,\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["retention", "schedule", "check", str(path)])
    assert result.exit_code == 1
    assert f"{path}:4 [years]" in result.output
    assert f"{path}:4 [legal_basis]" in result.output
    assert "KHÔNG HỢP LỆ: 2 lỗi" in result.output


def test_check_as_json_and_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(PRELUDE + "*,06,,,,\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["retention", "schedule", "check", "--json", str(path)])
    assert result.exit_code == 1
    payload = json.loads(result.output)
    assert payload["valid"] is False
    assert payload["errors"] == [
        {"line": 3, "column": "legal_basis", "message": payload["errors"][0]["message"]}
    ]
    missing = CliRunner().invoke(app, ["retention", "schedule", "check", str(tmp_path / "no.csv")])
    assert missing.exit_code == 2


def test_show_prints_the_configured_schedule_with_its_basis(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text(PRELUDE + f"1.000894,07,25,Kết hôn,{BASIS},ghi chú\n", encoding="utf-8")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVE_")}
    environment["ARCHIVE_RETENTION_SCHEDULE_PATH"] = str(path)
    shown = subprocess.run(
        [sys.executable, "-m", "archive_service.cli", "retention", "schedule", "show", "--json"],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    payload = json.loads(shown.stdout)
    assert payload["version"] == "test-1"
    assert payload["rows"] == [
        {
            "line": 3,
            "procedure_code": "1.000894",
            "scope": "procedure",
            "retention": "07",
            "years": 25,
            "name": "Kết hôn",
            "legal_basis": BASIS,
            "note": "ghi chú",
        }
    ]
    text = CliRunner().invoke(app, ["retention", "schedule", "show", "--file", str(path)])
    assert text.exit_code == 0
    assert "1.000894" in text.output and "25 năm" in text.output and BASIS in text.output
