"""Text content: is the head of a file text, and is it HTML, XML, CSV or plain text?

Plain text, CSV and HTML cannot always be told apart by content (a CSV file is plain text; a
text file may quote markup), so the declared extension chooses among them when the content
allows it.
"""

from __future__ import annotations

import codecs
import re

from archive_service.formats.signatures import Match

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_ALLOWED_CONTROLS = frozenset(b"\t\n\r\f\x1a")
_HTML_MARKUP = re.compile(r"<(!doctype\s+html|html|head|body|table|div|p|h[1-6])[\s>/]", re.I)
_HTML5 = re.compile(r"^\s*<!doctype\s+html\s*>", re.I)
_HTML401 = re.compile(r"<!doctype\s+html\s+public\s+\"-//w3c//dtd html 4\.01", re.I)


def decode_text(head: bytes) -> str | None:
    """The head decoded as text, or None when it is binary.

    Accepted: a Unicode BOM, valid UTF-8 (a sequence cut at the end of the head is allowed),
    or 8-bit text (legacy Vietnamese code pages) with almost no control characters.
    """
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return head[len(bom) :].decode(encoding, "ignore")
    if b"\x00" in head:
        return None
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3 and exc.reason in ("unexpected end of data",):
            return head[: exc.start].decode("utf-8")
    controls = sum(1 for byte in head if byte < 0x20 and byte not in _ALLOWED_CONTROLS)
    if controls * 100 > len(head):
        return None
    return head.decode("cp1258", "replace")


def looks_like_html(text: str) -> bool:
    """HTML markup near the start (a doctype, or a structural element)."""
    return _HTML_MARKUP.search(text[:4096]) is not None


def html_match(text: str) -> Match:
    """HTML with its version when the doctype says it (5 or 4.01)."""
    if _HTML5.match(text):
        return Match("html", "5", "fmt/471")
    if _HTML401.search(text[:1024]):
        return Match("html", "4.01", "fmt/100")
    return Match("html")


def text_match(text: str, extension: str) -> Match:
    """Which text format: the declared one when the content fits it, else what the content is."""
    is_html = looks_like_html(text)
    if extension in ("htm", "html") and is_html:
        return html_match(text)
    if extension == "csv":
        return Match("csv")
    if extension == "txt":
        return Match("txt")
    if is_html:
        return html_match(text)
    if text.lstrip().startswith("<?xml"):
        return Match("xml")
    return Match("txt")
