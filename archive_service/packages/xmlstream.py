"""Streaming XML: write a document one element at a time into a binary stream.

Files that can describe many documents (PREMIS, the METS files of an AIP) are written into an
``lxml.etree.xmlfile`` element by element, so memory does not grow with the size of the dossier.
Elements are built in memory with the usual lxml calls, written, then detached from their
parent. The same elements always give the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

from lxml import etree

#: The declaration every package XML starts with.
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


class BinaryWriter(Protocol):
    """Where a document is written: anything with ``write(bytes)``."""

    def write(self, data: bytes, /) -> Any: ...


def attributes(element: etree._Element) -> dict[str, str]:
    """An element's attributes in document order (Clark names)."""
    return {str(name): str(value) for name, value in element.attrib.items()}


def write_element(
    xf: Any,
    element: etree._Element,
    *,
    depth: int = 1,
    in_scope: Mapping[str | None, str] | None = None,
) -> None:
    """Write an element tree built in memory into an open ``xmlfile``, indented by ``depth``.

    ``in_scope`` holds the namespaces the enclosing ``xf.element`` calls declared; unlike
    ``xf.write(element)``, they are not declared again on every element.
    """
    scope = in_scope or {}
    new = {prefix: uri for prefix, uri in element.nsmap.items() if scope.get(prefix) != uri}
    indent = "\n" + "  " * depth
    xf.write(indent)
    with xf.element(element.tag, element.attrib, nsmap=new or None):
        if element.text:
            xf.write(element.text)
        children = [child for child in element if isinstance(child.tag, str)]
        child_scope = {**scope, **new} if new else scope
        for child in children:
            write_element(xf, child, depth=depth + 1, in_scope=child_scope)
        if children:
            xf.write(indent)


class XmlStream:
    """An XML document being written one element at a time (made by ``xml_document``).

    Elements are built in memory with the usual lxml calls, written, then detached from their
    parent, so only the element being written is ever held.
    """

    def __init__(self, xf: Any, nsmap: Mapping[str | None, str]) -> None:
        self._xf = xf
        self._nsmap = dict(nsmap)
        self._depth = 1

    def emit(self, element: etree._Element) -> None:
        """Write a complete element (and its children), then drop it from its parent."""
        write_element(self._xf, element, depth=self._depth, in_scope=self._nsmap)
        _detach(element)

    @contextmanager
    def open(self, element: etree._Element) -> Iterator[etree._Element]:
        """Write ``element``'s start tag (attributes only); what is emitted inside goes in it."""
        indent = "\n" + "  " * self._depth
        self._xf.write(indent)
        with self._xf.element(element.tag, attributes(element)):
            self._depth += 1
            try:
                yield element
            finally:
                self._depth -= 1
            self._xf.write(indent)
        _detach(element)


def _detach(element: etree._Element) -> None:
    parent = element.getparent()
    if parent is not None:
        parent.remove(element)


@contextmanager
def xml_document(
    out: BinaryWriter,
    tag: str,
    attrib: Mapping[str, str],
    nsmap: Mapping[str | None, str],
) -> Iterator[XmlStream]:
    """Write an XML document with root ``tag`` into ``out``; the body is written via the stream."""
    out.write(XML_DECLARATION)
    with (
        etree.xmlfile(out, encoding="UTF-8") as xf,
        xf.element(tag, dict(attrib), nsmap=dict(nsmap)),
    ):
        yield XmlStream(xf, nsmap)
        xf.write("\n")
    out.write(b"\n")
