"""Page fingerprints: equal where the text extraction of a page cannot differ, different (or
missing) where it might — a mapping of Vietnamese text that a conversion corrupted above all.

The files are the generated fixtures, converted by the real pikepdf PDF/A-2b step.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pikepdf
import pytest
from pikepdf import Array, Dictionary, Name

from archive_service.formats import page_identity
from archive_service.formats.convert_pdf import convert_pdf
from archive_service.formats.page_identity import page_fingerprints
from archive_service.formats.verify_rendition import (
    TextProof,
    normalise_text,
    read_source_facts,
    verify_rendition,
)
from tests import formats_fixtures as fx

VIETNAMESE_PAGE = normalise_text(" ".join(fx.VIETNAMESE_LINES))


def _fingerprints(path: Path) -> tuple[str | None, ...]:
    with pikepdf.open(path) as pdf:
        return page_fingerprints(pdf)


def _rendition(source: Path) -> Path:
    """The PDF/A-2b candidate the lossless path writes, next to its source."""
    output = source.with_name(f"{source.stem}-pdfa.pdf")
    convert_pdf(source, output)
    return output


Change = Callable[[pikepdf.Pdf], None]


def _changed(source: Path, target: Path, change: Change) -> Path:
    """A copy of ``source`` saved after ``change(pdf)``."""
    with pikepdf.open(source) as pdf:
        change(pdf)
        pdf.save(target)
    return target


def _first_font(pdf: pikepdf.Pdf) -> pikepdf.Object:
    return pdf.pages[0].obj.Resources.Font.F1


def _map_o_circumflex_grave_to_o(pdf: pikepdf.Pdf) -> None:
    """Corrupt the ToUnicode map: the glyph of 'ồ' now reads as a plain 'o'."""
    to_unicode = _first_font(pdf).ToUnicode
    cmap = to_unicode.read_bytes()
    assert b"<1ED3>" in cmap
    to_unicode.write(cmap.replace(b"<1ED3>", b"<006F>"))


@pytest.mark.parametrize(
    "make",
    [
        lambda path: fx.vietnamese_pdf(path, pages=3),
        fx.pdfa_1b,  # its CIDSet is dropped by the PDF/A-2 step: pypdf never reads it
        fx.owner_password_pdf,  # decrypted on the way
        fx.pdfa_with_javascript,
        fx.pdfa_scan_without_intent,
    ],
    ids=["vietnamese", "pdfa-1b", "owner-password", "javascript", "scan"],
)
def test_the_pdfa_2b_step_keeps_every_page_fingerprint(
    tmp_path: Path, make: Callable[[Path], Path]
) -> None:
    source = make(tmp_path / "ban-goc.pdf")
    before = _fingerprints(source)
    assert before and all(before)
    assert _fingerprints(_rendition(source)) == before


@pytest.mark.parametrize(
    "options",
    [
        {"compress_streams": False, "stream_decode_level": pikepdf.StreamDecodeLevel.generalized},
        {"compress_streams": True, "object_stream_mode": pikepdf.ObjectStreamMode.generate},
        {"object_stream_mode": pikepdf.ObjectStreamMode.disable, "qdf": True},
    ],
    ids=["uncompressed", "object-streams", "qdf"],
)
def test_recompression_and_renumbering_change_no_fingerprint(
    tmp_path: Path, options: dict[str, object]
) -> None:
    source = fx.vietnamese_pdf(tmp_path / "ban-goc.pdf", pages=2)
    compressed = tmp_path / "nen.pdf"
    with pikepdf.open(source) as pdf:
        pdf.save(compressed, compress_streams=True)
    resaved = tmp_path / "luu-lai.pdf"
    with pikepdf.open(compressed) as pdf:
        pdf.save(resaved, **options)  # type: ignore[arg-type]
    assert _fingerprints(source) == _fingerprints(compressed) == _fingerprints(resaved)


def test_recompressing_at_another_level_changes_no_fingerprint(tmp_path: Path) -> None:
    source = fx.vietnamese_pdf(tmp_path / "ban-goc.pdf", pages=2)
    recompressed = tmp_path / "nen-lai.pdf"
    pikepdf.settings.set_flate_compression_level(1)
    try:
        with pikepdf.open(source) as pdf:
            pdf.save(recompressed, recompress_flate=True)
    finally:
        pikepdf.settings.set_flate_compression_level(-1)
    with pikepdf.open(source) as before, pikepdf.open(recompressed) as after:
        font_file = "/DescendantFonts", 0, "/FontDescriptor", "/FontFile2"
        raw_before, raw_after = (
            _follow(_first_font(pdf), font_file).read_raw_bytes() for pdf in (before, after)
        )
    assert raw_before != raw_after
    assert _fingerprints(recompressed) == _fingerprints(source)


def _follow(obj: pikepdf.Object, path: tuple[str | int, ...]) -> pikepdf.Object:
    for step in path:
        obj = obj[step]
    return obj


def test_a_changed_content_stream_changes_that_page_only(tmp_path: Path) -> None:
    source = fx.vietnamese_pdf(tmp_path / "ban-goc.pdf", pages=3)

    def shift_second_page(pdf: pikepdf.Pdf) -> None:
        contents = pdf.pages[1].obj.Contents
        contents.write(contents.read_bytes().replace(b"56 780 Tm", b"56 700 Tm"))

    changed = _changed(source, tmp_path / "doi.pdf", shift_second_page)
    before, after = _fingerprints(source), _fingerprints(changed)
    assert before[0] == after[0] and before[2] == after[2]
    assert before[1] != after[1]


def test_a_corrupted_text_mapping_is_not_proved_and_verification_refuses_it(
    tmp_path: Path,
) -> None:
    source = fx.vietnamese_pdf(tmp_path / "ban-goc.pdf", pages=2)
    corrupted = _changed(
        _rendition(source), tmp_path / "hong-dau.pdf", _map_o_circumflex_grave_to_o
    )
    before, after = _fingerprints(source), _fingerprints(corrupted)
    assert all(before) and all(after)
    assert all(old != new for old, new in zip(before, after, strict=True))

    check = verify_rendition(
        corrupted, read_source_facts(source), file_name="hong-dau.pdf", use_verapdf=False
    )
    assert not check.ok and not check.text_equal
    assert check.text_proof is TextProof.EXTRACTED
    wrong = VIETNAMESE_PAGE.replace("ồ", "o")
    assert (
        f"chữ trích từ trang 1 khác bản gốc: '{VIETNAMESE_PAGE[:60]}' thành '{wrong[:60]}'"
        in check.problems
    )


def _fingerprints_with_inherited_resources(
    source: Path, change: Change | None = None
) -> tuple[str | None, ...]:
    """The fingerprints of ``source`` with its pages' resources moved up to the page tree root,
    after ``change(pdf)``. In memory: qpdf pushes inherited attributes down to the pages when
    it opens a file, so a file read back would have them on its pages again."""
    with pikepdf.open(source) as pdf:
        resources = pdf.pages[0].obj.Resources
        for page in pdf.pages:
            del page.obj["/Resources"]
        pdf.Root.Pages.Resources = resources
        if change is not None:
            change(pdf)
        assert all("/Resources" not in page.obj for page in pdf.pages)
        return page_fingerprints(pdf)


def test_inherited_resources_count_as_the_page_own(tmp_path: Path) -> None:
    source = fx.vietnamese_pdf(tmp_path / "ban-goc.pdf", pages=2)
    assert _fingerprints_with_inherited_resources(source) == _fingerprints(source)


def test_a_changed_inherited_resource_or_attribute_changes_the_fingerprint(
    tmp_path: Path,
) -> None:
    source = fx.vietnamese_pdf(tmp_path / "ban-goc.pdf", pages=2)

    def corrupt_inherited_font(pdf: pikepdf.Pdf) -> None:
        to_unicode = pdf.Root.Pages.Resources.Font.F1.ToUnicode
        to_unicode.write(to_unicode.read_bytes().replace(b"<1ED3>", b"<006F>"))

    def add_inherited_state(pdf: pikepdf.Pdf) -> None:
        pdf.Root.Pages.Resources.ExtGState = Dictionary(GS0=Dictionary(CA=0.5))

    def rotate_the_tree(pdf: pikepdf.Pdf) -> None:
        pdf.Root.Pages.Rotate = 90

    base = _fingerprints_with_inherited_resources(source)
    for change in (corrupt_inherited_font, add_inherited_state, rotate_the_tree):
        after = _fingerprints_with_inherited_resources(source, change)
        assert all(after), change.__name__
        assert all(old != new for old, new in zip(base, after, strict=True)), change.__name__


def _cyclic_resources(pdf: pikepdf.Pdf, label: int) -> None:
    """A form XObject listing itself in its resources, and two dictionaries naming each other."""
    form = pdf.make_stream(b"0 0 m", Type=Name.XObject, Subtype=Name.Form, BBox=Array([0, 0, 9, 9]))
    form.Resources = Dictionary(XObject=Dictionary(Me=form))
    first = pdf.make_indirect(Dictionary(Label=label))
    second = pdf.make_indirect(Dictionary(Back=first))
    first.Next = second
    resources = pdf.pages[0].obj.Resources
    resources.XObject = Dictionary(Fm0=form)
    resources.Properties = Dictionary(P0=first)


def test_cycles_in_resources_end_and_count_by_content(tmp_path: Path) -> None:
    source = fx.vietnamese_pdf(tmp_path / "ban-goc.pdf")
    cyclic = _changed(source, tmp_path / "vong.pdf", lambda pdf: _cyclic_resources(pdf, 1))
    renumbered = tmp_path / "danh-so-lai.pdf"
    with pikepdf.open(cyclic) as pdf:
        pdf.save(renumbered, object_stream_mode=pikepdf.ObjectStreamMode.generate)
    other = _changed(source, tmp_path / "vong-khac.pdf", lambda pdf: _cyclic_resources(pdf, 2))
    fingerprint = _fingerprints(cyclic)
    assert fingerprint[0] is not None
    assert _fingerprints(renumbered) == fingerprint
    assert _fingerprints(other) != fingerprint
    assert _fingerprints(source) != fingerprint


def test_a_page_over_the_cap_or_with_an_unknown_object_has_no_fingerprint(
    tmp_path: Path,
) -> None:
    source = fx.vietnamese_pdf(tmp_path / "ban-goc.pdf", pages=3)
    with pikepdf.open(source) as pdf:
        pdf.pages[0].obj.Resources.Odd = pikepdf.Operator("Tj")  # no canonical form
        huge = Array(range(page_identity._MAX_VISITS_PER_PAGE + 1))
        pdf.pages[1].obj.Resources.Huge = huge
        fingerprints = page_fingerprints(pdf)
    assert fingerprints[0] is None and fingerprints[1] is None
    assert fingerprints[2] is not None and fingerprints[2] == _fingerprints(source)[2]


def _with_damaged_object(source: Path, target: Path) -> Path:
    """``source`` with the cross-reference entry of its ToUnicode stream pointing at garbage."""
    with pikepdf.open(source) as pdf:
        number = _first_font(pdf).ToUnicode.objgen[0]
    data = source.read_bytes()
    table = data.rindex(b"\nxref")
    lines = data[table:].split(b"\n")
    first = int(lines[2].split()[0])
    entry = 3 + number - first
    lines[entry] = b"%010d" % 9 + lines[entry][10:]  # inside the header: not "n 0 obj"
    target.write_bytes(data[:table] + b"\n".join(lines))
    return target


def test_a_damaged_object_gives_no_proof_and_the_text_is_extracted(tmp_path: Path) -> None:
    source = fx.vietnamese_pdf(tmp_path / "ban-goc.pdf")
    damaged = _with_damaged_object(source, tmp_path / "hong.pdf")
    assert read_source_facts(damaged).fingerprints == ()  # qpdf read it as null, and warned

    check = verify_rendition(
        damaged, read_source_facts(source), file_name="hong.pdf", use_verapdf=False
    )
    assert check.text_proof is TextProof.EXTRACTED


def test_the_fingerprint_is_a_sha256_per_page(tmp_path: Path) -> None:
    fingerprints = _fingerprints(fx.vietnamese_pdf(tmp_path / "ban-goc.pdf", pages=2))
    assert len(fingerprints) == 2
    assert all(re.fullmatch(r"[0-9a-f]{64}", value or "") for value in fingerprints)


def test_a_re_encoded_scan_keeps_its_fingerprint_but_another_image_kind_does_not(
    tmp_path: Path,
) -> None:
    source = fx.pdfa_scan(tmp_path / "ban-quet.pdf")
    reencoded = _changed(source, tmp_path / "ma-hoa-lai.pdf", _inflate_the_images)
    assert _fingerprints(reencoded) == _fingerprints(source)  # text extraction skips image data
    relabelled = _changed(source, tmp_path / "doi-loai.pdf", _images_as_forms)
    assert _fingerprints(relabelled) != _fingerprints(source)


def _inflate_the_images(pdf: pikepdf.Pdf) -> None:
    """Store every image's pixels uncompressed (new bytes, new filter, same picture)."""
    for image in _images(pdf):
        image.write(image.read_bytes())


def _images_as_forms(pdf: pikepdf.Pdf) -> None:
    """Make every image XObject claim to be a form (which text extraction would read)."""
    for image in _images(pdf):
        image.Subtype = Name.Form


def _images(pdf: pikepdf.Pdf) -> list[pikepdf.Object]:
    """The image XObjects of the first page's resources."""
    xobjects = pdf.pages[0].obj.Resources.XObject
    return [image for _, image in xobjects.items() if image.Subtype == Name.Image]
