"""Lossless PDF → PDF/A-2b with pikepdf, and the shared steps of every rendition path.

The page content is never re-rendered: the document's own objects are kept and only what PDF/A-2
forbids or needs is changed — forbidden actions, ``AA`` and ``OpenAction`` entries, document
JavaScript, embedded files and the annotations that carry them, XFA, ``CIDSet`` (optional in
PDF/A-2 and not checkable by pikepdf) and non-standard trailer keys are removed; so is
everything of a digital signature, which cannot survive a rewrite: the signature fields with
their widgets and values (an ``AcroForm`` left without fields goes too), ``SigFlags``, the
catalog's ``Perms`` and ``DSS`` and the PAdES ``ESIC`` extension. The rendition of a signed PDF
is therefore an unsigned copy (``PdfaStep.signature_removed``); the signed original is only
ever read; then ``pikepdf.pdfa.prepare`` installs the output intent
and the XMP ``pdfaid`` 2/B declaration and the file is written with the save settings pikepdf
pins for PDF/A (no encryption, a trailer ID), after large incompressible streams were wrapped in
stored deflate blocks (``stored_streams``: qpdf would spend CPU compressing them for nothing).
URI, GoTo, GoToR, GoToE, Thread, SubmitForm and the four page-turning named actions are
allowed by ISO 19005-2 §6.5.1 and are kept.

Output intent profile: the sRGB IEC61966-2.1 profile shipped with pikepdf
(``pikepdf/pdfa/data/sRGB.icc``, ICC version 2.3, display class), chosen with
``output_intent="sRGB"``.

Ghostscript is only a fallback for PDFs whose fonts are not embedded, and only in a version that
keeps Vietnamese text (≥ 10.03, see ``tools``); its output goes through the same pikepdf step
and, like every rendition, through ``verify_rendition``.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pikepdf
import pikepdf.pdfa

from archive_service.formats.pdf_structure import (
    _ACTION_TYPES,
    _ALLOWED_ACTIONS,
    _ALLOWED_NAMED,
    _entry,
)
from archive_service.formats.stored_streams import store_incompressible

RENDITION_FLAVOUR = "2b"
OUTPUT_INTENT = "sRGB"
OUTPUT_INTENT_PROFILE = "sRGB IEC61966-2.1, ICC v2.3 (sRGB.icc shipped with pikepdf)"
SIGNATURE_NOT_CARRIED = (
    "chữ ký số không chuyển sang bản PDF/A (bản gốc được giữ nguyên cùng chữ ký của nó)"
)
_ALLOWED = _ALLOWED_ACTIONS[2]
_FORBIDDEN_ANNOTATIONS = frozenset(
    {"/FileAttachment", "/3D", "/Sound", "/Screen", "/Movie", "/RichMedia"}
)
_TRAILER_KEYS = frozenset(
    {"/Size", "/Root", "/Info", "/ID", "/Prev", "/Encrypt", "/XRefStm"}
    | {"/Type", "/W", "/Index", "/Length", "/Filter", "/DecodeParms"}  # of a cross-reference stream
)
_MAX_OBJECTS = 500_000
_MAX_DEPTH = 32


@dataclass(frozen=True)
class PdfaStep:
    """What the pikepdf step changed (Vietnamese), and whether a signature was dropped."""

    changes: tuple[str, ...]
    signature_removed: bool

    @property
    def warnings(self) -> tuple[str, ...]:
        """What people must be told about the rendition."""
        return (SIGNATURE_NOT_CARRIED,) if self.signature_removed else ()


class RenditionError(Exception):
    """A rendition step that cannot go on; ``reason`` is the Vietnamese sentence for people."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- Opening a source ------------------------------------------------------------------------


def open_strict(path: Path) -> pikepdf.Pdf:
    """Open a PDF without repairing it: a damaged or password-protected file is refused.

    A rendition of a file qpdf had to rebuild could silently lose pages, so it is not made.
    """
    try:
        pdf = pikepdf.open(path, attempt_recovery=False)
    except pikepdf.PasswordError as exc:
        raise RenditionError("tệp PDF được mã hoá, cần mật khẩu để mở") from exc
    except (pikepdf.PdfError, OSError, ValueError, RuntimeError) as exc:
        raise RenditionError(f"tệp PDF bị hỏng, không đọc được: {exc}") from exc
    try:
        len(pdf.pages)
    except (pikepdf.PdfError, RuntimeError, ValueError) as exc:
        pdf.close()
        raise RenditionError(f"cây trang của tệp PDF bị hỏng: {exc}") from exc
    _refuse_repairs(pdf)
    return pdf


def _refuse_repairs(pdf: pikepdf.Pdf) -> None:
    warnings = [str(warning) for warning in pdf.get_warnings()]
    if warnings:
        pdf.close()
        raise RenditionError(f"tệp PDF bị hỏng, qpdf phải sửa: {'; '.join(warnings[:3])}")


# --- The pikepdf PDF/A-2b step ---------------------------------------------------------------


def convert_pdf(source: Path, output: Path) -> PdfaStep:
    """Write a PDF/A-2b candidate of ``source`` to ``output``; returns what was changed.

    ``output`` must be a new file: the source is never written to.
    """
    if output.resolve() == source.resolve():
        raise ValueError("a rendition is always a new file, never the source itself")
    with open_strict(source) as pdf:
        return make_pdfa_2b(pdf, output)


def make_pdfa_2b(pdf: pikepdf.Pdf, output: Path) -> PdfaStep:
    """Scrub what PDF/A-2 forbids, declare PDF/A-2b, write ``output``; returns the changes.

    The caller validates the file: this step promises nothing on its own.
    """
    scrubber = _Scrubber(pdf)
    changes = scrubber.run()
    if pdf.is_encrypted:
        changes.append("bỏ mã hoá của tệp (chỉ có mật khẩu chủ sở hữu, mở được không cần mật khẩu)")
    try:
        prepared = pikepdf.pdfa.prepare(pdf, RENDITION_FLAVOUR, output_intent=OUTPUT_INTENT)
    except (ValueError, pikepdf.PdfError) as exc:
        raise RenditionError(f"pikepdf không chuẩn bị được tệp cho PDF/A-2b: {exc}") from exc
    changes += _prepared_changes(prepared)
    try:
        store_incompressible(pdf)
    except (pikepdf.PdfError, ValueError) as exc:
        raise RenditionError(f"pikepdf không đọc được một luồng dữ liệu của tệp: {exc}") from exc
    options = pikepdf.pdfa.resolve_save_kwargs(RENDITION_FLAVOUR, deterministic_id=True)
    if pdf.pdf_version > "1.7":
        options["force_version"] = "1.7"
    try:
        pdf.save(output, **options)
    except (pikepdf.PdfError, OSError, RuntimeError, ValueError) as exc:
        raise RenditionError(f"pikepdf không ghi được bản PDF/A-2b: {exc}") from exc
    warnings = [str(warning) for warning in pdf.get_warnings()]
    if warnings:
        raise RenditionError(f"tệp PDF bị hỏng, qpdf phải sửa khi ghi: {'; '.join(warnings[:3])}")
    return PdfaStep(tuple(changes), scrubber.signed)


def _prepared_changes(prepared: pikepdf.pdfa.PrepareResult) -> list[str]:
    changes = []
    if prepared.output_intent_replaced:
        changes.append(f"đặt output intent PDF/A: {OUTPUT_INTENT_PROFILE}")
    if prepared.pdfa_declared:
        changes.append("khai báo PDF/A-2b (pdfaid) trong siêu dữ liệu XMP")
    if prepared.annotations_removed:
        kinds = ", ".join(sorted(prepared.annotations_removed))
        changes.append(f"bỏ chú thích ẩn hoặc không hiển thị được ({kinds})")
    if prepared.print_flags_set:
        changes.append(f"đặt cờ Print cho {prepared.print_flags_set} chú thích")
    if prepared.interpolation_removed:
        changes.append(f"bỏ cờ nội suy của {prepared.interpolation_removed} ảnh")
    if prepared.xmp_dropped:
        changes.append(f"bỏ thuộc tính XMP PDF/A không cho phép: {', '.join(prepared.xmp_dropped)}")
    if prepared.xmp_unreadable:
        changes.append(f"thay gói XMP không đọc được ({prepared.xmp_problem})")
    return changes


# --- Forbidden constructs ----------------------------------------------------------------------


def forbidden_constructs(pdf: pikepdf.Pdf) -> list[str]:
    """What PDF/A-2 forbids that the scrubbing removes, as Vietnamese descriptions (none: [])."""
    return _Scrubber(pdf, remove=False).run()


class _Scrubber:
    """Finds — and, with ``remove``, deletes — what a PDF/A-2b rendition must not carry."""

    def __init__(self, pdf: pikepdf.Pdf, *, remove: bool = True) -> None:
        self.pdf, self.remove = pdf, remove
        self.found: list[str] = []
        self.signed = False
        self.signature_fields = 0

    def run(self) -> list[str]:
        """Every finding (or removal), once each, in the order met."""
        root = self.pdf.Root
        kind = _forbidden(root.get("/OpenAction"))
        opening = f"hành động {kind} khi mở tệp" if kind else "hành động khi mở tệp"
        self._drop(root, "/OpenAction", f"{opening} (OpenAction)")
        self._drop(root, "/NeedsRendering", "khoá NeedsRendering của catalog")
        self._drop(root, "/AF", "tệp liên kết (AF) của catalog")
        names = root.get("/Names")
        if isinstance(names, pikepdf.Dictionary):
            self._drop(names, "/JavaScript", "JavaScript cấp tài liệu")
            self._drop(names, "/EmbeddedFiles", "tệp đính kèm nhúng (EmbeddedFiles)")
        self._forms(root)
        self._signature_catalog(root)
        self._annotations()
        self._trailer()
        self._objects()
        return list(dict.fromkeys(self.found))

    def _drop(self, holder: pikepdf.Object, key: str, what: str) -> None:
        if key in holder:
            self.found.append(f"bỏ {what}" if self.remove else what)
            if self.remove:
                del holder[key]

    def _forms(self, root: pikepdf.Object) -> None:
        form = root.get("/AcroForm")
        if not isinstance(form, pikepdf.Dictionary):
            return
        self._drop(form, "/XFA", "biểu mẫu XFA")
        fields = form.get("/Fields")
        if isinstance(fields, pikepdf.Array):
            kept = self._without_signature_fields(fields, None, 0)
            if self.remove and len(kept) != len(fields):
                form.Fields = pikepdf.Array(kept)
        if self.remove and self.signature_fields and not _array(form.get("/Fields")):
            self._drop(root, "/AcroForm", "biểu mẫu AcroForm chỉ chứa trường chữ ký")
        elif self.signature_fields or not self.remove:
            self._drop(form, "/SigFlags", "cờ chữ ký (SigFlags)")

    def _without_signature_fields(
        self, fields: pikepdf.Array, inherited: object, depth: int
    ) -> list[object]:
        """``fields`` less its signature fields (noted); kids are pruned the same way."""
        kept: list[object] = []
        for field in fields:
            if not isinstance(field, pikepdf.Dictionary) or depth > _MAX_DEPTH:
                kept.append(field)
                continue
            kind = field.get("/FT", inherited)
            if kind == "/Sig":
                self._signature_field(field)
                continue
            kids = field.get("/Kids")
            if isinstance(kids, pikepdf.Array):
                pruned = self._without_signature_fields(kids, kind, depth + 1)
                if self.remove and len(pruned) != len(kids):
                    field.Kids = pikepdf.Array(pruned)
            kept.append(field)
        return kept

    def _signature_field(self, field: pikepdf.Dictionary) -> None:
        name = _field_name(field)
        self.signature_fields += 1
        if "/V" in field or any("/V" in kid for kid in _dictionaries(field.get("/Kids"))):
            self.signed = True
            what = f"trường chữ ký số {name} cùng giá trị chữ ký"
        else:
            what = f"trường chữ ký số chưa ký {name}"
        self.found.append(f"bỏ {what}" if self.remove else what)

    def _signature_catalog(self, root: pikepdf.Object) -> None:
        """Catalog entries that belong to signatures: ``Perms``, ``DSS``, the ``ESIC`` extension."""
        self._drop(root, "/Perms", "quyền chữ ký (Perms) của catalog")
        self._drop(root, "/DSS", "kho dữ liệu xác minh chữ ký (DSS)")
        extensions = root.get("/Extensions")
        if isinstance(extensions, pikepdf.Dictionary):
            self._drop(extensions, "/ESIC", "khai báo phần mở rộng PAdES (ESIC)")
            if self.remove and not extensions.keys():
                del root["/Extensions"]

    def _annotations(self) -> None:
        for number, page in enumerate(self.pdf.pages, start=1):
            annotations = page.obj.get("/Annots")
            if not isinstance(annotations, pikepdf.Array):
                continue
            kept = pikepdf.Array()
            for annotation in annotations:
                subtype = str(_get(annotation, "/Subtype"))
                if subtype in _FORBIDDEN_ANNOTATIONS:
                    what = f"chú thích {subtype[1:]} ở trang {number}"
                    self.found.append(f"bỏ {what}" if self.remove else what)
                elif subtype == "/Widget" and _field_type(annotation) == "/Sig":
                    what = f"ô chữ ký số {_field_name(annotation)} ở trang {number}"
                    if _visible(annotation):
                        what += " (hình chữ ký hiển thị không còn trong bản PDF/A)"
                    self.found.append(f"bỏ {what}" if self.remove else what)
                else:
                    kept.append(annotation)
            if self.remove and len(kept) != len(annotations):
                if len(kept):
                    page.obj.Annots = kept
                else:
                    del page.obj["/Annots"]

    def _trailer(self) -> None:
        for key in list(self.pdf.trailer.keys()):
            if key not in _TRAILER_KEYS:
                self._drop(self.pdf.trailer, key, f"khoá {key[1:]} không chuẩn của trailer")

    def _objects(self) -> None:
        budget = [_MAX_OBJECTS]
        for obj in self.pdf.objects:
            if budget[0] <= 0:
                raise RenditionError("tệp PDF có quá nhiều đối tượng để kiểm tra các hành động")
            if isinstance(obj, pikepdf.Stream):
                continue
            if isinstance(obj, pikepdf.Dictionary | pikepdf.Array):
                for container in _containers(obj, budget, 0):
                    self._container(container)

    def _container(self, container: pikepdf.Object) -> None:
        self._drop(container, "/AA", "hành động bổ sung (AA)")
        if _entry(container, "/Type") == "/FontDescriptor":
            self._drop(container, "/CIDSet", "CIDSet của phông chữ (PDF/A-2 không cần)")
        kind = _forbidden(_entry(container, "/A"))
        if kind:
            self._drop(container, "/A", f"hành động {kind}")
        if not _is_action(container):
            return
        following = _entry(container, "/Next")
        kind = _forbidden(following)
        if kind:
            self._drop(container, "/Next", f"hành động {kind}")
        elif isinstance(following, pikepdf.Array):
            kinds = [_forbidden(item) for item in following]
            for kind in filter(None, kinds):
                self.found.append(f"bỏ hành động {kind}" if self.remove else f"hành động {kind}")
            if self.remove and any(kinds):
                kept = [item for item, kind in zip(following, kinds, strict=True) if not kind]
                container.Next = pikepdf.Array(kept)


def _get(obj: object, key: str) -> object:
    return obj.get(key) if isinstance(obj, pikepdf.Dictionary) else None


def _array(value: object) -> list[object]:
    return list(value) if isinstance(value, pikepdf.Array) else []


def _dictionaries(value: object) -> list[pikepdf.Dictionary]:
    return [item for item in _array(value) if isinstance(item, pikepdf.Dictionary)]


def _field_type(field: object) -> object:
    """A field's ``FT``, inherited from its ancestors when it has none of its own."""
    for _ in range(_MAX_DEPTH):
        if not isinstance(field, pikepdf.Dictionary):
            return None
        if "/FT" in field:
            return field.get("/FT")
        field = field.get("/Parent")
    return None


def _field_name(field: object) -> str:
    """The field's partial name in quotes, from the field or its parent widget."""
    for _ in range(2):
        if not isinstance(field, pikepdf.Dictionary):
            break
        if "/T" in field:
            return f"'{field.get('/T')}'"
        field = field.get("/Parent")
    return "không tên"


def _visible(annotation: object) -> bool:
    """A widget that paints something: an area, an appearance, and no Hidden/NoView flag."""
    if not isinstance(annotation, pikepdf.Dictionary) or "/AP" not in annotation:
        return False
    try:
        x1, y1, x2, y2 = (float(value) for value in annotation.get("/Rect", []))
    except (TypeError, ValueError):
        return False
    flags = int(annotation.get("/F", 0))
    return abs(x2 - x1) > 0 and abs(y2 - y1) > 0 and not flags & (2 | 32)


def _containers(obj: pikepdf.Object, budget: list[int], depth: int) -> Iterator[pikepdf.Dictionary]:
    """``obj`` and the direct dictionaries inside it (indirect ones are visited on their own)."""
    budget[0] -= 1
    if depth > _MAX_DEPTH or budget[0] <= 0:
        return
    if isinstance(obj, pikepdf.Dictionary):
        yield obj
        children: list[object] = [value for _, value in obj.items()]
    else:
        children = list(obj)
    for child in children:
        if isinstance(child, pikepdf.Dictionary | pikepdf.Array) and not child.is_indirect:
            yield from _containers(child, budget, depth + 1)


def _is_action(obj: object) -> bool:
    return isinstance(obj, pikepdf.Dictionary) and str(_entry(obj, "/S", "")) in _ACTION_TYPES


def _forbidden(action: object) -> str | None:
    """The kind of ``action`` when it is an action PDF/A-2 forbids, else None."""
    if not isinstance(action, pikepdf.Dictionary) or not _is_action(action):
        return None
    kind = str(action.get("/S"))
    if kind not in _ALLOWED:
        return kind[1:]
    if kind == "/Named" and str(action.get("/N")) not in _ALLOWED_NAMED:
        return f"Named {str(action.get('/N'))[1:]}"
    return None


# --- External converters -----------------------------------------------------------------------


def run_converter(arguments: list[str], timeout: float, what: str) -> str:
    """Run a converter in its own process group; its output, or RenditionError on failure.

    On timeout the whole group is killed (LibreOffice starts helper processes).
    """
    try:
        process = subprocess.Popen(
            arguments,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        raise RenditionError(f"không chạy được {what}: {exc}") from exc
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise RenditionError(f"{what} chạy quá {timeout:g} giây và bị dừng") from exc
    text = output.decode("utf-8", "replace").strip()
    if process.returncode != 0:
        raise RenditionError(f"{what} kết thúc với mã lỗi {process.returncode}: {text[-500:]}")
    return text


def ghostscript_to_pdf(source: Path, output: Path, executable: str, timeout: float) -> None:
    """Re-render ``source`` with Ghostscript's pdfwrite (PDF/A-2 mode, fonts embedded).

    Ghostscript exits 0 even on garbage input, so its output proves nothing until verified.
    """
    run_converter(
        [
            executable,
            "-q",
            "-dSAFER",
            "-dBATCH",
            "-dNOPAUSE",
            "-sDEVICE=pdfwrite",
            "-dPDFA=2",
            "-dPDFACompatibilityPolicy=1",
            "-sColorConversionStrategy=RGB",
            "-dEmbedAllFonts=true",
            f"-sOutputFile={output}",
            "-f",
            str(source),
        ],
        timeout,
        "Ghostscript",
    )
    if not output.is_file():
        raise RenditionError("Ghostscript không tạo ra tệp PDF")
