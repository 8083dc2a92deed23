"""What a PDF says about itself in its XMP metadata: the PDF/A part and conformance it claims."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import pikepdf

from archive_service.packages.xmlsafe import UnsafeXml, parse_xml_bytes

MAX_XMP_BYTES = 8 * 1024 * 1024
PDFAID_NS = "http://www.aiim.org/pdfa/ns/id/"
_RDF_DESCRIPTION = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}Description"


@dataclass(frozen=True)
class PdfaClaim:
    """``pdfaid:part`` and ``pdfaid:conformance`` as written (conformance upper-cased)."""

    part: int | None
    conformance: str | None

    @property
    def flavour(self) -> str | None:
        """``"2b"`` and the like, or None when part or conformance is missing."""
        if self.part is None or not self.conformance:
            return None
        return f"{self.part}{self.conformance.lower()}"

    def label(self) -> str:
        """``PDF/A-2b`` for messages."""
        part = self.part if self.part is not None else "?"
        return f"PDF/A-{part}{(self.conformance or '').lower()}"


@dataclass(frozen=True)
class XmpFacts:
    """The document's XMP packet: present, readable, and the PDF/A claim found in it."""

    present: bool
    readable: bool
    claim: PdfaClaim | None = None
    problem: str | None = None


def read_xmp(pdf: pikepdf.Pdf) -> XmpFacts:
    """Read the catalog's metadata stream (bounded) and the PDF/A claim it holds."""
    metadata = pdf.Root.get("/Metadata")
    if not isinstance(metadata, pikepdf.Stream):
        return XmpFacts(present=False, readable=False)
    try:
        data = _bounded_bytes(metadata)
    except (pikepdf.PdfError, ValueError, TypeError, zlib.error) as exc:
        return XmpFacts(True, False, problem=f"không giải mã được luồng XMP: {exc}")
    if data is None:
        return XmpFacts(True, False, problem=f"gói XMP lớn hơn {MAX_XMP_BYTES} byte")
    return claim_from_xmp(data)


def _bounded_bytes(stream: pikepdf.Stream) -> bytes | None:
    """The stream decoded, at most ``MAX_XMP_BYTES`` (None when larger): no inflation bombs.

    Unfiltered and plain Flate streams are decoded here with a bound; other filters (rare for
    XMP) are left to qpdf after checking the encoded length.
    """
    raw = stream.read_raw_bytes()
    if len(raw) > MAX_XMP_BYTES:
        return None
    filters = stream.get("/Filter")
    if filters is None:
        return bytes(raw)
    if filters == "/FlateDecode" and "/DecodeParms" not in stream:
        inflater = zlib.decompressobj()
        data = inflater.decompress(raw, MAX_XMP_BYTES + 1)
        return data if len(data) <= MAX_XMP_BYTES else None
    data = stream.read_bytes()
    return data if len(data) <= MAX_XMP_BYTES else None


def claim_from_xmp(data: bytes) -> XmpFacts:
    """Parse an XMP packet safely and find ``pdfaid`` as elements or as attributes."""
    if len(data) > MAX_XMP_BYTES:
        return XmpFacts(True, False, problem=f"gói XMP lớn hơn {MAX_XMP_BYTES} byte")
    try:
        root = parse_xml_bytes(data.strip(b"\x00 \t\r\n"), "XMP").getroot()
    except UnsafeXml as exc:
        return XmpFacts(True, False, problem=exc.problem.message)
    part_text = conformance = None
    for description in root.iter(_RDF_DESCRIPTION):
        part_text = part_text or description.get(f"{{{PDFAID_NS}}}part")
        conformance = conformance or description.get(f"{{{PDFAID_NS}}}conformance")
    for element in root.iter(f"{{{PDFAID_NS}}}part"):
        part_text = part_text or (element.text or "").strip()
    for element in root.iter(f"{{{PDFAID_NS}}}conformance"):
        conformance = conformance or (element.text or "").strip()
    if part_text is None and conformance is None:
        return XmpFacts(True, True)
    part = int(part_text) if part_text and part_text.strip().isdigit() else None
    claim = PdfaClaim(part, conformance.strip().upper() if conformance else None)
    return XmpFacts(True, True, claim)
