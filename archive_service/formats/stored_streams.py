"""Unfiltered stream data that deflate cannot shrink is wrapped, not compressed.

Writing a rendition, qpdf compresses every unfiltered stream with deflate. For data that does
not compress (noise in a scanned image, data already compressed by other means) that search
costs about 15 ms of CPU per megabyte and saves nothing: zlib falls back to stored blocks.
``store_incompressible`` does the same ahead of qpdf at the cost of a copy: each large
unfiltered stream whose sample shrinks by less than ``_GAIN`` is rewritten as ``FlateDecode``
data made of stored blocks (zlib level 0). It decodes to the same bytes, qpdf passes flate data
through unchanged (no ``recompress_flate``), and page fingerprints count an image by its
dictionary without ``/Filter`` and other streams by their zlib-decoded bytes, so the rendition
proves the same. Every other stream is left to qpdf as before.

Left alone: metadata streams (``/Type /Metadata`` or ``/Subtype /XML``: PDF/A wants them
unfiltered), streams with a filter or decode parameters, streams under ``_SMALLEST`` (cheap to
compress), and streams over ``_LARGEST`` (held twice in memory here; qpdf compresses them as it
writes).
"""

from __future__ import annotations

import zlib

import pikepdf

_SMALLEST = 16 * 1024
_LARGEST = 64 * 1024 * 1024
_SLICE = 4 * 1024
_GAIN = 0.02  # a sample that shrinks by less than this is incompressible


def store_incompressible(pdf: pikepdf.Pdf) -> int:
    """Wrap the incompressible large unfiltered streams of ``pdf`` in stored deflate blocks;
    returns how many were wrapped."""
    wrapped = 0
    for obj in pdf.objects:
        if not isinstance(obj, pikepdf.Stream) or not _candidate(obj):
            continue
        raw = obj.read_raw_bytes()
        if _SMALLEST <= len(raw) <= _LARGEST and _incompressible(raw):
            obj.write(zlib.compress(raw, 0), filter=pikepdf.Name.FlateDecode)
            wrapped += 1
    return wrapped


def _candidate(stream: pikepdf.Stream) -> bool:
    if "/Filter" in stream or "/DecodeParms" in stream:
        return False
    if stream.get("/Type") == "/Metadata" or stream.get("/Subtype") == "/XML":
        return False
    length = stream.get("/Length")  # as read from the file; absent from a stream made here
    return not isinstance(length, int) or _SMALLEST <= length <= _LARGEST


def _incompressible(data: bytes) -> bool:
    """Whether three slices of ``data`` (start, middle, end) shrink by less than ``_GAIN``."""
    middle = len(data) // 2
    sample = data[:_SLICE] + data[middle : middle + _SLICE] + data[-_SLICE:]
    return len(zlib.compress(sample, 1)) >= len(sample) * (1 - _GAIN)
