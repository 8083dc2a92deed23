"""Streaming XML: write a document one element at a time into a binary stream.

Files that can describe many documents (PREMIS, the METS files of an AIP) are written element
by element, so memory does not grow with the size of the dossier. Elements are built in memory
with the usual lxml calls, serialised by lxml (``etree.tostring``, indented two spaces a level),
written, then detached from their parent. A namespace the enclosing elements already declare is
not declared again on the element written. The same elements always give the same bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from typing import Any, Protocol, cast

from lxml import etree

#: The declaration every package XML starts with.
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
INDENT = "  "

# A start tag as lxml writes it: attribute values are double-quoted and never hold a '"'.
_START_TAG = re.compile(rb'<[^\s/>]+(?:\s+[^\s=/>]+="[^"]*")*\s*/?>')
_NAME = re.compile(rb"<([^\s/>]+)")

#: Namespaces declared by enclosing elements, prefix (``None``: the default one) to URI.
Scope = Mapping[str | None, str]


class BinaryWriter(Protocol):
    """Where a document is written: anything with ``write(bytes)``."""

    def write(self, data: bytes, /) -> Any: ...


def attributes(element: etree._Element) -> dict[str, str]:
    """An element's attributes in document order (Clark names)."""
    return {str(name): str(value) for name, value in element.attrib.items()}


def serialize_element(
    element: etree._Element, *, depth: int = 1, scope: Scope | None = None
) -> bytes:
    """An element tree built in memory as bytes, its children indented from ``depth``.

    The namespaces of ``scope`` (declared by the enclosing elements) are not declared again.
    The tree is changed on the way: the whitespace between elements becomes the indentation,
    and an element without children or text gets an empty one, so that it is written
    ``<x></x>`` (as the archive always wrote it) rather than ``<x/>``.
    """
    etree.indent(element, space=INDENT, level=depth)
    for node in element.iter(etree.Element):
        if node.text is None and not len(node):
            node.text = ""
    return _in_scope(_bytes(element), scope or {})


class XmlStream:
    """An XML document being written one element at a time (made by ``xml_document``).

    Elements are built in memory with the usual lxml calls, written, then detached from their
    parent, so only the element being written is ever held.
    """

    def __init__(self, out: BinaryWriter, nsmap: Scope) -> None:
        self._out = out
        self._scope: dict[str | None, str] = dict(nsmap)
        self._depth = 1

    def emit(self, element: etree._Element) -> None:
        """Write a complete element (and its children), then drop it from its parent."""
        indent = ("\n" + INDENT * self._depth).encode()
        self._out.write(indent + serialize_element(element, depth=self._depth, scope=self._scope))
        _detach(element)

    @contextmanager
    def open(self, element: etree._Element) -> Iterator[etree._Element]:
        """Write ``element``'s start tag (attributes only); what is emitted inside goes in it."""
        indent = ("\n" + INDENT * self._depth).encode()
        start, end = _tags(element, self._scope)
        self._out.write(indent + start)
        outer = self._scope
        self._scope = {**outer, **dict(element.nsmap)}
        self._depth += 1
        try:
            yield element
        finally:
            self._depth -= 1
            self._scope = outer
        self._out.write(indent + end)
        _detach(element)


def _tags(element: etree._Element, scope: Scope) -> tuple[bytes, bytes]:
    """The start tag (with ``element``'s attributes, its namespaces declared in the order of
    their prefixes) and the end tag of ``element``."""
    nsmap = dict(sorted(element.nsmap.items(), key=lambda item: item[0] or ""))
    shallow = etree.Element(element.tag, attributes(element), nsmap=_lxml_nsmap(nsmap))
    empty = _in_scope(_bytes(shallow), scope)
    name = _NAME.match(empty)
    assert name is not None and empty.endswith(b"/>")
    return empty[:-2] + b">", b"</" + name.group(1) + b">"


def _in_scope(serialized: bytes, scope: Scope) -> bytes:
    """``serialized`` without the declarations of its first tag that ``scope`` already makes."""
    start = _START_TAG.match(serialized)
    if start is None or b" xmlns" not in start.group(0):
        return serialized
    tag = start.group(0)
    for prefix, uri in scope.items():
        tag = tag.replace(_declaration(prefix, uri), b"", 1)
    return tag + serialized[start.end() :]


@cache
def _declaration(prefix: str | None, uri: str) -> bytes:
    """`` xmlns:prefix="uri"`` exactly as lxml writes it."""
    text = _bytes(etree.Element(f"{{{uri}}}x", nsmap=_lxml_nsmap({prefix: uri})))
    begin = text.index(b" xmlns")
    return text[begin : text.index(b'"', text.index(b'="', begin) + 2) + 1]


def _bytes(element: etree._Element) -> bytes:
    """``element`` serialised in UTF-8, without an XML declaration or its tail."""
    return cast(bytes, etree.tostring(element, encoding="UTF-8", with_tail=False))


def _lxml_nsmap(nsmap: Scope) -> dict[str, str]:
    """``nsmap`` as lxml takes it (its type hints leave out the default namespace's ``None``)."""
    return cast(dict[str, str], dict(nsmap))


def _detach(element: etree._Element) -> None:
    parent = element.getparent()
    if parent is not None:
        parent.remove(element)


@contextmanager
def xml_document(
    out: BinaryWriter,
    tag: str,
    attrib: Mapping[str, str],
    nsmap: Scope,
) -> Iterator[XmlStream]:
    """Write an XML document with root ``tag`` into ``out``; the body is written via the stream."""
    start, end = _tags(etree.Element(tag, dict(attrib), nsmap=_lxml_nsmap(nsmap)), {})
    out.write(XML_DECLARATION + start)
    yield XmlStream(out, nsmap)
    out.write(b"\n" + end + b"\n")
