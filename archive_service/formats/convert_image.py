"""JPEG, PNG, GIF and TIFF (multi-page included) → PDF/A-2b, without re-encoding a pixel lossily.

img2pdf places each image (each TIFF frame) on its own page: JPEG data is embedded as it is,
CCITT G4 TIFF as it is, other images losslessly (Flate). The page size comes from the image's
resolution, so the scan keeps it; the resolution is recorded, and a scan below
``MINIMUM_DPI`` — or one that does not say — is flagged in the result (the rendition is still
made: it holds exactly the deposited pixels, and refusing it would give the archive nothing).

Transparency: img2pdf (≥ 0.5) keeps a PNG's alpha channel as a soft mask (/SMask), which
PDF/A-2 permits, so colour and alpha are both kept unchanged; nothing is flattened.

The PDF then goes through the same pikepdf PDF/A-2b step as any PDF (``convert_pdf``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import img2pdf
import pikepdf
from PIL import Image, ImageSequence, UnidentifiedImageError

from archive_service.formats.convert_pdf import PdfaStep, RenditionError, make_pdfa_2b, open_strict

MINIMUM_DPI = 200
IMG2PDF_DEFAULT_DPI = 96
_DPI_TOLERANCE = 0.01

logging.getLogger("img2pdf").setLevel(logging.ERROR)  # it logs every soft mask it makes


@dataclass(frozen=True)
class ImageConversion:
    """A converted image: its frames, the resolution of each (None: not recorded), the PDF step."""

    frames: int
    frame_dpi: tuple[float | None, ...]
    step: PdfaStep

    @property
    def dpi(self) -> int | None:
        """The lowest resolution over the frames, rounded; None when a frame does not say."""
        if not self.frame_dpi or None in self.frame_dpi:
            return None
        return round(min(dpi for dpi in self.frame_dpi if dpi is not None))

    @property
    def resolution_warnings(self) -> tuple[str, ...]:
        """The scan's resolution is below the minimum, or not recorded at all."""
        if None in self.frame_dpi:
            return (
                "ảnh không ghi độ phân giải; trang được dựng theo "
                f"{IMG2PDF_DEFAULT_DPI} dpi, không xác nhận được yêu cầu ≥ {MINIMUM_DPI} dpi",
            )
        if self.dpi is not None and self.dpi < MINIMUM_DPI:
            return (f"độ phân giải {self.dpi} dpi thấp hơn mức tối thiểu {MINIMUM_DPI} dpi",)
        return ()


def frame_resolutions(source: Path) -> tuple[float | None, ...]:
    """The resolution (the lower of x and y, in dpi) of each frame; None where not recorded."""
    try:
        with Image.open(source) as image:
            return tuple(_dpi(frame.info.get("dpi")) for frame in ImageSequence.Iterator(image))
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise RenditionError(f"không đọc được ảnh: {exc}") from exc


def _dpi(value: object) -> float | None:
    if not isinstance(value, tuple) or len(value) != 2:
        return None
    try:
        lower = min(float(value[0]), float(value[1]))
    except (TypeError, ValueError):
        return None
    return lower if lower > 1 else None


def convert_image(source: Path, scratch: Path, output: Path) -> ImageConversion:
    """Write the PDF/A-2b candidate of the image ``source`` to ``output`` (work files in
    ``scratch``)."""
    resolutions = frame_resolutions(source)
    pages = scratch / "img2pdf.pdf"
    try:
        with open(pages, "wb") as stream:
            img2pdf.convert(str(source), outputstream=stream)
    except Exception as exc:  # img2pdf raises many kinds of errors for images it refuses
        raise RenditionError(f"img2pdf không chuyển được ảnh: {exc}") from exc
    with open_strict(pages) as pdf:
        _check_resolution(pdf, resolutions)
        step = make_pdfa_2b(pdf, output)
    return ImageConversion(len(resolutions), resolutions, step)


def _check_resolution(pdf: pikepdf.Pdf, resolutions: tuple[float | None, ...]) -> None:
    """Each page is as wide as its image at the image's own resolution: nothing was resampled."""
    if len(pdf.pages) != len(resolutions):
        raise RenditionError(
            f"img2pdf tạo {len(pdf.pages)} trang cho ảnh có {len(resolutions)} khung hình"
        )
    for number, (page, dpi) in enumerate(zip(pdf.pages, resolutions, strict=True), start=1):
        images = list(page.get_images(recursive=False).values())
        if len(images) != 1:
            raise RenditionError(f"trang {number} không chứa đúng một ảnh")
        points = float(page.mediabox[2]) - float(page.mediabox[0])
        placed = int(images[0].Width) * 72 / points
        expected = dpi or IMG2PDF_DEFAULT_DPI
        if abs(placed - expected) > expected * _DPI_TOLERANCE:
            raise RenditionError(
                f"trang {number}: ảnh được đặt ở {placed:.0f} dpi thay vì {expected:.0f} dpi"
            )
