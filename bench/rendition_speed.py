"""Time per page of each PDF/A-2b rendition path, next to the bare tool on the same files.

    python bench/rendition_speed.py [--pdf-pages 20] [--files 4] [--tiny] [--json]

For every path, on the same generated files and in the same run (each measurement taken twice,
one after the other, the faster kept; ``--tiny`` runs once):

- **bare** — the tool alone: ``pikepdf.open(...).save(...)`` for PDFs, ``img2pdf.convert`` (the
  library the image path calls, without a process start) for images, ``soffice --convert-to pdf``
  with a fresh profile for office documents.
- **conversion** — our conversion step alone (``convert_pdf``, ``convert_image``,
  ``convert_office`` + the pikepdf PDF/A-2b step), without verification.
- **ours** — ``make_rendition`` end to end: choosing the path, converting, and verifying (page
  count, text of every page, metadata, PDF/A-2b validation, forbidden actions).

Overhead = ours ÷ bare − 1 (and the same for the conversion step). The target is under 10 %.
**pikepdf.pdfa validation** — the time ``pikepdf.pdfa.validate_written`` alone takes on a
rendition made for it, untimed, after the other runs (not part of any other figure), as a
share of bare: one
of the checks every rendition must pass. Where it alone is 10 % of bare or more, the target
cannot be met by any wrapper that validates its renditions.
**verify** = ours − conversion: what checking the rendition costs — for the PDF and image paths
mostly the PDF/A-2b validation (pikepdf's rule set checks every object against its schemas),
plus text extraction of the pages whose identity with the source is not proved (for the
lossless PDF path, none). The bare tool does none of this work, so these paths cannot come near
the target while every rendition is validated.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
# First on the path, so that a site-packages package named "tests" cannot shadow the project's.
sys.path.insert(0, str(REPO_ROOT))

import img2pdf  # noqa: E402
import pikepdf  # noqa: E402
import pikepdf.pdfa  # noqa: E402

from archive_service.formats.convert_image import convert_image  # noqa: E402
from archive_service.formats.convert_office import convert_office  # noqa: E402
from archive_service.formats.convert_pdf import convert_pdf, make_pdfa_2b  # noqa: E402
from archive_service.formats.identify import Identification, identify  # noqa: E402
from archive_service.formats.rendition import (  # noqa: E402
    RenditionStatus,
    RenditionTools,
    make_rendition,
)
from tests import formats_fixtures as fx  # noqa: E402

TARGET_OVERHEAD = 0.10


@dataclass
class Sample:
    """One input file of a path."""

    path: Path
    pages: int
    identification: Identification


def _samples(folder: Path, kind: str, files: int, pdf_pages: int) -> list[Sample]:
    made = []
    for index in range(files):
        if kind == "pdf":
            path = fx.vietnamese_pdf(folder / f"van-ban-{index}.pdf", pages=pdf_pages)
            pages = pdf_pages
        elif kind == "image":
            path, pages = _image(folder, index)
        else:
            path, pages = fx.docx(folder / f"don-{index}.docx"), 1
        made.append(Sample(path, pages, identify(path)))
    return made


def _image(folder: Path, index: int) -> tuple[Path, int]:
    """JPEG, PNG with alpha and a 3-page TIFF in turn."""
    if index % 3 == 0:
        return fx.jpeg(folder / f"anh-{index}.jpg"), 1
    if index % 3 == 1:
        return fx.png_with_alpha(folder / f"so-do-{index}.png"), 1
    return fx.multipage_tiff(folder / f"ban-quet-{index}.tif"), 3


def _bare(kind: str, tools: RenditionTools) -> Callable[[Sample, Path], None]:
    def pdf(sample: Sample, scratch: Path) -> None:
        with pikepdf.open(sample.path) as document:
            document.save(scratch / "bare.pdf")

    def image(sample: Sample, scratch: Path) -> None:
        with open(scratch / "bare.pdf", "wb") as stream:
            img2pdf.convert(str(sample.path), outputstream=stream)

    def office(sample: Sample, scratch: Path) -> None:
        assert tools.libreoffice is not None
        convert_office(sample.path, "docx", scratch, tools.libreoffice.executable)

    return {"pdf": pdf, "image": image, "office": office}[kind]


def _conversion(kind: str, tools: RenditionTools) -> Callable[[Sample, Path], None]:
    def pdf(sample: Sample, scratch: Path) -> None:
        convert_pdf(sample.path, scratch / "rendition.pdf")

    def image(sample: Sample, scratch: Path) -> None:
        convert_image(sample.path, scratch, scratch / "rendition.pdf")

    def office(sample: Sample, scratch: Path) -> None:
        assert tools.libreoffice is not None
        printed = convert_office(sample.path, "docx", scratch, tools.libreoffice.executable)
        with pikepdf.open(printed) as document:
            make_pdfa_2b(document, scratch / "rendition.pdf")

    return {"pdf": pdf, "image": image, "office": office}[kind]


def _pdfa_validation_seconds(rendition: Path) -> float:
    """How long ``pikepdf.pdfa`` alone takes to validate a rendition (one of the checks every
    rendition must pass, timed on its own; not part of the other figures)."""
    start = time.perf_counter()
    report = pikepdf.pdfa.validate_written(rendition, "2b")
    seconds = time.perf_counter() - start
    assert report.passed, f"pikepdf.pdfa refused a rendition the archive made: {report.findings}"
    return seconds


def _timed(work: Callable[[Sample, Path], Any], sample: Sample, root: Path) -> float:
    def whole(sample: Sample, scratch: Path) -> float:
        start = time.perf_counter()
        work(sample, scratch)
        return time.perf_counter() - start

    return _in_scratch(whole, sample, root)


def _in_scratch(work: Callable[[Sample, Path], float], sample: Sample, root: Path) -> float:
    """``work`` in a scratch folder of its own, removed afterwards; what ``work`` returns."""
    scratch = Path(tempfile.mkdtemp(dir=root))
    try:
        return work(sample, scratch)
    finally:
        shutil.rmtree(scratch)


def measure_path(
    kind: str, samples: list[Sample], tools: RenditionTools, root: Path, repeat: int
) -> dict[str, Any]:
    """Bare tool, our conversion step and our whole path on the same samples (best of
    ``repeat`` runs each)."""
    bare, conversion = _bare(kind, tools), _conversion(kind, tools)
    created: set[Path] = set()
    totals = {"bare": 0.0, "conversion": 0.0, "ours": 0.0, "pdfa_validation": 0.0}

    def ours(sample: Sample, scratch: Path) -> None:
        result = make_rendition(sample.path, sample.identification, scratch, tools=tools)
        if result.status is RenditionStatus.CREATED:
            created.add(sample.path)

    def validation(sample: Sample, scratch: Path) -> float:
        """A rendition made untimed, then pikepdf.pdfa alone timed on it (0 if none made)."""
        result = make_rendition(sample.path, sample.identification, scratch, tools=tools)
        if result.status is not RenditionStatus.CREATED or result.output_path is None:
            return 0.0
        return _pdfa_validation_seconds(result.output_path)

    for sample in samples:
        for name, work in (("bare", bare), ("conversion", conversion), ("ours", ours)):
            runs = [_timed(work, sample, root) for _ in range(repeat)]
            totals[name] += min(runs)
        totals["pdfa_validation"] += min(
            _in_scratch(validation, sample, root) for _ in range(repeat)
        )
    pages = sum(sample.pages for sample in samples)
    row: dict[str, Any] = {
        "path": kind,
        "files": len(samples),
        "pages": pages,
        "created": len(created),
        "bare_tool": {
            "pdf": "pikepdf open + save",
            "image": "img2pdf.convert",
            "office": "soffice --convert-to pdf",
        }[kind],
    }
    for name, seconds in totals.items():
        row[f"{name}_s_per_page"] = seconds / pages
    row["verify_s_per_page"] = max(0.0, totals["ours"] - totals["conversion"]) / pages
    row["conversion_overhead_pct"] = 100 * (totals["conversion"] / totals["bare"] - 1)
    row["overhead_pct"] = 100 * (totals["ours"] / totals["bare"] - 1)
    row["pdfa_validation_pct_of_bare"] = 100 * totals["pdfa_validation"] / totals["bare"]
    return row


def run(files: int, pdf_pages: int, repeat: int = 2) -> dict[str, Any]:
    """Every path available here; the measurements as a dictionary."""
    tools = RenditionTools.detect()
    kinds = ["pdf", "image"] + (["office"] if tools.libreoffice else [])
    root = Path(tempfile.mkdtemp(prefix="rendition-bench-"))
    try:
        rows = []
        for kind in kinds:
            folder = root / kind
            folder.mkdir()
            samples = _samples(folder, kind, files, pdf_pages)
            rows.append(measure_path(kind, samples, tools, root, repeat))
    finally:
        shutil.rmtree(root)
    return {
        "paths": rows,
        "libreoffice": tools.libreoffice.version if tools.libreoffice else None,
        "target_overhead_pct": 100 * TARGET_OVERHEAD,
    }


def _print(report: dict[str, Any]) -> None:
    print("PDF/A-2b renditions: seconds per page (the fastest run per file)")
    header = f"{'path':8} {'files':>5} {'pages':>5} {'bare':>9} {'conversion':>11} {'verify':>9}"
    print(header + f" {'ours':>9} {'conv. overhead':>15} {'overhead':>9}  bare tool")
    for row in report["paths"]:
        print(
            f"{row['path']:8} {row['files']:5d} {row['pages']:5d} "
            f"{row['bare_s_per_page']:9.4f} {row['conversion_s_per_page']:11.4f} "
            f"{row['verify_s_per_page']:9.4f} {row['ours_s_per_page']:9.4f} "
            f"{row['conversion_overhead_pct']:14.0f}% {row['overhead_pct']:8.0f}%  "
            f"{row['bare_tool']}"
        )
    print(
        f"created: {sum(r['created'] for r in report['paths'])} of "
        f"{sum(r['files'] for r in report['paths'])} files; target overhead < "
        f"{report['target_overhead_pct']:.0f} %"
    )
    medians = statistics.median(row["overhead_pct"] for row in report["paths"])
    print(f"median overhead over the paths: {medians:.0f} %")
    print("pikepdf.pdfa validation of the rendition alone (part of verify), as a share of bare:")
    for row in report["paths"]:
        share = row["pdfa_validation_pct_of_bare"]
        verdict = "the target cannot hold while renditions are validated" if share >= 10 else ""
        print(
            f"  {row['path']:8} {row['pdfa_validation_s_per_page']:.4f} s/page = {share:.0f} % "
            f"of bare {verdict}".rstrip()
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=6, help="files per path")
    parser.add_argument("--pdf-pages", type=int, default=20, help="pages of each test PDF")
    parser.add_argument("--tiny", action="store_true", help="one small file per path (smoke)")
    parser.add_argument("--json", action="store_true", help="print the measurements as JSON")
    options = parser.parse_args()
    if options.tiny:
        report = run(files=1, pdf_pages=1, repeat=1)
    else:
        report = run(options.files, options.pdf_pages)
    if options.json:
        print(json.dumps(report, indent=2))
    else:
        _print(report)


if __name__ == "__main__":
    main()
