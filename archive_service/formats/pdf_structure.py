"""The archive's own structural PDF/A checks: file syntax from the raw bytes, and document
checks (fonts, colour, metadata, actions) from the objects pikepdf reads.

These checks are a second opinion next to a full validator and a safety net where none is
installed; they can prove a file invalid, never valid on their own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pikepdf

from archive_service.formats.pdfa_claim import XmpFacts
from archive_service.formats.pdfa_rules import FailedRule, Rule, failed

VALIDATOR = "archive-service"
_HEADER = re.compile(rb"%PDF-(\d)\.(\d)(\r\n|\r|\n)")
_TAIL_BYTES = 4096
_MAX_OBJECTS_WALKED = 500_000
_MAX_OPERATORS = 2_000_000
_MAX_FORM_DEPTH = 12
_MAX_PER_RULE = 10
_ALLOWED_ACTIONS = {
    1: frozenset({"/GoTo", "/GoToR", "/Thread", "/URI", "/Named", "/SubmitForm"}),
    2: frozenset({"/GoTo", "/GoToR", "/GoToE", "/Thread", "/URI", "/Named", "/SubmitForm"}),
}
_ACTION_TYPES = frozenset(
    {
        "/GoTo", "/GoToR", "/GoToE", "/GoTo3DView", "/Launch", "/Thread", "/URI", "/Sound",
        "/Movie", "/Hide", "/Named", "/SubmitForm", "/ResetForm", "/ImportData", "/JavaScript",
        "/SetOCGState", "/Rendition", "/Trans", "/RichMediaExecute", "/SetState", "/NOP",
    }
)  # fmt: skip
_ALLOWED_NAMED = frozenset({"/NextPage", "/PrevPage", "/FirstPage", "/LastPage"})
_DEVICE_OPERATORS = {"rg": "RGB", "RG": "RGB", "k": "CMYK", "K": "CMYK", "g": "Gray", "G": "Gray"}
_DEVICE_SPACES = {"/DeviceRGB": "RGB", "/DeviceCMYK": "CMYK", "/DeviceGray": "Gray"}
_INLINE_SPACES = {"/RGB": "RGB", "/CMYK": "CMYK", "/G": "Gray", **_DEVICE_SPACES}
_TEXT_SHOWING = frozenset({"Tj", "TJ", "'", '"'})
_FONT_FILES = ("/FontFile", "/FontFile2", "/FontFile3")


@dataclass
class StructureFindings:
    """Failures found, and what could not be checked (with the reason)."""

    failures: list[FailedRule] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)

    def fail(self, rule: Rule, part: int, message: str) -> None:
        """Record a failure (at most ``_MAX_PER_RULE`` per rule: the first ones tell enough)."""
        found = failed(rule, part, message, VALIDATOR)
        if found is None or found in self.failures:
            return
        same = [f for f in self.failures if (f.clause, f.test) == (found.clause, found.test)]
        if len(same) < _MAX_PER_RULE:
            self.failures.append(found)


# --- File syntax, from the bytes --------------------------------------------------------------


def check_file_syntax(path: Path, part: int, findings: StructureFindings) -> None:
    """Header at byte 0 with a binary comment; nothing but an EOL after the last ``%%EOF``."""
    with open(path, "rb") as stream:
        head = stream.read(1024)
        size = stream.seek(0, 2)
        stream.seek(max(0, size - _TAIL_BYTES))
        tail = stream.read(_TAIL_BYTES)
    header = _HEADER.match(head)
    if header is None:
        findings.fail(Rule.HEADER, part, "tệp không bắt đầu bằng tiêu đề %PDF-1.n ở byte 0")
        return
    comment = head[header.end() : header.end() + 5]
    if len(comment) < 5 or comment[0:1] != b"%" or any(byte <= 127 for byte in comment[1:5]):
        findings.fail(
            Rule.BINARY_COMMENT,
            part,
            "sau tiêu đề thiếu dòng chú thích nhị phân (% và 4 byte có giá trị trên 127)",
        )
    version = (int(header.group(1)), int(header.group(2)))
    if part >= 2 and version > (1, 7):
        findings.fail(
            Rule.PDF_VERSION, part, f"phiên bản PDF {version[0]}.{version[1]} cao hơn 1.7"
        )
    eof = tail.rfind(b"%%EOF")
    if eof < 0:
        findings.fail(Rule.EOF, part, "không có dấu %%EOF ở cuối tệp: tệp có thể bị cắt cụt")
    elif tail[eof + 5 :] not in (b"", b"\n", b"\r", b"\r\n"):
        extra = len(tail) - eof - 5
        findings.fail(Rule.EOF, part, f"có {extra} byte dữ liệu sau dấu %%EOF cuối cùng")


# --- Document checks, from the objects -------------------------------------------------------


def check_document(pdf: pikepdf.Pdf, xmp: XmpFacts, part: int, findings: StructureFindings) -> None:
    """Trailer, metadata, output intent, forbidden keys, actions, fonts and colour in use.

    Each check runs on its own: one that stops on a damaged object is reported as not checked
    and the others still run. qpdf's repair warnings are read before and after.
    """
    _check_repairs(pdf, part, findings)
    for check in (_check_trailer, _check_metadata, _check_output_intents, _check_catalog,
                  _check_actions, _check_content):  # fmt: skip
        try:
            check(pdf, xmp, part, findings)
        except Exception as exc:  # a damaged object must not stop the other checks
            topic = (check.__doc__ or check.__name__).splitlines()[0]
            findings.not_checked.append(f"{topic} — dừng vì lỗi: {exc}")
    _check_repairs(pdf, part, findings)


def _check_trailer(pdf: pikepdf.Pdf, xmp: XmpFacts, part: int, findings: StructureFindings) -> None:
    """Trailer: no encryption, a file ID."""
    if pdf.is_encrypted:
        findings.fail(Rule.ENCRYPT, part, "tệp được mã hoá (khoá Encrypt trong trailer)")
    if "/ID" not in pdf.trailer:
        findings.fail(Rule.TRAILER_ID, part, "trailer không có khoá ID (định danh tệp)")


def _check_content(pdf: pikepdf.Pdf, xmp: XmpFacts, part: int, findings: StructureFindings) -> None:
    """Fonts, device colour and transparency used by pages, forms and annotations."""
    usage = _ContentWalker(part)
    usage.walk(pdf)
    for message in usage.unembedded_font_messages():
        findings.fail(Rule.FONT_EMBEDDED, part, message)
    if usage.device_colours and not _has_pdfa_output_intent(pdf):
        spaces = ", ".join(sorted(usage.device_colours))
        findings.fail(
            Rule.DEVICE_COLOUR,
            part,
            f"dùng không gian màu thiết bị ({spaces}) mà không có output intent PDF/A",
        )
    if part == 1 and usage.transparency:
        findings.fail(Rule.TRANSPARENCY, part, f"dùng độ trong suốt ({usage.transparency[0]})")
    if usage.limited:
        findings.not_checked.append(
            "phông chữ và màu: vượt giới hạn duyệt nội dung, chỉ một phần trang được kiểm tra"
        )


def _check_metadata(
    pdf: pikepdf.Pdf, xmp: XmpFacts, part: int, findings: StructureFindings
) -> None:
    """XMP metadata with a pdfaid claim matching the part checked."""
    if not xmp.present:
        findings.fail(Rule.METADATA, part, "catalog không có luồng siêu dữ liệu XMP (Metadata)")
        findings.fail(Rule.PDFAID, part, "không có khai báo PDF/A (pdfaid) trong XMP")
    elif not xmp.readable:
        findings.fail(Rule.XMP_WELL_FORMED, part, f"XMP không đọc được: {xmp.problem}")
    elif xmp.claim is None:
        findings.fail(Rule.PDFAID, part, "XMP không có khai báo PDF/A (pdfaid:part)")
    else:
        if xmp.claim.part != part:
            findings.fail(
                Rule.PDFAID_PART,
                part,
                f"pdfaid:part là {xmp.claim.part}, không phải {part} như phần được kiểm tra",
            )
        if xmp.claim.conformance not in ("A", "B", "U"):
            findings.fail(
                Rule.PDFAID_CONFORMANCE,
                part,
                f"pdfaid:conformance '{xmp.claim.conformance or ''}' không phải A, B hoặc U",
            )


def _pdfa_output_intents(pdf: pikepdf.Pdf) -> list[pikepdf.Dictionary]:
    intents = pdf.Root.get("/OutputIntents")
    if not isinstance(intents, pikepdf.Array):
        return []
    return [
        intent
        for intent in intents
        if isinstance(intent, pikepdf.Dictionary) and intent.get("/S") == "/GTS_PDFA1"
    ]


def _has_pdfa_output_intent(pdf: pikepdf.Pdf) -> bool:
    return bool(_pdfa_output_intents(pdf))


def _check_output_intents(
    pdf: pikepdf.Pdf, xmp: XmpFacts, part: int, findings: StructureFindings
) -> None:
    """PDF/A output intents carry a usable ICC profile."""
    for intent in _pdfa_output_intents(pdf):
        problem = _icc_problem(intent.get("/DestOutputProfile"), part)
        if problem:
            findings.fail(Rule.OUTPUT_INTENT_PROFILE, part, f"output intent PDF/A: {problem}")


def _icc_problem(profile: object, part: int) -> str | None:
    if not isinstance(profile, pikepdf.Stream):
        return "không có hồ sơ màu ICC (DestOutputProfile)"
    try:
        header = profile.read_bytes()[:128]
    except pikepdf.PdfError as exc:
        return f"không đọc được hồ sơ màu ICC: {exc}"
    if len(header) < 128 or header[36:40] != b"acsp":
        return "DestOutputProfile không phải hồ sơ màu ICC"
    device_class, colour_space = header[12:16], header[16:20]
    if device_class not in (b"prtr", b"mntr"):
        return f"hồ sơ màu lớp thiết bị '{device_class.decode('latin-1')}' (cần prtr hoặc mntr)"
    if colour_space not in (b"RGB ", b"CMYK", b"GRAY"):
        return f"hồ sơ màu không gian '{colour_space.decode('latin-1')}' (cần RGB, CMYK, GRAY)"
    if header[8] > (2 if part == 1 else 4):
        return f"hồ sơ màu ICC phiên bản {header[8]} quá mới cho PDF/A-{part}"
    return None


def _check_catalog(pdf: pikepdf.Pdf, xmp: XmpFacts, part: int, findings: StructureFindings) -> None:
    """Catalog and pages: no AA, XFA, NeedsRendering; embedded files; optional content."""
    root = pdf.Root
    if "/AA" in root:
        findings.fail(Rule.CATALOG_AA, part, "catalog có hành động bổ sung (AA)")
    if "/NeedsRendering" in root:
        findings.fail(Rule.NEEDS_RENDERING, part, "catalog có khoá NeedsRendering")
    acroform = root.get("/AcroForm")
    if isinstance(acroform, pikepdf.Dictionary) and "/XFA" in acroform:
        findings.fail(Rule.XFA, part, "biểu mẫu có XFA")
    names = root.get("/Names")
    if part == 1 and isinstance(names, pikepdf.Dictionary) and "/EmbeddedFiles" in names:
        findings.fail(Rule.EMBEDDED_FILES, part, "tệp có tệp đính kèm nhúng (EmbeddedFiles)")
    if part >= 2 and isinstance(names, pikepdf.Dictionary) and "/EmbeddedFiles" in names:
        findings.not_checked.append("6.8 tệp đính kèm nhúng: không kiểm tra chúng có là PDF/A")
    _check_optional_content(root.get("/OCProperties"), part, findings)
    for number, page in enumerate(pdf.pages, start=1):
        if "/AA" in page.obj:
            findings.fail(Rule.PAGE_AA, part, f"trang {number} có hành động bổ sung (AA)")


def _check_optional_content(properties: object, part: int, findings: StructureFindings) -> None:
    if properties is None:
        return
    if part == 1:
        findings.fail(Rule.OPTIONAL_CONTENT, part, "catalog có nội dung tuỳ chọn (OCProperties)")
        return
    if not isinstance(properties, pikepdf.Dictionary):
        return
    configs = [properties.get("/D")]
    others = properties.get("/Configs")
    if isinstance(others, pikepdf.Array):
        configs.extend(others)
    for config in configs:
        if not isinstance(config, pikepdf.Dictionary):
            continue
        if not str(config.get("/Name", "")):
            findings.fail(
                Rule.OPTIONAL_CONTENT, part, "cấu hình nội dung tuỳ chọn không có tên (Name)"
            )
        if "/AS" in config:
            findings.fail(Rule.OPTIONAL_CONTENT_AS, part, "cấu hình nội dung tuỳ chọn có khoá AS")


def _check_actions(pdf: pikepdf.Pdf, xmp: XmpFacts, part: int, findings: StructureFindings) -> None:
    """Actions: only the permitted types, only the permitted named actions."""
    allowed = _ALLOWED_ACTIONS[min(part, 2)]
    for where, action in _actions(pdf, findings):
        kind = str(action.get("/S"))
        if kind not in allowed:
            findings.fail(Rule.ACTION, part, f"hành động {kind[1:]} bị cấm ({where})")
        elif kind == "/Named" and str(action.get("/N")) not in _ALLOWED_NAMED:
            findings.fail(
                Rule.NAMED_ACTION, part, f"hành động có tên {action.get('/N')} bị cấm ({where})"
            )


def _actions(
    pdf: pikepdf.Pdf, findings: StructureFindings
) -> Iterator[tuple[str, pikepdf.Dictionary]]:
    """Every action dictionary in the file, direct or indirect (bounded walk)."""
    budget = [_MAX_OBJECTS_WALKED]
    for obj in pdf.objects:
        if budget[0] <= 0:
            findings.not_checked.append("hành động: tệp quá nhiều đối tượng, chỉ duyệt một phần")
            return
        if isinstance(obj, pikepdf.Stream) or not isinstance(
            obj, pikepdf.Dictionary | pikepdf.Array
        ):
            continue  # streams, and indirect numbers or names (e.g. a /Length object)
        where = f"đối tượng {obj.objgen[0]}"
        yield from _actions_in(obj, where, budget, depth=0)


def _actions_in(
    obj: object, where: str, budget: list[int], depth: int
) -> Iterator[tuple[str, pikepdf.Dictionary]]:
    budget[0] -= 1
    if depth > 32 or budget[0] <= 0:
        return
    if isinstance(obj, pikepdf.Dictionary):
        if str(_entry(obj, "/S", "")) in _ACTION_TYPES:
            yield where, obj
        children: Iterator[object] = (value for _, value in obj.items())
    elif isinstance(obj, pikepdf.Array):
        children = iter(obj)
    else:
        return
    for child in children:
        if isinstance(child, pikepdf.Dictionary | pikepdf.Array) and not child.is_indirect:
            yield from _actions_in(child, where, budget, depth + 1)


def _check_repairs(pdf: pikepdf.Pdf, part: int, findings: StructureFindings) -> None:
    """qpdf's warnings say the file structure was damaged and had to be repaired."""
    xref, lengths = [], []
    for warning in pdf.get_warnings():
        text = str(warning).replace(pdf.filename, "").lstrip(": ")
        lowered = text.lower()
        if "xref" in lowered or "cross-reference" in lowered or "trailer" in lowered:
            xref.append(text)
        elif "length" in lowered or "endstream" in lowered:
            lengths.append(text)
        else:
            findings.not_checked.append(f"qpdf phải sửa lỗi cấu trúc chưa phân loại: {text}")
    if xref:
        findings.fail(Rule.XREF, part, f"bảng tham chiếu chéo (xref) hỏng: {'; '.join(xref[:3])}")
    if lengths:
        findings.fail(Rule.STREAM_LENGTH, part, f"độ dài luồng sai: {'; '.join(lengths[:3])}")


# --- What the page contents use -------------------------------------------------------------


def unembedded_page_fonts(pdf: pikepdf.Pdf) -> list[str]:
    """Messages naming each font used to show text in the pages' own content (and the forms
    they draw), not annotations, whose program is not embedded (ISO 19005-2 6.2.11.4.1): what
    the rule's check reports for those pages, which a rendition that keeps the page content
    as it is cannot change."""
    usage = _ContentWalker(2, annotations=False)
    usage.walk(pdf)
    return usage.unembedded_font_messages()


def _entry(holder: pikepdf.Object, key: str, default: object = None) -> object:
    """``holder.get(key, default)``, several times cheaper when the key is absent, as it is
    for most keys an object walk asks every object about."""
    return holder[key] if key in holder else default  # noqa: SIM401 (get raises inside)


def _child(obj: object, key: str) -> pikepdf.Dictionary:
    """``obj[key]`` when both are dictionaries, else an empty dictionary."""
    if isinstance(obj, pikepdf.Dictionary | pikepdf.Stream):
        value = obj.get(key)
        if isinstance(value, pikepdf.Dictionary):
            return value
    return pikepdf.Dictionary()


class _ContentWalker:
    """Fonts used to show text, device colour and transparency used, in pages and forms."""

    def __init__(self, part: int, *, annotations: bool = True) -> None:
        self.part = part
        self.annotations = annotations
        self.unembedded_fonts: list[tuple[str, str]] = []
        self.device_colours: set[str] = set()
        self.transparency: list[str] = []
        self.limited = False
        self._operators = 0
        self._seen_forms: set[tuple[int, int]] = set()
        self._seen_fonts: set[tuple[int, int]] = set()

    def unembedded_font_messages(self) -> list[str]:
        return [
            f"phông chữ {font} ({where}) không được nhúng" for where, font in self.unembedded_fonts
        ]

    def walk(self, pdf: pikepdf.Pdf) -> None:
        for number, page in enumerate(pdf.pages, start=1):
            where = f"trang {number}"
            resources = page.obj.get("/Resources")
            if _child(page.obj, "/Group").get("/S") == "/Transparency":
                self.transparency.append(where)
            self._content(page.obj, resources, where, 0)
            for annotation in page.obj.get("/Annots", []) if self.annotations else []:
                self._appearance(annotation, where)

    def _appearance(self, annotation: object, where: str) -> None:
        if not isinstance(annotation, pikepdf.Dictionary):
            return
        normal = _child(annotation, "/AP").get("/N")
        streams = [normal] if isinstance(normal, pikepdf.Stream) else []
        if isinstance(normal, pikepdf.Dictionary):
            streams = [value for _, value in normal.items() if isinstance(value, pikepdf.Stream)]
        for stream in streams:
            self._form(stream, None, f"{where}, chú thích", 1)

    def _form(self, form: pikepdf.Stream, inherited: object, where: str, depth: int) -> None:
        key = form.objgen
        if key != (0, 0) and key in self._seen_forms:
            return
        self._seen_forms.add(key)
        if _child(form, "/Group").get("/S") == "/Transparency":
            self.transparency.append(where)
        self._content(form, form.get("/Resources", inherited), where, depth)

    def _content(self, holder: object, resources: object, where: str, depth: int) -> None:
        if depth > _MAX_FORM_DEPTH or self.limited:
            self.limited = True
            return
        try:
            instructions = pikepdf.parse_content_stream(holder)  # type: ignore[arg-type]
        except (pikepdf.PdfError, TypeError, ValueError):
            return
        resources = resources if isinstance(resources, pikepdf.Dictionary) else pikepdf.Dictionary()
        font: object = None
        render_mode, stack = 0, []
        for instruction in instructions:
            self._operators += 1
            if self._operators > _MAX_OPERATORS:
                self.limited = True
                return
            if isinstance(instruction, pikepdf.ContentStreamInlineImage):
                self._inline_image(instruction, where)
                continue
            operator, operands = str(instruction.operator), instruction.operands
            if operator == "q":
                stack.append((font, render_mode))
            elif operator == "Q" and stack:
                font, render_mode = stack.pop()
            elif operator == "Tf" and operands:
                font = _child(resources, "/Font").get(str(operands[0]))
            elif operator == "Tr" and operands:
                render_mode = int(operands[0])
            elif operator in _TEXT_SHOWING and font is not None:
                if render_mode != 3 or self.part == 1:
                    self._font(font, where)
            elif operator in _DEVICE_OPERATORS:
                self._device(_DEVICE_OPERATORS[operator], resources)
            elif operator in ("cs", "CS") and operands:
                self._colour_space(operands[0], resources)
            elif operator == "gs" and operands and self.part == 1:
                self._ext_gstate(_child(resources, "/ExtGState").get(str(operands[0])), where)
            elif operator == "Do" and operands:
                xobject = _child(resources, "/XObject").get(str(operands[0]))
                self._xobject(xobject, resources, where, depth)

    def _font(self, font: object, where: str) -> None:
        if not isinstance(font, pikepdf.Dictionary):
            return
        key = font.objgen
        if key != (0, 0) and key in self._seen_fonts:
            return
        self._seen_fonts.add(key)
        if font.get("/Subtype") == "/Type3":
            return
        described: object = font
        if font.get("/Subtype") == "/Type0":
            descendants = font.get("/DescendantFonts")
            described = descendants[0] if isinstance(descendants, pikepdf.Array) else font
        descriptor = _child(described, "/FontDescriptor")
        embedded = any(name in descriptor for name in _FONT_FILES)
        if not embedded:
            self.unembedded_fonts.append((where, str(font.get("/BaseFont", "?"))[1:]))

    def _colour_space(self, name: object, resources: pikepdf.Dictionary) -> None:
        space = str(name)
        if space not in _DEVICE_SPACES:
            space = str(_child(resources, "/ColorSpace").get(space))
        if space in _DEVICE_SPACES:
            self._device(_DEVICE_SPACES[space], resources)

    def _device(self, kind: str, resources: pikepdf.Dictionary) -> None:
        """Device colour in use, unless PDF/A-2 DefaultRGB/Gray/CMYK makes it calibrated."""
        if self.part >= 2 and f"/Default{kind}" in _child(resources, "/ColorSpace"):
            return
        self.device_colours.add(kind)

    def _inline_image(self, image: pikepdf.ContentStreamInlineImage, where: str) -> None:
        try:
            space = image.iimage.obj.get("/ColorSpace") or image.iimage.obj.get("/CS")
        except (pikepdf.PdfError, AttributeError):
            return
        if str(space) in _INLINE_SPACES:
            self.device_colours.add(_INLINE_SPACES[str(space)])

    def _ext_gstate(self, state: object, where: str) -> None:
        if not isinstance(state, pikepdf.Dictionary):
            return
        soft_mask = state.get("/SMask")
        if soft_mask is not None and soft_mask != "/None":
            self.transparency.append(f"{where}, ExtGState SMask")
        for key in ("/CA", "/ca"):
            if key in state and float(state[key]) != 1.0:
                self.transparency.append(f"{where}, ExtGState {key[1:]}")
        if str(state.get("/BM", "/Normal")) not in ("/Normal", "/Compatible"):
            self.transparency.append(f"{where}, chế độ hoà trộn {state.get('/BM')}")

    def _xobject(self, xobject: object, resources: object, where: str, depth: int) -> None:
        if not isinstance(xobject, pikepdf.Stream):
            return
        if xobject.get("/Subtype") == "/Form":
            self._form(xobject, resources, f"{where}, form XObject", depth + 1)
            return
        if xobject.get("/Subtype") != "/Image":
            return
        space = xobject.get("/ColorSpace")
        if str(space) in _DEVICE_SPACES and not xobject.get("/ImageMask", False):
            self.device_colours.add(_DEVICE_SPACES[str(space)])
        if "/SMask" in xobject:
            self.transparency.append(f"{where}, ảnh có SMask")
