"""Incompressible stream data is wrapped in stored deflate blocks before qpdf writes a rendition;
every other stream is left to qpdf, and the rendition still decodes to the source's bytes."""

from __future__ import annotations

import random
import zlib
from pathlib import Path

import pikepdf
import pikepdf.pdfa
from pikepdf import Name

from archive_service.formats.convert_pdf import RENDITION_FLAVOUR, make_pdfa_2b
from archive_service.formats.page_identity import page_fingerprints
from archive_service.formats.stored_streams import store_incompressible

NOISE = random.Random(7).randbytes(256 * 256)  # a 64 KiB grey image of random pixels
PAPER = bytes([250] * 200 + [20] * 56) * 256  # a 64 KiB grey image of a mostly white page


def _image(pdf: pikepdf.Pdf, pixels: bytes, **extra: object) -> pikepdf.Stream:
    side = int(len(pixels) ** 0.5)
    return pdf.make_stream(
        pixels,
        Type=Name.XObject,
        Subtype=Name.Image,
        Width=side,
        Height=side,
        ColorSpace=Name.DeviceGray,
        BitsPerComponent=8,
        **extra,
    )


def _document(path: Path) -> Path:
    """One page drawing a noise image and a paper image, both unfiltered."""
    pdf = pikepdf.new()
    page = pdf.add_blank_page(page_size=(595, 842))
    page.Resources = pikepdf.Dictionary(
        XObject=pikepdf.Dictionary(Noise=_image(pdf, NOISE), Paper=_image(pdf, PAPER))
    )
    page.Contents = pdf.make_stream(
        b"q 200 0 0 200 50 500 cm /Noise Do Q q 200 0 0 200 300 500 cm /Paper Do Q"
    )
    pdf.save(path, compress_streams=False, deterministic_id=True)
    return path


def _images(pdf: pikepdf.Pdf) -> dict[str, pikepdf.Object]:
    return {str(name): image for name, image in pdf.pages[0].Resources.XObject.items()}


def test_only_large_unfiltered_incompressible_data_is_wrapped() -> None:
    pdf = pikepdf.new()
    noise, paper = _image(pdf, NOISE), _image(pdf, PAPER)
    small = _image(pdf, NOISE[: 100 * 100])  # 10,000 bytes: qpdf may compress it
    metadata = pdf.make_stream(NOISE, Type=Name.Metadata, Subtype=Name.XML)
    untyped_xml = pdf.make_stream(NOISE, Subtype=Name.XML)
    with_parameters = _image(pdf, NOISE, DecodeParms=pikepdf.Dictionary(Colors=1))
    deflated = pdf.make_stream(zlib.compress(NOISE), Filter=Name.FlateDecode)
    kept_raw = {
        id_: s.read_raw_bytes() for id_, s in enumerate([paper, small, metadata, untyped_xml])
    }

    assert store_incompressible(pdf) == 1

    assert noise.Filter == Name.FlateDecode and zlib.decompress(noise.read_raw_bytes()) == NOISE
    assert noise.read_bytes() == NOISE
    for id_, stream in enumerate([paper, small, metadata, untyped_xml]):
        assert "/Filter" not in stream and stream.read_raw_bytes() == kept_raw[id_]
    assert "/Filter" not in with_parameters and with_parameters.read_raw_bytes() == NOISE
    assert deflated.read_raw_bytes() == zlib.compress(NOISE)


def test_a_rendition_wraps_noise_lets_qpdf_compress_the_rest_and_keeps_every_byte(
    tmp_path: Path,
) -> None:
    source = _document(tmp_path / "scan.pdf")
    output = tmp_path / "scan-pdfa.pdf"
    with pikepdf.open(source) as pdf:
        make_pdfa_2b(pdf, output)

    assert pikepdf.pdfa.validate_written(output, RENDITION_FLAVOUR).passed
    with pikepdf.open(source) as original, pikepdf.open(output) as rendition:
        before, after = _images(original), _images(rendition)
        for name in ("/Noise", "/Paper"):
            assert after[name].read_bytes() == before[name].read_bytes()
            assert after[name].Filter == Name.FlateDecode
        # noise: stored blocks (a few bytes per 64 KiB more); paper: really compressed
        assert len(NOISE) < len(after["/Noise"].read_raw_bytes()) < len(NOISE) + 64
        assert len(after["/Paper"].read_raw_bytes()) < len(PAPER) // 20
        assert page_fingerprints(rendition) == page_fingerprints(original)
