"""The streaming XML writer: namespaces declared once, indentation, escaping, memory."""

from __future__ import annotations

import io
from collections.abc import Callable

from lxml import etree

from archive_service.packages.xmlstream import XmlStream, xml_document

A, B, C = "urn:example:a", "urn:example:b", "urn:example:c"
NSMAP = {"b": B, "a": A}  # declared in the order of the prefixes


Build = Callable[[XmlStream, etree._Element], None]


def written(build: Build, scratch_nsmap: dict[str, str] = NSMAP) -> bytes:
    """The document ``build(document, scratch)`` writes; ``scratch``: where to build elements."""
    out = io.BytesIO()
    scratch = etree.Element(f"{{{A}}}root", nsmap=scratch_nsmap)
    with xml_document(out, f"{{{A}}}root", {"version": "1"}, NSMAP) as document:
        build(document, scratch)
    return out.getvalue()


def test_namespaces_of_the_root_are_declared_once_and_new_ones_where_they_start() -> None:
    def build(document: XmlStream, scratch: etree._Element) -> None:
        item = etree.SubElement(scratch, f"{{{A}}}item", {f"{{{B}}}kind": "x"})
        etree.SubElement(item, f"{{{C}}}note").text = "n"
        document.emit(item)

    data = written(build, {**NSMAP, "c": C})
    assert data.count(b'xmlns:a="urn:example:a"') == 1
    assert data.count(b'xmlns:b="urn:example:b"') == 1
    assert b'<a:item xmlns:c="urn:example:c" b:kind="x">' in data
    parsed = etree.fromstring(data)
    assert parsed.find(f"{{{A}}}item/{{{C}}}note").text == "n"


def test_elements_are_indented_by_depth_and_text_is_escaped() -> None:
    def build(document: XmlStream, scratch: etree._Element) -> None:
        group = etree.SubElement(scratch, f"{{{A}}}group", {"ID": "g1"})
        with document.open(group) as opened:
            entry = etree.SubElement(opened, f"{{{A}}}entry", {"LABEL": 'a "b" <c>'})
            etree.SubElement(entry, f"{{{A}}}text").text = "Hồ sơ & <kết quả>"
            etree.SubElement(entry, f"{{{A}}}empty")
            document.emit(entry)
        assert len(scratch) == 0  # written elements are dropped from memory

    data = written(build).decode()
    assert data.splitlines() == [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<a:root xmlns:a="urn:example:a" xmlns:b="urn:example:b" version="1">',
        '  <a:group ID="g1">',
        '    <a:entry LABEL="a &quot;b&quot; &lt;c&gt;">',
        "      <a:text>Hồ sơ &amp; &lt;kết quả&gt;</a:text>",
        "      <a:empty></a:empty>",  # as the archive always wrote empty elements
        "    </a:entry>",
        "  </a:group>",
        "</a:root>",
    ]


def test_an_attribute_value_that_looks_like_a_declaration_is_kept() -> None:
    def build(document: XmlStream, scratch: etree._Element) -> None:
        document.emit(etree.SubElement(scratch, f"{{{A}}}x", {"note": ' xmlns:a="urn:example:a"'}))

    parsed = etree.fromstring(written(build))
    assert parsed.find(f"{{{A}}}x").get("note") == ' xmlns:a="urn:example:a"'
