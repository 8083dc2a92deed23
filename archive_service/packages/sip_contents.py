"""The files of a SIP as its checks read them, and what every check shares.

``PackageContents`` reads each file at most once: digests are kept, XML files are hashed while
they are parsed (through ``xmlsafe``) and their root element is checked. A file that cannot be
read is reported once; callers get ``None`` and skip what depends on it.

``SipCheck`` is the base of the parts of the SIP check (METS, files, descriptive metadata,
documents, TTHC): each adds its problems to the one list the reading of a SIP accumulates.
"""

from __future__ import annotations

import unicodedata
from typing import BinaryIO, cast

from lxml import etree

from archive_service.config import PackageLimits
from archive_service.packages.container import PackageReadError, PackageSource
from archive_service.packages.models import PackageFile
from archive_service.packages.problems import Problem, ProblemCode, Severity
from archive_service.packages.schemas import ROOT_ELEMENTS, SchemaName
from archive_service.packages.xmlsafe import UnsafeXml, parse_xml
from archive_service.streams import HashingReader, sha256_of_stream


class PackageContents:
    """Reads package files at most once: digests are kept, XML is hashed while it is parsed."""

    def __init__(self, source: PackageSource, limits: PackageLimits, report: list[Problem]):
        self._source = source
        self._limits = limits
        self._report = report
        self._names = set(source.names())
        self._by_key = {unicodedata.normalize("NFC", name): name for name in self._names}
        self._digests: dict[str, tuple[str, int] | None] = {}

    @property
    def root_name(self) -> str:
        """Name of the package's root folder."""
        return self._source.root_name

    def names(self) -> set[str]:
        return set(self._names)

    def find(self, path: str) -> str | None:
        """The package's name for ``path`` (also when the two differ only by normalisation)."""
        if path in self._names:
            return path
        return self._by_key.get(unicodedata.normalize("NFC", path))

    def size(self, path: str) -> int:
        return self._source.size(path)

    def digest(self, path: str) -> tuple[str, int] | None:
        """(lower-case SHA-256, size) of a file, streamed once; ``None`` if it cannot be read."""
        if path not in self._digests:
            try:
                with self._source.open(path) as stream:
                    self._digests[path] = sha256_of_stream(stream)
            except PackageReadError as failure:
                self._unreadable(path, failure)
        return self._digests[path]

    def xml(self, path: str, schema: SchemaName) -> etree._Element | None:
        """Parse an XML file safely and check its root element; ``None`` (reported) on failure."""
        if self.size(path) > self._limits.max_xml_bytes:
            self._report.append(
                Problem(
                    ProblemCode.XML_TOO_LARGE,
                    path,
                    f"Tệp XML '{path}' dài {self.size(path)} byte, vượt giới hạn "
                    f"{self._limits.max_xml_bytes} byte",
                )
            )
            return None
        try:
            with self._source.open(path) as stream:
                reader = HashingReader(stream)
                try:
                    tree = parse_xml(cast(BinaryIO, reader), path, self._limits.max_xml_bytes)
                finally:
                    if path not in self._digests and not reader.read(1):
                        self._digests[path] = (reader.sha256, reader.size)
        except UnsafeXml as unsafe:
            self._report.append(unsafe.problem)
            return None
        except PackageReadError as failure:
            self._unreadable(path, failure)
            return None
        root = tree.getroot()
        wrong = root_problem(root, schema, path)
        if wrong:
            self._report.append(wrong)
            return None
        return root

    def head(self, path: str, max_bytes: int) -> bytes | None:
        """At most ``max_bytes + 1`` bytes of a small file; ``None`` (reported) if unreadable."""
        try:
            with self._source.open(path) as stream:
                return stream.read(max_bytes + 1)
        except PackageReadError as failure:
            self._unreadable(path, failure)
            return None

    def package_file(self, path: str, mime_type: str | None) -> PackageFile | None:
        digest = self.digest(path)
        if digest is None:
            return None
        return PackageFile(path=path, size=digest[1], sha256=digest[0], mime_type=mime_type)

    def _unreadable(self, path: str, failure: PackageReadError) -> None:
        self._digests[path] = None
        self._report.append(failure.problem)


def root_problem(root: etree._Element, schema: SchemaName, path: str) -> Problem | None:
    """The problem of a root element that is not the one ``schema`` expects, if any."""
    expected = etree.QName(ROOT_ELEMENTS[schema])
    found = etree.QName(root)
    if found.text == expected.text:
        return None
    if found.localname == expected.localname:
        return Problem(
            ProblemCode.XML_WRONG_NAMESPACE,
            path,
            f"{path}: phần tử gốc <{found.localname}> phải thuộc không gian tên "
            f"'{expected.namespace or '(không có)'}', gặp '{found.namespace or '(không có)'}'",
        )
    return Problem(
        ProblemCode.XML_WRONG_ROOT,
        path,
        f"{path}: phần tử gốc phải là <{expected.localname}>, gặp <{found.localname}>",
    )


class SipCheck:
    """A part of the SIP check: reads through ``contents``, adds what it finds to ``problems``."""

    def __init__(self, contents: PackageContents, problems: list[Problem]) -> None:
        self.contents = contents
        self.problems = problems

    def add(
        self,
        code: ProblemCode,
        path: str,
        message: str,
        field_name: str | None = None,
        severity: Severity = Severity.ERROR,
    ) -> None:
        self.problems.append(Problem(code, path, message, field_name, severity))
