"""Plain deposit: the ``metadata`` JSON of a multipart deposit, its defaults and its checks.

The JSON (one object)::

    {
      "dossier":   {"title": "…", "maintenance": "06", …},     EAD.xml fields by tag (§4)
      "tthc":      {"dossierCode": "…", "procedure": {…}, …},   TTHC facts by element/attribute
      "documents": [{"name": "<form part>", "typeName": "02", …, "sha256": "<hex>"}, …]
    }

A document entry holds ``name`` (the form part that carries the file), optionally ``kind``
(``doc`` default, ``pic`` photograph, ``media`` audio/video), ``fileName`` (the original file name,
used only for its extension) and ``sha256`` (verified while the file is copied), and otherwise the
fields of its metadata file by tag (§5). Field values are text; JSON numbers and booleans are
accepted and written as text (``true`` → ``"1"``).

**Decisions — derived values.** What the depositor leaves out is derived, never guessed:

- ``fileCode`` = ``<receivingAgency.id>.<year of endDate>.<YYMMDD-NNNN of the dossier code>``,
  e.g. ``000.00.19.H56.2024.240610-0001`` (agency id + year formed + file number, as §4 asks);
- ``docId`` = ``<YYMMDD-NNNN>.<n>`` (``240610-0001.1``; at most 25 characters, and the data file's
  name); ``docCode`` = ``<fileCode>.<n as 7 digits>``; ``maintenance`` = the dossier's;
- ``totalDoc`` = the number of documents (a different declared value is an error);
  ``numberOfPage`` = the sum of the documents' ``numberOfPage`` when not given.

Every problem found is reported with code ``PLAIN_METADATA_INVALID`` and the JSON path of the value
(``dossier.endDate``, ``documents[2].issuedDate``, ``tthc.history[0].at``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from archive_service.packages import fields
from archive_service.packages.ead import check_document_conditionals, document_code, document_specs
from archive_service.packages.models import DocumentKind, TthcFacts
from archive_service.packages.problems import PackageInvalid, Problem, ProblemCode, Severity
from archive_service.packages.tthc import parse_dossier_code
from archive_service.streams import FileSource, path_opener

#: Form part that carries the JSON; problems name it as their ``path``.
METADATA_PART = "metadata"
#: A docId becomes a file name: letters, digits, ``.``, ``_``, ``-`` only.
DOC_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

_DOCUMENT_KEYS = {"name", "kind", "fileName", "file_name", "sha256", "fields"}


def _as_text(value: Any) -> Any:
    """JSON scalar → field text; anything else is left for validation to refuse."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _texts(values: Any) -> Any:
    if isinstance(values, Mapping):
        return {key: _as_text(value) for key, value in values.items() if value is not None}
    return values


class PlainDocument(BaseModel):
    """One document of a plain deposit: its form part, kind, optional checksum and its fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1, description="form part name of the file")
    kind: DocumentKind = DocumentKind.DOC
    file_name: str | None = Field(None, alias="fileName")
    sha256: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$")
    fields: dict[str, str] = Field(default_factory=dict, description="metadata fields by tag")

    @model_validator(mode="before")
    @classmethod
    def _gather_fields(cls, data: Any) -> Any:
        """Accept the flat JSON shape: every key that is not reserved is a metadata field."""
        if isinstance(data, Mapping) and "fields" not in data:
            gathered = {key: value for key, value in data.items() if key in _DOCUMENT_KEYS}
            gathered["fields"] = {k: v for k, v in data.items() if k not in _DOCUMENT_KEYS}
            return gathered
        return data

    @field_validator("fields", mode="before")
    @classmethod
    def _field_texts(cls, value: Any) -> Any:
        return _texts(value)

    @field_validator("sha256")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return value.lower() if value else value

    @model_serializer(mode="wrap")
    def _flatten(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        dumped = handler(self)
        flat = {
            key: value for key, value in dumped.items() if key != "fields" and value is not None
        }
        flat.update(self.fields)
        return flat


class PlainDeposit(BaseModel):
    """The ``metadata`` JSON of a plain deposit (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dossier: dict[str, str]
    tthc: TthcFacts
    documents: list[PlainDocument] = Field(min_length=1)

    @field_validator("dossier", mode="before")
    @classmethod
    def _dossier_texts(cls, value: Any) -> Any:
        return _texts(value)

    @classmethod
    def from_json_bytes(cls, data: bytes | str) -> PlainDeposit:
        """Read the metadata JSON; raises ``PackageInvalid`` (see ``parse_plain_metadata``)."""
        return parse_plain_metadata(data)

    def to_json(self) -> str:
        """The JSON a depositor sends (flat documents, TTHC by alias)."""
        return self.model_dump_json(by_alias=True, exclude_none=True)


@dataclass(frozen=True)
class PlannedDocument:
    """A document with its effective metadata (defaults applied)."""

    part: str
    kind: DocumentKind
    values: dict[str, str]
    sha256: str | None
    file_name: str | None

    @property
    def doc_id(self) -> str:
        return self.values.get("docId", "")


@dataclass(frozen=True)
class DepositPlan:
    """What the SIP will say: EAD.xml values, documents and TTHC facts, defaults applied."""

    dossier_values: dict[str, str]
    documents: tuple[PlannedDocument, ...]
    tthc: TthcFacts

    @property
    def file_code(self) -> str:
        return self.dossier_values.get("fileCode", "")


def metadata_problem(json_path: str, message: str, severity: Severity = Severity.ERROR) -> Problem:
    """A ``PLAIN_METADATA_INVALID`` problem at ``json_path`` of the metadata JSON."""
    return Problem(
        ProblemCode.PLAIN_METADATA_INVALID,
        METADATA_PART,
        f"Phần '{METADATA_PART}', {json_path}: {message}",
        json_path,
        severity,
    )


def parse_plain_metadata(data: bytes | str | Mapping[str, Any]) -> PlainDeposit:
    """Read the metadata JSON; raises ``PackageInvalid`` naming every bad JSON path."""
    if isinstance(data, bytes | str):
        try:
            data = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise PackageInvalid(
                [metadata_problem("$", f"không phải JSON hợp lệ ({exc})")]
            ) from exc
    try:
        return PlainDeposit.model_validate(data)
    except ValidationError as exc:
        raise PackageInvalid([_validation_problem(error) for error in exc.errors()]) from exc


def files_from_folder(deposit: PlainDeposit, folder: Path) -> dict[str, FileSource]:
    """The files of a deposit kept in a folder: each document's ``fileName``, else its ``name``.

    Only declared documents are looked up; a file that is absent (or a name that would leave the
    folder) is left out, so the builder reports it as ``PLAIN_FILE_MISSING``.
    """
    root = folder.resolve()
    found: dict[str, FileSource] = {}
    for document in deposit.documents:
        for candidate in (document.file_name, document.name):
            path = (root / candidate).resolve() if candidate else None
            if path is not None and path.is_relative_to(root) and path.is_file():
                found[document.name] = _path_source(path)
                break
    return found


def _path_source(path: Path) -> FileSource:
    return FileSource(open=path_opener(path), size=path.stat().st_size)


_ERROR_TEXT = {
    "missing": "thiếu giá trị bắt buộc",
    "extra_forbidden": "khóa không có trong mẫu",
    "string_type": "phải là chuỗi ký tự",
    "dict_type": "phải là một đối tượng JSON",
    "model_type": "phải là một đối tượng JSON",
    "list_type": "phải là một danh sách",
    "too_short": "không được rỗng",
    "string_too_short": "không được rỗng",
    "string_pattern_mismatch": "không đúng định dạng",
    "enum": "không thuộc các giá trị cho phép",
}


def _validation_problem(error: Any) -> Problem:
    path = json_path(error["loc"])
    text = _ERROR_TEXT.get(error["type"], "giá trị không hợp lệ")
    if error["type"] != "missing":
        text += f" (nhận được {str(error.get('input'))[:80]!r}; {error['msg']})"
    return metadata_problem(path, text)


def json_path(loc: tuple[int | str, ...]) -> str:
    """``('documents', 1, 'fields', 'issuedDate')`` → ``documents[1].issuedDate``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part != "fields":
            path += f".{part}" if path else str(part)
    return path or "$"


def plan_deposit(deposit: PlainDeposit) -> tuple[DepositPlan, list[Problem]]:
    """Apply the defaults and check every field; the plan is only usable without errors."""
    problems: list[Problem] = []
    dossier_values, underivable = _effective_dossier(deposit)
    problems += _field_problems(
        "dossier",
        dossier_values,
        fields.DOSSIER_FIELDS,
        underivable,
        rules=fields.check_conditionals,
    )
    declared_total = deposit.dossier.get("totalDoc")
    if declared_total and declared_total != str(len(deposit.documents)):
        problems.append(
            metadata_problem(
                "dossier.totalDoc",
                f"khai báo {declared_total} tài liệu nhưng có {len(deposit.documents)} tài liệu",
            )
        )
    documents = tuple(
        _effective_document(deposit, dossier_values, n) for n in range(len(deposit.documents))
    )
    for index, document in enumerate(documents):
        problems += _document_problems(deposit, index, document)
    problems += _uniqueness_problems(documents)
    problems += _tthc_problems(deposit.tthc, {d.doc_id for d in documents})
    return DepositPlan(dossier_values, documents, deposit.tthc), problems


def _effective_dossier(deposit: PlainDeposit) -> tuple[dict[str, str], dict[str, str]]:
    """Dossier values with defaults, and why a required value could not be derived."""
    values = dict(deposit.dossier)
    underivable: dict[str, str] = {}
    if not values.get("fileCode"):
        code = parse_dossier_code(deposit.tthc.dossier_code)
        end = fields.parse_date(values.get("endDate", ""))
        if code is None:
            underivable["fileCode"] = _not_national("fileCode", deposit.tthc.dossier_code)
        elif end is None:
            underivable["fileCode"] = (
                "không khai báo fileCode và không suy ra được vì thiếu endDate hợp lệ"
            )
        else:
            values["fileCode"] = (
                f"{deposit.tthc.receiving_agency.id}.{end.year}.{code.day_sequence}"
            )
    values.setdefault("totalDoc", str(len(deposit.documents)))
    # Photographs and recordings have no pages; a document without them is reported on its own.
    pages = [d.fields["numberOfPage"] for d in deposit.documents if "numberOfPage" in d.fields]
    if "numberOfPage" not in values and all(p.isascii() and p.isdigit() for p in pages):
        values["numberOfPage"] = str(sum(int(p) for p in pages))
    return values, underivable


def _not_national(tag: str, dossier_code: str) -> str:
    return (
        f"không khai báo {tag} và không suy ra được vì mã hồ sơ TTHC '{dossier_code}' "
        "không có dạng <mã đơn vị>-<YYMMDD>-<NNNN>"
    )


def _effective_document(
    deposit: PlainDeposit, dossier: Mapping[str, str], index: int
) -> PlannedDocument:
    source = deposit.documents[index]
    ordinal = index + 1
    values = dict(source.fields)
    code = parse_dossier_code(deposit.tthc.dossier_code)
    if not values.get("docId") and code is not None:
        values["docId"] = f"{code.day_sequence}.{ordinal}"
    if not values.get("docCode") and dossier.get("fileCode"):
        values["docCode"] = document_code(dossier["fileCode"], ordinal)
    if not values.get("maintenance") and dossier.get("maintenance"):
        values["maintenance"] = dossier["maintenance"]
    return PlannedDocument(source.name, source.kind, values, source.sha256, source.file_name)


def _field_problems(
    prefix: str,
    values: Mapping[str, str],
    specs: tuple[fields.FieldSpec, ...],
    underivable: Mapping[str, str],
    *,
    rules: Callable[[Mapping[str, Sequence[str]], str], list[Problem]],
) -> list[Problem]:
    """Field-table checks and ``rules`` between fields of ``values``, at ``<prefix>.<tag>``."""
    as_lists = {tag: [value] for tag, value in values.items()}
    found = fields.check_fields(as_lists, specs, METADATA_PART) + rules(as_lists, METADATA_PART)
    problems = []
    for problem in found:
        tag = problem.field or ""
        message = underivable.get(tag, problem.message)
        problems.append(metadata_problem(f"{prefix}.{tag}", message, problem.severity))
    return problems


def _document_problems(
    deposit: PlainDeposit, index: int, document: PlannedDocument
) -> list[Problem]:
    prefix = f"documents[{index}]"
    underivable = {}
    if "docId" not in document.values:
        underivable["docId"] = _not_national("docId", deposit.tthc.dossier_code)
    if "docCode" not in document.values:
        underivable["docCode"] = "không khai báo docCode và không suy ra được vì thiếu fileCode"
    specs = document_specs(document.kind, aip=False)
    problems = _field_problems(
        prefix, document.values, specs, underivable, rules=check_document_conditionals
    )
    doc_id = document.doc_id
    if doc_id and not DOC_ID_PATTERN.match(doc_id):
        problems.append(
            metadata_problem(
                f"{prefix}.docId",
                f"docId '{doc_id}' dùng làm tên tệp nên chỉ được gồm chữ cái, chữ số, "
                "'.', '_', '-'",
            )
        )
    return problems


def _uniqueness_problems(documents: tuple[PlannedDocument, ...]) -> list[Problem]:
    problems = []
    seen_parts: set[str] = set()
    seen_ids: set[str] = set()
    for index, document in enumerate(documents):
        if document.part in seen_parts:
            problems.append(
                metadata_problem(
                    f"documents[{index}].name", f"phần tệp '{document.part}' được khai báo hai lần"
                )
            )
        if document.doc_id and document.doc_id in seen_ids:
            problems.append(
                metadata_problem(f"documents[{index}].docId", f"docId '{document.doc_id}' bị trùng")
            )
        seen_parts.add(document.part)
        seen_ids.add(document.doc_id)
    return problems


def _tthc_problems(facts: TthcFacts, doc_ids: set[str]) -> list[Problem]:
    problems = []
    moments: list[tuple[str, datetime | None]] = [
        (f"tthc.{tag}", getattr(facts, tag)) for tag in ("received", "due", "finished", "returned")
    ]
    moments += [(f"tthc.history[{i}].at", step.at) for i, step in enumerate(facts.history)]
    for path, moment in moments:
        if moment is not None and moment.tzinfo is None:
            problems.append(
                metadata_problem(
                    path, "thời điểm phải ghi kèm múi giờ, ví dụ 2024-06-10T08:15:00+07:00"
                )
            )
    for index, result in enumerate(facts.results):
        if result.doc_id not in doc_ids:
            problems.append(
                metadata_problem(
                    f"tthc.results[{index}].docId",
                    f"kết quả {result.code} trỏ tới docId '{result.doc_id}' không có trong "
                    "documents",
                )
            )
    return problems
