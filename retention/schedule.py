"""The retention schedule as data: reading, validating and looking up the CSV file.

File format (UTF-8, a byte-order mark is tolerated)::

    # version: 2025.1
    # effective: 2025-07-01
    procedure_code,retention,years,name,legal_basis,note
    1.001193,01,,Đăng ký khai sinh,"Thông tư 04/2020/TT-BTP, Điều 37 khoản 1",…
    sector:HT,01,,Hộ tịch,…,…
    *,declared,,Mọi thủ tục khác,"Không có quy định riêng theo thủ tục; …",…

- Lines starting with ``#`` are comments. Before the header, ``# version: <text>`` (required)
  and ``# effective: <YYYY-MM-DD>`` (optional) describe the file; any other comment is ignored.
  A line inside a quoted multi-line cell must therefore not start with ``#``.
- Columns, in any order: ``procedure_code``, ``retention``, ``years``, ``legal_basis``,
  ``note`` (required) and ``name`` (optional, the procedure's or sector's name for people).
- ``procedure_code`` is a code of the national TTHC database (``1.000894``), or
  ``sector:<sector code>`` (as the TTHC system sends it in ``procedure/@sectorCode``), or ``*``.
  Codes are matched exactly as written.
- ``retention`` is ``01``–``07``, or ``declared``: the schedule adds no term of its own and the
  depositor's declaration stands. ``years`` is given for ``07`` only (2–70).
- ``legal_basis`` names the document and article; a ``declared`` row says there why no term is
  prescribed. It is never empty.

A dossier takes the row of its procedure code, else the row of its sector, else ``*``: the most
specific row wins even when it is shorter (``retention.policy`` then takes the longest of that
row, the declared term and the documents' terms). Every error is reported with its line number
(physical line of the file, counting comments); a file with any error is refused whole.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any

from archive_service.packages import codes
from retention.terms import OTHER_CODE, Term, years_allowed

#: The starter schedule shipped with the service (``Settings.retention_schedule_path``).
SHIPPED_SCHEDULE = Path(__file__).with_name("schedule.csv")

DECLARED = "declared"
DEFAULT_KEY = "*"
SECTOR_PREFIX = "sector:"
REQUIRED_COLUMNS = ("procedure_code", "retention", "years", "legal_basis", "note")
OPTIONAL_COLUMNS = ("name",)
#: A procedure code of the national TTHC database: one digit, a dot, six digits.
PROCEDURE_CODE = re.compile(r"^\d\.\d{6}$")
SECTOR_CODE = re.compile(r"^\S{1,100}$")
_METADATA = re.compile(r"^#\s*(version|effective)\s*:\s*(.*?)\s*$", re.IGNORECASE)


class Scope(StrEnum):
    """What a row's key matches: one procedure, a whole sector, or everything else."""

    PROCEDURE = "procedure"
    SECTOR = "sector"
    DEFAULT = "default"


@dataclass(frozen=True)
class ScheduleError:
    """One problem of a schedule file: its line, the column concerned, a message for people."""

    line: int
    column: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "column": self.column, "message": self.message}

    def describe(self, source: str) -> str:
        """``schedule.csv:12 [retention]: …``."""
        where = f"{source}:{self.line}" + (f" [{self.column}]" if self.column else "")
        return f"{where}: {self.message}"


class ScheduleInvalid(Exception):
    """A schedule file with errors; nothing of it is used."""

    def __init__(self, source: str, errors: Sequence[ScheduleError]) -> None:
        self.source = source
        self.errors = tuple(errors)
        shown = "; ".join(error.describe(source) for error in self.errors[:5])
        more = f" (và {len(self.errors) - 5} lỗi khác)" if len(self.errors) > 5 else ""
        super().__init__(
            f"Danh mục thời hạn bảo quản {source} có {len(self.errors)} lỗi: {shown}{more}"
        )


@dataclass(frozen=True)
class ScheduleRow:
    """One row: the key it matches, its term (``None`` for ``declared``), its legal basis."""

    line: int
    key: str
    scope: Scope
    term: Term | None
    legal_basis: str
    note: str = ""
    name: str = ""

    @property
    def retention(self) -> str:
        """The ``retention`` cell as written: ``01``–``07`` or ``declared``."""
        return DECLARED if self.term is None else self.term.code

    @property
    def years(self) -> int | None:
        return None if self.term is None else self.term.years

    def as_dict(self) -> dict[str, Any]:
        """The row as JSON-ready data; ``procedure_code`` is the key as written."""
        return {
            "line": self.line,
            "procedure_code": self.key,
            "scope": self.scope.value,
            "retention": self.retention,
            "years": self.years,
            "name": self.name,
            "legal_basis": self.legal_basis,
            "note": self.note,
        }

    def describe(self) -> str:
        """For people: ``dòng 12 (1.000894 — Đăng ký kết hôn)``."""
        name = f" — {self.name}" if self.name else ""
        return f"dòng {self.line} ({self.key}{name})"


@dataclass(frozen=True)
class Schedule:
    """A validated schedule: its version, the file it came from, its rows."""

    version: str
    rows: tuple[ScheduleRow, ...]
    effective: date | None = None
    source: str = ""
    sha256: str = ""
    _index: dict[str, ScheduleRow] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {row.key: row for row in self.rows})

    def as_dict(self) -> dict[str, Any]:
        """The schedule as JSON-ready data: version, file and its SHA-256, rows."""
        return {
            "version": self.version,
            "effective": self.effective.isoformat() if self.effective else None,
            "source": self.source,
            "sha256": self.sha256,
            "rows": [row.as_dict() for row in self.rows],
        }

    def row_for(self, procedure_code: str | None, sector_code: str | None) -> ScheduleRow | None:
        """The row that applies: the procedure's, else the sector's, else ``*``, else none."""
        wanted = [
            (Scope.PROCEDURE, procedure_code),
            (Scope.SECTOR, SECTOR_PREFIX + sector_code if sector_code else None),
            (Scope.DEFAULT, DEFAULT_KEY),
        ]
        for scope, key in wanted:
            row = self._index.get(key) if key else None
            if row is not None and row.scope is scope:
                return row
        return None


@dataclass(frozen=True)
class ScheduleReport:
    """What reading a schedule file found: the schedule when it has no error, and the errors."""

    source: str
    schedule: Schedule | None
    errors: tuple[ScheduleError, ...]

    @property
    def valid(self) -> bool:
        return not self.errors


def load_schedule(path: Path | str) -> Schedule:
    """Read and validate the schedule at ``path``; ``ScheduleInvalid`` when it has errors.

    ``OSError`` when the file cannot be read.
    """
    report = read_schedule(path)
    if report.schedule is None:
        raise ScheduleInvalid(report.source, report.errors)
    return report.schedule


def read_schedule(path: Path | str) -> ScheduleReport:
    """Read and validate the schedule at ``path``, reporting every error."""
    path = Path(path)
    return parse_schedule(path.read_bytes(), source=path.name)


def parse_schedule(data: bytes, source: str = "schedule.csv") -> ScheduleReport:
    """Validate the bytes of a schedule file (see the module docstring for the format)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        error = ScheduleError(line, None, "Tệp không phải văn bản UTF-8.")
        return ScheduleReport(source, None, (error,))
    parser = _Parser()
    parser.parse(text)
    if parser.errors:
        return ScheduleReport(source, None, tuple(sorted(parser.errors, key=lambda e: e.line)))
    schedule = Schedule(
        version=parser.version or "",
        rows=tuple(parser.rows),
        effective=parser.effective,
        source=source,
        sha256=hashlib.sha256(data).hexdigest(),
    )
    return ScheduleReport(source, schedule, ())


class _Parser:
    """Reads one schedule text, collecting rows and errors."""

    def __init__(self) -> None:
        self.version: str | None = None
        self.effective: date | None = None
        self.rows: list[ScheduleRow] = []
        self.errors: list[ScheduleError] = []
        self._header: list[str] | None = None
        self._first_line: dict[str, int] = {}

    def parse(self, text: str) -> None:
        for line, cells in self._records(text):
            if self._header is None:
                self._header = self._read_header(line, cells)
                if self._header is None:
                    return
            else:
                self._read_row(line, cells)
        if self._header is None:
            self._error(1, None, "Thiếu dòng tiêu đề cột: " + ",".join(REQUIRED_COLUMNS))
        if self.version is None:
            self._error(1, None, "Thiếu dòng phiên bản '# version: <phiên bản>' trước tiêu đề.")

    def _records(self, text: str) -> Iterator[tuple[int, list[str]]]:
        """CSV records with the physical line each starts on; comments read or skipped."""
        numbers: list[int] = []

        def lines() -> Iterator[str]:
            for number, line in enumerate(io.StringIO(text, newline=""), start=1):
                if line.startswith("#"):
                    if self._header is None:
                        self._read_metadata(number, line)
                    continue
                numbers.append(number)
                yield line

        reader = csv.reader(lines(), strict=True)
        while True:
            first = len(numbers)
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                line = numbers[first] if first < len(numbers) else (numbers or [1])[-1]
                self._error(line, None, f"Dòng CSV không đọc được: {exc}.")
                return
            if any(cell.strip() for cell in cells):
                yield numbers[first], [cell.strip() for cell in cells]

    def _read_metadata(self, line: int, text: str) -> None:
        match = _METADATA.match(text.rstrip("\r\n"))
        if match is None:
            return
        key, value = match.group(1).lower(), match.group(2)
        if key == "version":
            if not value:
                self._error(line, None, "Dòng '# version:' không ghi phiên bản.")
            self.version = value
            return
        try:
            self.effective = date.fromisoformat(value)
        except ValueError:
            self._error(line, None, f"Ngày hiệu lực {value!r} không đúng dạng YYYY-MM-DD.")

    def _read_header(self, line: int, cells: list[str]) -> list[str] | None:
        header = [cell.lower() for cell in cells]
        known = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
        problems = [f"cột lạ {name!r}" for name in header if name not in known]
        problems += [f"cột {name!r} lặp lại" for name in known if header.count(name) > 1]
        problems += [f"thiếu cột {name!r}" for name in REQUIRED_COLUMNS if name not in header]
        if problems:
            self._error(line, None, "Dòng tiêu đề sai: " + "; ".join(problems) + ".")
            return None
        return header

    def _read_row(self, line: int, cells: list[str]) -> None:
        assert self._header is not None
        if len(cells) != len(self._header):
            self._error(line, None, f"Dòng có {len(cells)} ô, tiêu đề có {len(self._header)} cột.")
            return
        values = dict(zip(self._header, cells, strict=True))
        errors_before = len(self.errors)
        key, scope = self._key(line, values["procedure_code"])
        term = self._term(line, values["retention"], values["years"])
        legal_basis = values["legal_basis"]
        if not legal_basis:
            self._error(
                line,
                "legal_basis",
                "Thiếu căn cứ pháp lý (văn bản và điều khoản, hoặc lý do không có quy định riêng).",
            )
        if key is not None:
            if key in self._first_line:
                self._error(
                    line,
                    "procedure_code",
                    f"Khóa {key!r} trùng với dòng {self._first_line[key]}: mỗi khóa một dòng.",
                )
            else:
                self._first_line[key] = line
        if len(self.errors) == errors_before and key is not None and scope is not None:
            self.rows.append(
                ScheduleRow(
                    line=line,
                    key=key,
                    scope=scope,
                    term=term,
                    legal_basis=legal_basis,
                    note=values["note"],
                    name=values.get("name", ""),
                )
            )

    def _key(self, line: int, text: str) -> tuple[str | None, Scope | None]:
        if text == DEFAULT_KEY:
            return text, Scope.DEFAULT
        if text.startswith(SECTOR_PREFIX):
            if SECTOR_CODE.match(text[len(SECTOR_PREFIX) :]):
                return text, Scope.SECTOR
            message = f"Mã lĩnh vực trống hoặc có khoảng trắng: {text!r}."
            self._error(line, "procedure_code", message)
            return None, None
        if PROCEDURE_CODE.match(text):
            return text, Scope.PROCEDURE
        self._error(
            line,
            "procedure_code",
            f"Mã thủ tục {text!r} sai dạng: cần mã CSDL quốc gia về TTHC (vd. 1.000894), "
            f"'{SECTOR_PREFIX}<mã lĩnh vực>' hoặc '{DEFAULT_KEY}'.",
        )
        return None, None

    def _term(self, line: int, retention: str, years_text: str) -> Term | None:
        fixed = retention == DECLARED or retention in codes.MAINTENANCE_YEARS
        if fixed:
            if years_text:
                self._error(line, "years", f"Mã {retention} không ghi số năm: để trống cột years.")
            return None if retention == DECLARED else Term.of(retention)
        if retention != OTHER_CODE:
            self._error(
                line,
                "retention",
                f"Mã thời hạn {retention!r} không có trong danh mục (01–07 hoặc '{DECLARED}').",
            )
            return None
        if not years_text:
            self._error(line, "years", "Mã 07 phải ghi số năm (2–70) ở cột years.")
            return None
        if not years_text.isdigit() or not years_allowed(int(years_text)):
            self._error(line, "years", f"Số năm {years_text!r} của mã 07 ngoài khoảng 2–70.")
            return None
        return Term.of(OTHER_CODE, int(years_text))

    def _error(self, line: int, column: str | None, message: str) -> None:
        self.errors.append(ScheduleError(line, column, message))
