"""Page fingerprints: proof that two pages give the same extracted text, without extracting it.

Text extraction (pypdf) of a page reads only the page's content streams, its resources and the
attributes ``/Rotate``, ``/MediaBox``, ``/CropBox`` (all three and ``/Resources`` inherited from
the page tree when the page has none of its own) and ``/UserUnit``: it is a pure function of
those values. ``page_fingerprints`` digests exactly them, fully (fonts with their encodings,
ToUnicode CMaps, descendant fonts and font files, Form XObjects and their own resources,
ExtGState, everything the resources reach), with SHA-256 in a canonical form. A source page and
a rendition page with the same fingerprint give the same text by construction.

The canonical form:

- dictionaries by sorted key, arrays in order, names, strings, numbers, booleans and null by a
  type tag and their value, every part length-prefixed (no two values share a serialisation);
- an image XObject by its dictionary alone (less ``/Length``, ``/DL``, ``/Filter`` and
  ``/DecodeParms``): pypdf's text extraction never reads image data;
- any other stream whose only filter is FlateDecode (or none) by its dictionary less ``/Length``,
  ``/DL``, ``/Filter`` and ``/DecodeParms``, and the SHA-256 of its bytes decoded with zlib,
  the decoder pypdf uses: qpdf compressing a stream on save is no change. Any other stream
  (other filters or parameters, data zlib refuses, more than ``_MAX_INFLATED`` bytes,
  which is below pypdf's own limit) counts by its raw bytes with its filters: still a sound
  proof, only not stable under recompression. The proof thus never rests on qpdf's decoders
  agreeing with pypdf's;
- ``/CIDSet`` is left out: pypdf never reads it, and the PDF/A-2 step removes it;
- objects count by content, not number: each indirect object is digested once per document
  and referred to by its digest (shared resources cost one walk for all pages); a reference
  back to an object still being digested (a cycle) counts by how many levels up it points.

The work is capped (objects visited per page and per document, nesting depth); a page over the
cap, or whose objects pikepdf cannot read, has no fingerprint (None): its text is extracted
instead. A damaged object qpdf reads as null leaves a warning on
the ``Pdf`` (``get_warnings``), which this module does not consume: a fingerprint proves
nothing about a file qpdf had to repair, so the owner of the ``Pdf`` checks its warnings.
"""

from __future__ import annotations

import hashlib
import zlib
from decimal import Decimal

import pikepdf

_INHERITED_KEYS = ("/Resources", "/MediaBox", "/CropBox", "/Rotate")
_PAGE_KEYS = ("/Contents", "/UserUnit")
_IGNORED_KEYS = frozenset({"/CIDSet"})
_RAW_STREAM_KEYS = frozenset({"/Length", "/DL"})
_DECODED_STREAM_KEYS = _RAW_STREAM_KEYS | {"/Filter", "/DecodeParms"}
_FLATE = "/FlateDecode"
_MAX_VISITS_PER_PAGE = 50_000
_MAX_VISITS_PER_DOCUMENT = 500_000
_MAX_DEPTH = 100
_MAX_TREE_DEPTH = 64
_MAX_INFLATED = 64 * 1024 * 1024
_NO_BACK_REFERENCE = 1 << 62


class _OverBudget(Exception):
    """The page needs more work than a fingerprint is worth."""


def page_fingerprints(pdf: pikepdf.Pdf) -> tuple[str | None, ...]:
    """One SHA-256 hex digest per page of what its text extraction depends on (None: unknown).

    Never raises: a document whose page list cannot be read has no fingerprints at all.
    """
    try:
        pages = [page.obj for page in pdf.pages]
    except Exception:  # the caller extracts the text instead
        return ()
    digester = _Digester()
    return tuple(digester.page(page) for page in pages)


class _Digester:
    """Digests of one document's objects; indirect ones are kept for every page to reuse."""

    def __init__(self) -> None:
        self.digests: dict[tuple[int, int], bytes] = {}
        self.stack: list[tuple[int, int]] = []
        self.visits_left = 0
        self.document_visits_left = _MAX_VISITS_PER_DOCUMENT

    def page(self, page: pikepdf.Dictionary) -> str | None:
        """The fingerprint of one page, or None when it cannot be made within the cap."""
        self.stack.clear()
        budget = min(_MAX_VISITS_PER_PAGE, self.document_visits_left)
        self.visits_left = budget
        try:
            values: dict[str, object] = {key: page.get(key) for key in _PAGE_KEYS}
            values |= {key: _inherited(page, key) for key in _INHERITED_KEYS}
            record = b"".join(
                _tagged(b"K", key.encode()) + self._value(values[key], 0)[0]
                for key in sorted(values)
            )
        except Exception:  # pikepdf errors, unexpected objects, the cap: the text is extracted
            return None
        finally:
            self.document_visits_left -= budget - max(self.visits_left, 0)
        return hashlib.sha256(record).hexdigest()

    def _value(self, obj: object, depth: int) -> tuple[bytes, int]:
        """The serialisation of ``obj`` and the lowest stack level it refers back to."""
        self.visits_left -= 1
        if self.visits_left < 0 or depth > _MAX_DEPTH:
            raise _OverBudget
        if isinstance(obj, pikepdf.Dictionary | pikepdf.Array | pikepdf.Stream):
            if obj.is_indirect:
                return self._indirect(obj, depth)
            return self._container(obj, depth)
        return _scalar(obj), _NO_BACK_REFERENCE

    def _indirect(self, obj: pikepdf.Object, depth: int) -> tuple[bytes, int]:
        """An indirect object by its digest, or a back-reference when it is being digested."""
        objgen = obj.objgen
        if objgen in self.stack:
            level = self.stack.index(objgen)
            return _tagged(b"B", str(len(self.stack) - level).encode()), level
        known = self.digests.get(objgen)
        if known is not None:
            return b"R" + known, _NO_BACK_REFERENCE
        level = len(self.stack)
        self.stack.append(objgen)
        body, lowest = self._container(obj, depth)
        self.stack.pop()
        digest = hashlib.sha256(body).digest()
        if lowest < level:  # part of a cycle through an ancestor: its digest depends on the path
            return b"R" + digest, lowest
        self.digests[objgen] = digest
        return b"R" + digest, _NO_BACK_REFERENCE

    def _container(self, obj: pikepdf.Object, depth: int) -> tuple[bytes, int]:
        if isinstance(obj, pikepdf.Stream):
            data, skipped = _stream_data(obj)
            body, lowest = self._dictionary(obj, depth, skipped)
            return b"T" + body + data, lowest
        if isinstance(obj, pikepdf.Dictionary):
            return self._dictionary(obj, depth, frozenset())
        return self._array(obj, depth)

    def _dictionary(
        self, obj: pikepdf.Object, depth: int, skipped: frozenset[str]
    ) -> tuple[bytes, int]:
        """Entries by sorted key, less ``skipped`` and the keys no text extraction reads."""
        keys = sorted(set(obj.keys()) - skipped - _IGNORED_KEYS)
        parts, lowest = [b"D", _count(len(keys))], _NO_BACK_REFERENCE
        for key in keys:
            body, low = self._value(obj.get(key), depth + 1)
            parts += [_tagged(b"K", key.encode()), body]
            lowest = min(lowest, low)
        return b"".join(parts), lowest

    def _array(self, obj: pikepdf.Object, depth: int) -> tuple[bytes, int]:
        items = list(obj)
        parts, lowest = [b"A", _count(len(items))], _NO_BACK_REFERENCE
        for item in items:
            body, low = self._value(item, depth + 1)
            parts.append(body)
            lowest = min(lowest, low)
        return b"".join(parts), lowest


def _inherited(page: pikepdf.Dictionary, key: str) -> object:
    """``key`` of the page, or of its nearest ancestor in the page tree that has it."""
    node: object = page
    for _ in range(_MAX_TREE_DEPTH):
        if not isinstance(node, pikepdf.Dictionary):
            return None
        if key in node:
            return node.get(key)
        node = node.get("/Parent")
    raise _OverBudget


def _scalar(obj: object) -> bytes:
    """A type tag and the value; anything unexpected makes the page unprovable."""
    if obj is None:
        return b"n"
    if isinstance(obj, bool):
        return b"b1" if obj else b"b0"
    if isinstance(obj, int):
        return _tagged(b"i", str(obj).encode())
    if isinstance(obj, Decimal | float):
        return _tagged(b"r", str(obj).encode())
    if isinstance(obj, pikepdf.Name):
        return _tagged(b"N", obj.unparse())
    if isinstance(obj, pikepdf.String):
        return _tagged(b"S", bytes(obj))
    raise TypeError(f"no canonical form for {type(obj).__name__}")


def _stream_data(stream: pikepdf.Stream) -> tuple[bytes, frozenset[str]]:
    """The digest of the stream's data, and the dictionary keys it makes irrelevant.

    An image's data is left out: text extraction skips image XObjects (``Do`` of an
    ``/Image``), so only its dictionary counts — re-encoding a scan on save is no change.
    """
    if stream.get("/Subtype") == "/Image":
        return b"I", _DECODED_STREAM_KEYS
    raw = stream.read_raw_bytes()
    decoded = _inflated(stream, raw)
    if decoded is None:
        return _tagged(b"W", hashlib.sha256(raw).digest()), _RAW_STREAM_KEYS
    return _tagged(b"d", hashlib.sha256(decoded).digest()), _DECODED_STREAM_KEYS


def _inflated(stream: pikepdf.Stream, raw: bytes) -> bytes | None:
    """The data of an unfiltered or FlateDecode-only stream, decoded; None for any other."""
    if "/DecodeParms" in stream:
        return None
    filters = stream.get("/Filter")
    listed = list(filters) if isinstance(filters, pikepdf.Array) else [filters]
    names = [str(name) for name in listed if name is not None]
    if not names:
        return raw
    if names != [_FLATE]:
        return None
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(raw, _MAX_INFLATED)
    except zlib.error:
        return None
    complete = inflater.eof and not inflater.unused_data and not inflater.unconsumed_tail
    return data if complete else None


def _count(number: int) -> bytes:
    return number.to_bytes(8, "big")


def _tagged(tag: bytes, payload: bytes) -> bytes:
    return tag + _count(len(payload)) + payload
