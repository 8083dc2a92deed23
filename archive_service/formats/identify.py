"""Identify a document by its content, and check it against the accepted list and its name.

``identify`` reads the head and tail of a file (and, for containers, a few small parts) — never
the whole file — and says what the file is: MIME type, format name and version, PRONOM id,
whether the format is accepted and whether the declared extension and media type (the METS
``MIMETYPE``) fit. Problems carry stable
codes and Vietnamese messages that name the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple

import pikepdf

from archive_service.formats import signatures
from archive_service.formats.catalogue import (
    ACCEPTED_EXTENSIONS,
    FORMATS,
    PDF_PRONOM,
    PDFA_PRONOM,
    FormatKind,
    FormatSpec,
    declared_type_fits,
    declared_type_names_another_format,
    extension_of,
    formats_with_extension,
)
from archive_service.formats.containers import inspect_ole, inspect_zip
from archive_service.formats.pdfa_claim import read_xmp
from archive_service.formats.signatures import Match
from archive_service.formats.text import decode_text, text_match
from archive_service.packages.problems import Problem, ProblemCode, Severity

HEAD_BYTES = 64 * 1024
TAIL_BYTES = 65_535 + 22  # a ZIP end record with the longest comment

Source = str | os.PathLike[str] | BinaryIO

_REASONS = {
    "pdf-encrypted": "không mở được tệp khi không có mật khẩu nên không thể kiểm tra, chuyển đổi "
    "hay bảo quản",
    "doc-encrypted": "tài liệu được mã hoá nên không thể kiểm tra, chuyển đổi hay bảo quản",
    "office-encrypted": "tài liệu được mã hoá nên không thể kiểm tra, chuyển đổi hay bảo quản",
    "empty": "tệp không có nội dung",
}


class IdentificationProblem(NamedTuple):
    """A (code, message, severity); ``as_problems`` turns it into a package ``Problem``."""

    code: ProblemCode
    message: str
    severity: Severity = Severity.ERROR


@dataclass(frozen=True)
class Identification:
    """What a file is, by content, and whether the archive accepts it under its declared name."""

    file_name: str
    format_key: str
    kind: FormatKind
    mime_type: str
    format_name: str
    pronom_id: str | None
    format_version: str | None
    extension_ok: bool
    accepted: bool
    problems: tuple[IdentificationProblem, ...]

    @property
    def ok(self) -> bool:
        """Accepted and named with a fitting extension and type (warnings aside)."""
        return not any(problem.severity is Severity.ERROR for problem in self.problems)

    def as_problems(self, path: str) -> list[Problem]:
        """The problems as package problems located at ``path``."""
        return [
            Problem(problem.code, path, problem.message, severity=problem.severity)
            for problem in self.problems
        ]


def identify(
    source: Source, declared_name: str | None = None, declared_type: str | None = None
) -> Identification:
    """Identify a file (a path, or a seekable binary stream) declared under ``declared_name``
    and, when given, as the media type ``declared_type``.

    A stream is read from its start and left at the position it had.
    """
    if declared_name is None:
        if isinstance(source, str | os.PathLike):
            declared_name = Path(source).name
        else:
            declared_name = str(getattr(source, "name", "") or "")
    with _opened(source) as stream:
        match = _sniff(stream, extension_of(declared_name))
    return _judge(match, declared_name, declared_type)


@contextmanager
def _opened(source: Source) -> Iterator[BinaryIO]:
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as stream:
            yield stream
        return
    if not source.seekable():
        raise ValueError("identify() needs a path or a seekable stream")
    position = source.tell()
    try:
        yield source
    finally:
        source.seek(position)


def _sniff(stream: BinaryIO, extension: str) -> Match:
    stream.seek(0)
    head = stream.read(HEAD_BYTES)
    if not head:
        return Match("empty")
    found = signatures.pdf(head)
    if found:
        return _pdf_details(stream, found)
    if signatures.is_zip(head):
        container = inspect_zip(stream, _tail(stream))
        return Match(container.key, container.version, container.pronom_id)
    if signatures.is_ole2(head):
        container = inspect_ole(stream)
        return Match(container.key, container.version, container.pronom_id)
    for sniffer in signatures.BINARY_SNIFFERS:
        found = sniffer(head)
        if found:
            return found
    text = decode_text(head)
    if text is not None:
        return text_match(text, extension)
    return Match("unknown")


def _tail(stream: BinaryIO) -> bytes:
    size = stream.seek(0, os.SEEK_END)
    stream.seek(max(0, size - TAIL_BYTES))
    return stream.read(TAIL_BYTES)


def _pdf_details(stream: BinaryIO, header: Match) -> Match:
    """PDF version from the header; PDF/A claim from the XMP; refused when a password is needed."""
    version = header.version or ""
    stream.seek(0)
    try:  # no recovery: rebuilding a damaged cross-reference table reads the whole file
        with pikepdf.open(stream, attempt_recovery=False) as pdf:
            claim = read_xmp(pdf).claim
    except pikepdf.PasswordError:
        return Match("pdf-encrypted", version, PDF_PRONOM.get(version))
    except Exception:  # damaged or hostile: still a PDF by its header; validation says more
        claim = None
    if claim is not None and claim.flavour:
        return Match("pdf", claim.flavour, PDFA_PRONOM.get(claim.flavour), "PDF/A")
    return Match("pdf", version, PDF_PRONOM.get(version))


def _judge(match: Match, declared_name: str, declared_type: str | None) -> Identification:
    spec = FORMATS[match.key]
    extension = extension_of(declared_name)
    extension_ok = extension in spec.extensions
    name = match.name or spec.name
    problems: list[IdentificationProblem] = []
    claims_known_format = spec.key != "unknown" or formats_with_extension(extension)
    if not extension_ok and spec.key != "empty" and claims_known_format:
        problems.append(_mismatch(declared_name, extension, spec, name))
    if spec.accepted and not declared_type_fits(spec, declared_type):
        problems.append(_declared_type(declared_name, declared_type or "", spec, name))
    if not spec.accepted and not (spec.key == "unknown" and problems):
        problems.append(_not_accepted(declared_name, spec, name))
    return Identification(
        file_name=declared_name,
        format_key=spec.key,
        kind=spec.kind,
        mime_type=spec.mime_type,
        format_name=name,
        pronom_id=match.pronom_id or spec.pronom_id,
        format_version=match.version,
        extension_ok=extension_ok,
        accepted=spec.accepted,
        problems=tuple(problems),
    )


def _mismatch(file_name: str, extension: str, spec: FormatSpec, name: str) -> IdentificationProblem:
    fitting = ", ".join(f".{ext}" for ext in spec.extensions)
    advice = f"; phần mở rộng phù hợp: {fitting}" if fitting else ""
    if spec.key == "unknown":
        claimed_specs = formats_with_extension(extension)
        named = [s for s in claimed_specs if s.accepted] or claimed_specs
        claimed = " hoặc ".join(sorted({s.name for s in named}))
        message = (
            f"Tệp {file_name}: phần mở rộng '.{extension}' cho biết đây là {claimed} nhưng nội "
            "dung không phải định dạng đó (không nhận diện được định dạng của nội dung)"
        )
    elif not extension:
        message = f"Tệp {file_name} không có phần mở rộng; nội dung là {name}{advice}"
    else:
        message = (
            f"Tệp {file_name}: nội dung là {name} nhưng phần mở rộng là '.{extension}'{advice}"
        )
    return IdentificationProblem(ProblemCode.FORMAT_MISMATCH, message)


def _declared_type(
    file_name: str, declared_type: str, spec: FormatSpec, name: str
) -> IdentificationProblem:
    """The type of another format: a mismatch (error); a type the archive does not list: a
    warning, the identified type being what the AIP records."""
    said = f"Tệp {file_name}: được khai báo là '{declared_type}' (MIMETYPE trong METS)"
    if declared_type_names_another_format(spec, declared_type):
        return IdentificationProblem(
            ProblemCode.FORMAT_MISMATCH, f"{said} nhưng nội dung là {name} ({spec.mime_type})"
        )
    return IdentificationProblem(
        ProblemCode.FORMAT_DECLARED_TYPE,
        f"{said}, kiểu không có trong danh mục; nội dung là {name}, ghi là {spec.mime_type}",
        Severity.WARNING,
    )


def _not_accepted(file_name: str, spec: FormatSpec, name: str) -> IdentificationProblem:
    reason = _REASONS.get(spec.key)
    accepted = ", ".join(ext.upper() for ext in ACCEPTED_EXTENSIONS)
    message = f"Tệp {file_name}: {name} không thuộc danh mục định dạng được chấp nhận"
    if reason:
        message = f"Tệp {file_name}: {name} — {reason}"
    return IdentificationProblem(
        ProblemCode.FORMAT_NOT_ACCEPTED, f"{message} (chấp nhận: {accepted})"
    )
