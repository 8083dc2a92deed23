"""Offline XML Schema validation of package metadata against the XSDs bundled in ``schemas/``.

Each schema is compiled once per process. Every file a schema imports or includes must be a file
inside ``schemas/``: a network location (http, https, ftp …) or a file elsewhere makes loading
fail with ``SchemaLocationRefused``, so nothing is ever fetched from outside.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote, urlsplit

from lxml import etree

from archive_service.packages.problems import Problem, ProblemCode
from archive_service.streams import FileSource, bytes_source

_XS = "http://www.w3.org/2001/XMLSchema"


class SchemaName(StrEnum):
    """The schemas metadata files are validated against; the value is the XSD file name."""

    METS = "mets1_12.xsd"
    PREMIS = "premis.xsd"
    EAD = "ead.xsd"
    EAD_DOC = "ead_doc.xsd"
    EAD_PIC = "ead_pic.xsd"
    EAD_MEDIA = "ead_media.xsd"
    TTHC = "tthc.xsd"


#: The root element each kind of metadata file must have (Clark notation).
ROOT_ELEMENTS: dict[SchemaName, str] = {
    SchemaName.METS: "{http://www.loc.gov/METS/}mets",
    SchemaName.PREMIS: "{http://www.loc.gov/premis/v3}premis",
    SchemaName.EAD: "simpledc",
    SchemaName.EAD_DOC: "simpledc",
    SchemaName.EAD_PIC: "simpledc",
    SchemaName.EAD_MEDIA: "simpledc",
    SchemaName.TTHC: "{urn:vn:archive:tthc:1}tthc",
}

_PACKAGE_SCHEMA_FILES = (
    "mets1_12.xsd",
    "xlink.xsd",
    "DILCISExtensionMETS.xsd",
    "DILCISExtensionSIPMETS.xsd",
    "ead.xsd",
    "ead_doc.xsd",
    "ead_pic.xsd",
    "ead_media.xsd",
    "tthc.xsd",
)
_PREMIS_FILE = "premis.xsd"


class SchemaLocationRefused(Exception):
    """A schema referred to a location outside the bundled ``schemas/`` folder."""

    def __init__(self, location: str) -> None:
        self.location = location
        super().__init__(f"schema location refused (only files in schemas/ are read): {location}")


def schemas_dir() -> Path:
    """The folder of bundled XSDs: ``schemas/`` at the repository root.

    The service runs from a source checkout or an editable install, where this is the folder next
    to the ``archive_service`` package.
    """
    return Path(__file__).resolve().parents[2] / "schemas"


def schema_files(*, with_premis: bool = True) -> list[Path]:
    """The XSDs a package's ``schemas/`` folder must hold (``premis.xsd`` only in an AIP)."""
    names = [*_PACKAGE_SCHEMA_FILES, _PREMIS_FILE] if with_premis else list(_PACKAGE_SCHEMA_FILES)
    return [schemas_dir() / name for name in names]


@functools.cache
def aip_schema_sources() -> tuple[tuple[Path, FileSource], ...]:
    """The XSDs of an AIP's ``schemas/`` folder, read once per process (261 KB) and served from
    memory with their size and SHA-256: every AIP holds the same bytes, and a file changed on
    disk under a running service cannot make an AIP's copy differ from its digest."""
    return tuple((path, bytes_source(path.read_bytes())) for path in schema_files(with_premis=True))


class LocalOnlyResolver(etree.Resolver):
    """Resolves schema imports and includes to files inside one folder, and refuses the rest."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self._root = root.resolve()
        self.refused: list[str] = []

    def local_path(self, location: str) -> Path:
        """The file ``location`` names inside the folder; raises ``SchemaLocationRefused``."""
        parts = urlsplit(location)
        if parts.scheme not in ("", "file") or parts.netloc:
            raise SchemaLocationRefused(location)
        path = Path(unquote(parts.path)).resolve()
        if not path.is_relative_to(self._root) or not path.is_file():
            raise SchemaLocationRefused(location)
        return path

    def resolve(  # type: ignore[override]  # lxml passes a context its stubs omit
        self, system_url: str, public_id: str, context: Any
    ) -> Any:
        try:
            path = self.local_path(system_url)
        except SchemaLocationRefused:
            # lxml turns an exception raised here into a vague load error: remember the location.
            self.refused.append(system_url)
            raise
        return self.resolve_filename(str(path), context)  # type: ignore[attr-defined]


def load_schema(path: Path) -> etree.XMLSchema:
    """Compile the XSD at ``path``, reading only files in its folder; never touches the network."""
    return _load(path)[0]


def _load(path: Path) -> tuple[etree.XMLSchema, etree._ElementTree]:
    resolver = LocalOnlyResolver(path.parent)
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    parser.resolvers.add(resolver)
    try:
        document = etree.parse(str(path), parser)
        schema = etree.XMLSchema(document)
    except (etree.XMLSchemaParseError, etree.XMLSyntaxError, OSError):
        if resolver.refused:
            raise SchemaLocationRefused(resolver.refused[0]) from None
        raise
    if resolver.refused:  # libxml2 may skip an import it could not load and still succeed
        raise SchemaLocationRefused(resolver.refused[0])
    return schema, document


@dataclass(frozen=True)
class _Hints:
    """What a schema document tells about itself that makes messages readable."""

    abstract_names: frozenset[str]  # elements never found in files: left out of name lists
    descriptions: dict[str, str]  # simple type name or pattern → its Vietnamese documentation

    @classmethod
    def read(cls, document: etree._ElementTree) -> _Hints:
        abstract = frozenset(
            element.get("name", "")
            for element in document.iter(f"{{{_XS}}}element")
            if element.get("abstract") == "true"
        )
        descriptions: dict[str, str] = {}
        for simple_type in document.iter(f"{{{_XS}}}simpleType"):
            text = simple_type.findtext(f"{{{_XS}}}annotation/{{{_XS}}}documentation")
            if not text:
                continue
            descriptions[simple_type.get("name", "")] = text.strip()
            for pattern in simple_type.iterfind(f"{{{_XS}}}restriction/{{{_XS}}}pattern"):
                descriptions[pattern.get("value", "")] = text.strip()
        return cls(abstract, descriptions)


@dataclass
class _Compiled:
    schema: etree.XMLSchema
    hints: _Hints
    lock: threading.Lock  # an XMLSchema keeps the last error log: one validation at a time


_cache: dict[SchemaName, _Compiled] = {}
_cache_lock = threading.Lock()


def _compiled(name: SchemaName) -> _Compiled:
    with _cache_lock:
        if name not in _cache:
            schema, document = _load(schemas_dir() / name.value)
            _cache[name] = _Compiled(schema, _Hints.read(document), threading.Lock())
        return _cache[name]


def compile_all() -> None:
    """Compile every bundled schema now rather than at its first use (a process about to
    validate packages pays the cost once, before its first deposit)."""
    for name in SchemaName:
        _compiled(name)


def validate(
    tree: etree._ElementTree | etree._Element, schema: SchemaName, path: str
) -> list[Problem]:
    """Validate a parsed metadata file against a bundled schema; one problem per schema error.

    ``path`` is the file's path inside the package, used in the messages. A root element other
    than the one ``schema`` describes is reported too.
    """
    compiled = _compiled(schema)
    with compiled.lock:
        valid = compiled.schema.validate(tree)
        log = [] if valid else cast(Iterable[Any], compiled.schema.error_log)
        entries = [(int(entry.line), str(entry.message)) for entry in log]
    problems = [_problem(line, message, schema, path, compiled.hints) for line, message in entries]
    root = tree.getroot() if isinstance(tree, etree._ElementTree) else tree
    if not problems and root.tag != ROOT_ELEMENTS[schema]:
        problems.append(_wrong_root(root, schema, path))
    return problems


def _wrong_root(root: etree._Element, schema: SchemaName, path: str) -> Problem:
    """A root the schema declares but that is not the file's root (a PREMIS <object> alone …)."""
    local = etree.QName(root).localname
    line = _at_line(cast(int | None, root.sourceline))
    expected = _plain(ROOT_ELEMENTS[schema])
    return Problem(
        ProblemCode.XML_SCHEMA_INVALID,
        path,
        f"{path}{line}, phần tử <{local}>: phần tử gốc phải là <{expected}> "
        f"(lược đồ {schema.value})",
        local,
    )


_ENTRY = re.compile(r"^Element '(?P<element>[^']*)'(?:, attribute '(?P<attribute>[^']*)')?: ")
_NAMESPACE = re.compile(r"\{[^{}\s]*:[^{}\s]*\}")
_EXPECTED = r" Expected is (?:one of )?\( (.*) \)\."

#: libxml2 validation messages and their Vietnamese reading: ``{0}``… are the message's groups;
#: ``{names}`` reads the last group as a list of element names, ``{expected}`` as a type name or
#: pattern, described by the schema's own documentation where it has one.
_TRANSLATIONS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.DOTALL), template)
    for pattern, template in (
        (
            r"\[facet 'maxLength'\] The value has a length of '(\d+)'; this exceeds the allowed "
            r"maximum length of '(\d+)'\.",
            "dài {0} ký tự, tối đa {1}",
        ),
        (r"\[facet 'minLength'\] The value has a length of '0'; .*", "không được để trống"),
        (
            r"\[facet 'enumeration'\] The value '(.*)' is not an element of the set \{(.*)\}\.",
            "giá trị '{0}' không thuộc danh mục {{{1}}}",
        ),
        (
            r"\[facet 'pattern'\] The value '(.*)' is not accepted by the pattern '(.*)'\.",
            "giá trị '{0}' sai định dạng, cần: {expected}",
        ),
        (
            r"'(.*)' is not a valid value of the (?:local )?(?:atomic|union|list) type '(.*)'\.",
            "giá trị '{0}' không hợp lệ, cần: {expected}",
        ),
        (
            r"The value '(.*)' does not match the fixed value constraint '(.*)'\.",
            "giá trị '{0}' phải là '{1}'",
        ),
        (
            r"This element is not expected\." + _EXPECTED,
            "phần tử không được phép ở vị trí này (có thể là: {names})",
        ),
        (r"This element is not expected\.", "phần tử không có trong lược đồ hoặc bị lặp lại"),
        (
            r"Missing child element\(s\)\." + _EXPECTED,
            "thiếu phần tử con bắt buộc (phần tử có thể có tiếp: {names})",
        ),
        (r"Missing child element\(s\)\.", "thiếu phần tử con bắt buộc"),
        (r"The attribute '(.*)' is required but missing\.", "thiếu thuộc tính bắt buộc '{0}'"),
        (r"The attribute '(.*)' is not allowed\.", "thuộc tính '{0}' không được phép"),
        (
            r"No matching global declaration available for the validation root\.",
            "phần tử gốc không đúng (sai tên hoặc sai namespace)",
        ),
        (
            r"No match found for key-sequence \['(.*)'\] of keyref '(\w+)_requires_(\w+)'\.",
            "chỉ dùng được khi có <{2}> (trường của bản {0})",
        ),
        (
            r"Element content is not allowed, because the content type is a simple type "
            r"definition\.",
            "không được chứa phần tử con",
        ),
        (
            r"Character content other than whitespace is not allowed because the content type "
            r"is 'element-only'\.",
            "chỉ được chứa phần tử con, không chứa văn bản",
        ),
    )
)


def _problem(line: int, message: str, schema: SchemaName, path: str, hints: _Hints) -> Problem:
    message = message.strip()
    match = _ENTRY.match(message)
    element = etree.QName(match["element"]).localname if match else None
    detail = message[match.end() :] if match else message
    where = f"{path}{_at_line(line)}"
    if match and element:
        where += f", phần tử <{element}>"
        if match["attribute"]:
            where += f", thuộc tính {_plain(match['attribute'])}"
    text = f"{where}: {_translate(detail, hints)} (lược đồ {schema.value})"
    return Problem(ProblemCode.XML_SCHEMA_INVALID, path, text, element)


def _translate(detail: str, hints: _Hints) -> str:
    for pattern, template in _TRANSLATIONS:
        found = pattern.fullmatch(detail)
        if found:
            groups = [_plain(group) for group in found.groups()]
            last = groups[-1] if groups else ""
            names = [name.strip() for name in last.split(",")]
            shown = ", ".join(name for name in names if name not in hints.abstract_names)
            expected = hints.descriptions.get(last, f"kiểu/mẫu {last}")
            return template.format(*groups, names=shown, expected=expected)
    return f"không đúng lược đồ: {_plain(detail)}"


def _plain(text: str) -> str:
    """Drop the ``{namespace}`` prefixes from the names in a libxml2 message."""
    return _NAMESPACE.sub("", text)


def _at_line(line: int | None) -> str:
    return f", dòng {line}" if line else ""
