"""Opening packages safely: ZIP and folder containers, their checks and bounded member reads."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import unicodedata
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from archive_service.config import PackageLimits
from archive_service.packages.container import (
    DeclaredSizeReader,
    FolderSource,
    PackageReadError,
    ZipSource,
    open_package,
    printable,
)
from archive_service.packages.problems import PackageInvalid, ProblemCode
from tests.integration.sip_mutations import symlink_info, tree_snapshot

LIMITS = PackageLimits()
ROOT = "uuid-0F8B6C1E-1111-4222-8333-944445555666"

Tweak = Callable[[zipfile.ZipFile], None]


def make_zip(
    path: Path,
    members: Iterable[tuple[str | zipfile.ZipInfo, bytes]],
    tweak: Tweak | None = None,
    compression: int = zipfile.ZIP_DEFLATED,
) -> Path:
    """Write a ZIP; ``tweak`` may alter the central-directory records before they are written."""
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members:
            archive.writestr(name, data)
        if tweak:
            tweak(archive)
    return path


def refused(path: Path, limits: PackageLimits = LIMITS) -> list[tuple[ProblemCode, str]]:
    """Open ``path`` expecting refusal; return (code, path) of every problem."""
    with pytest.raises(PackageInvalid) as caught:
        open_package(path, limits)
    return [(p.code, p.path) for p in caught.value.problems]


GOOD_MEMBERS = [
    (f"{ROOT}/METS.xml", b"<mets/>"),
    (f"{ROOT}/representations/rep1/data/Tờ khai đăng ký.pdf", b"%PDF-1.7 " + b"x" * 5000),
    (f"{ROOT}/schemas/ead.xsd", b"<xs:schema/>"),
]


def test_zip_is_read_in_place_without_writing_anything(tmp_path: Path) -> None:
    package = make_zip(tmp_path / "sip.zip", GOOD_MEMBERS)
    before = tree_snapshot(tmp_path)
    with open_package(package, LIMITS) as source:
        assert isinstance(source, ZipSource)
        assert source.root_name == ROOT
        assert source.names() == [
            "METS.xml",
            "representations/rep1/data/Tờ khai đăng ký.pdf",
            "schemas/ead.xsd",
        ]
        pdf = "representations/rep1/data/Tờ khai đăng ký.pdf"
        assert source.size(pdf) == 5009
        with source.open(pdf) as stream:
            assert stream.read() == GOOD_MEMBERS[1][1]
        digest = hashlib.sha256(GOOD_MEMBERS[1][1]).hexdigest()
        handle = source.file_source(pdf, digest)
        assert (handle.size, handle.sha256) == (5009, digest)
        for _ in range(2):
            with handle.open() as stream:
                assert hashlib.sha256(stream.read()).hexdigest() == digest
        with pytest.raises(FileNotFoundError):
            source.open("METS2.xml")
    assert tree_snapshot(tmp_path) == before


def test_folder_is_read_like_a_zip(tmp_path: Path) -> None:
    root = tmp_path / ROOT
    for name, data in GOOD_MEMBERS:
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    (root / "empty-folder").mkdir()
    before = tree_snapshot(tmp_path)
    with open_package(root, LIMITS) as source:
        assert isinstance(source, FolderSource)
        assert source.root_name == ROOT
        assert source.names() == [name.split("/", 1)[1] for name, _ in GOOD_MEMBERS]
        with source.open("METS.xml") as stream:
            assert stream.read() == b"<mets/>"
        assert source.size("schemas/ead.xsd") == len(b"<xs:schema/>")
    assert tree_snapshot(tmp_path) == before


def _encrypt_first(archive: zipfile.ZipFile) -> None:
    archive.filelist[1].flag_bits |= 0x1


_NFC = unicodedata.normalize("NFC", "Quyết định.pdf")
_NFD = unicodedata.normalize("NFD", "Quyết định.pdf")

HOSTILE_ZIPS: list[tuple[str, list[tuple[str | zipfile.ZipInfo, bytes]], ProblemCode, str]] = [
    ("absolute", [("/etc/cron.d/x", b"")], ProblemCode.SIP_ABSOLUTE_PATH, "/etc/cron.d/x"),
    (
        "drive letter",
        [("C:/Windows/x.dll", b"")],
        ProblemCode.SIP_ABSOLUTE_PATH,
        "C:/Windows/x.dll",
    ),
    ("backslash root", [("\\share\\x", b"")], ProblemCode.SIP_ABSOLUTE_PATH, "\\share\\x"),
    ("dot-dot", [(f"{ROOT}/../../x", b"")], ProblemCode.SIP_PATH_TRAVERSAL, "../../x"),
    (
        "dot-dot backslash",
        [(f"{ROOT}/a\\..\\..\\x", b"")],
        ProblemCode.SIP_PATH_TRAVERSAL,
        "a\\..\\..\\x",
    ),
    (
        "symlink",
        [(symlink_info(f"{ROOT}/link.pdf"), b"/etc/passwd")],
        ProblemCode.SIP_LINK,
        "link.pdf",
    ),
    (
        "case duplicate",
        [(f"{ROOT}/A.pdf", b"1"), (f"{ROOT}/a.pdf", b"2")],
        ProblemCode.SIP_DUPLICATE_ENTRY,
        "a.pdf",
    ),
    (
        "unicode duplicate",
        [(f"{ROOT}/{_NFC}", b"1"), (f"{ROOT}/{_NFD}", b"2")],
        ProblemCode.SIP_DUPLICATE_ENTRY,
        _NFD,
    ),
    (
        "exact duplicate",
        [(f"{ROOT}/x", b"1"), (f"{ROOT}/x", b"2")],
        ProblemCode.SIP_DUPLICATE_ENTRY,
        "x",
    ),
    (
        "file and folder",
        [(f"{ROOT}/x", b"1"), (f"{ROOT}/x/y", b"2")],
        ProblemCode.SIP_DUPLICATE_ENTRY,
        "x",
    ),
    ("control char", [(f"{ROOT}/a\x1b[2Jb", b"")], ProblemCode.SIP_BAD_PATH, "a\\x1b[2Jb"),
    ("bidi override", [(f"{ROOT}/fdp.\u202eexe", b"")], ProblemCode.SIP_BAD_PATH, "fdp.\\u202eexe"),
    ("empty segment", [(f"{ROOT}/a//b", b"")], ProblemCode.SIP_BAD_PATH, "a//b"),
    ("long segment", [(f"{ROOT}/{'đ' * 130}", b"")], ProblemCode.SIP_BAD_PATH, "đ" * 130),
    ("two roots", [(f"{ROOT}/a", b""), ("other/b", b"")], ProblemCode.SIP_ROOT_FOLDER, ""),
    ("file at top", [(f"{ROOT}/a", b""), ("readme.txt", b"")], ProblemCode.SIP_ROOT_FOLDER, ""),
    (
        "zip bomb",
        [(f"{ROOT}/z.pdf", b"\0" * 5_000_000)],
        ProblemCode.SIP_COMPRESSION_RATIO,
        "z.pdf",
    ),
]


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize(
    ("members", "code", "where"),
    [pytest.param(m, c, w, id=i) for i, m, c, w in HOSTILE_ZIPS],
)
def test_hostile_zip_is_refused_with_the_right_code(
    tmp_path: Path,
    members: list[tuple[str | zipfile.ZipInfo, bytes]],
    code: ProblemCode,
    where: str,
) -> None:
    package = make_zip(tmp_path / "sip.zip", members)
    before = tree_snapshot(tmp_path)
    assert (code, where) in refused(package)
    assert tree_snapshot(tmp_path) == before


def test_encrypted_entry_is_refused(tmp_path: Path) -> None:
    package = make_zip(tmp_path / "sip.zip", GOOD_MEMBERS, _encrypt_first)
    assert refused(package) == [
        (ProblemCode.SIP_ENCRYPTED_ENTRY, "representations/rep1/data/Tờ khai đăng ký.pdf")
    ]


def test_unsupported_compression_is_refused(tmp_path: Path) -> None:
    package = make_zip(tmp_path / "sip.zip", GOOD_MEMBERS[:1], compression=zipfile.ZIP_BZIP2)
    assert refused(package) == [(ProblemCode.SIP_UNREADABLE, "METS.xml")]


def test_every_problem_is_reported_not_only_the_first(tmp_path: Path) -> None:
    members: list[tuple[str | zipfile.ZipInfo, bytes]] = [
        *GOOD_MEMBERS,
        (f"{ROOT}/../x", b""),
        (symlink_info(f"{ROOT}/l"), b"/"),
        (f"{ROOT}/METS.XML", b""),
    ]
    codes = {code for code, _ in refused(make_zip(tmp_path / "sip.zip", members))}
    assert {
        ProblemCode.SIP_PATH_TRAVERSAL,
        ProblemCode.SIP_LINK,
        ProblemCode.SIP_DUPLICATE_ENTRY,
    } <= codes


def test_limits_on_entries_and_total_size(tmp_path: Path) -> None:
    many = make_zip(tmp_path / "many.zip", [(f"{ROOT}/f{i}", b"x") for i in range(12)])
    assert refused(many, PackageLimits(max_entries=10)) == [(ProblemCode.SIP_TOO_MANY_ENTRIES, "")]
    big = make_zip(tmp_path / "big.zip", GOOD_MEMBERS)
    assert refused(big, PackageLimits(max_total_bytes=1000)) == [(ProblemCode.SIP_TOO_LARGE, "")]


def test_entry_count_is_checked_before_the_central_directory_is_loaded(tmp_path: Path) -> None:
    """A ZIP announcing 60 000 entries is refused from its end record alone."""
    data = bytearray(make_zip(tmp_path / "x.zip", GOOD_MEMBERS).read_bytes())
    end = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, end + 8, 60_000, 60_000)
    package = tmp_path / "announced.zip"
    package.write_bytes(bytes(data))
    with pytest.raises(PackageInvalid) as caught:
        open_package(package, PackageLimits(max_entries=100))
    [problem] = caught.value.problems
    assert problem.code is ProblemCode.SIP_TOO_MANY_ENTRIES
    assert "60000" in problem.message


def test_not_a_zip_truncated_zip_and_missing_file(tmp_path: Path) -> None:
    text = tmp_path / "sip.zip"
    text.write_text("Đây không phải ZIP", encoding="utf-8")
    assert refused(text) == [(ProblemCode.SIP_NOT_ZIP, "sip.zip")]
    whole = make_zip(tmp_path / "whole.zip", GOOD_MEMBERS).read_bytes()
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(whole[: len(whole) // 2])
    assert refused(truncated) == [(ProblemCode.SIP_UNREADABLE, "truncated.zip")]
    assert refused(tmp_path / "absent.zip") == [(ProblemCode.SIP_UNREADABLE, "absent.zip")]
    empty = make_zip(tmp_path / "empty.zip", [])
    assert refused(empty) == [(ProblemCode.SIP_ROOT_FOLDER, "")]


def test_member_whose_header_lies_about_its_size_stops_reading(tmp_path: Path) -> None:
    def understate(archive: zipfile.ZipFile) -> None:
        archive.filelist[1].file_size = 100

    package = make_zip(tmp_path / "sip.zip", GOOD_MEMBERS, understate)
    pdf = "representations/rep1/data/Tờ khai đăng ký.pdf"
    with open_package(package, LIMITS) as source:
        assert source.size(pdf) == 100
        with pytest.raises(PackageReadError) as caught, source.open(pdf) as stream:
            stream.read()
    assert caught.value.problem.code is ProblemCode.SIP_UNREADABLE
    assert caught.value.problem.path == pdf


@pytest.mark.parametrize(("content", "declared"), [(b"x" * 100, 10), (b"x" * 10, 100)])
def test_declared_size_reader_refuses_more_or_fewer_bytes(content: bytes, declared: int) -> None:
    reader = io.BufferedReader(DeclaredSizeReader(io.BytesIO(content), "a.pdf", declared))
    with pytest.raises(PackageReadError) as caught:
        reader.read()
    assert caught.value.problem.path == "a.pdf"


def test_declared_size_reader_passes_exact_content() -> None:
    reader = io.BufferedReader(DeclaredSizeReader(io.BytesIO(b"abc" * 1000), "a", 3000))
    assert reader.read() == b"abc" * 1000


def _folder(tmp_path: Path) -> Path:
    root = tmp_path / ROOT
    (root / "data").mkdir(parents=True)
    (root / "METS.xml").write_bytes(b"<mets/>")
    return root


def test_folder_symlinks_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("mật khẩu", encoding="utf-8")
    root = _folder(tmp_path)
    (root / "data" / "a.pdf").symlink_to(secret)
    (root / "linked-dir").symlink_to(tmp_path, target_is_directory=True)
    assert sorted(refused(root)) == [
        (ProblemCode.SIP_LINK, "data/a.pdf"),
        (ProblemCode.SIP_LINK, "linked-dir"),
    ]


def test_folder_hard_link_and_special_file_are_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("x", encoding="utf-8")
    root = _folder(tmp_path)
    os.link(outside, root / "data" / "hard.pdf")
    os.mkfifo(root / "data" / "pipe")
    assert sorted(refused(root)) == [
        (ProblemCode.SIP_BAD_PATH, "data/pipe"),
        (ProblemCode.SIP_LINK, "data/hard.pdf"),
    ]


def test_folder_case_duplicates_and_limits(tmp_path: Path) -> None:
    root = _folder(tmp_path)
    (root / "mets.xml").write_bytes(b"<mets/>")
    [(code, where)] = refused(root)  # which of the two is "second" depends on directory order
    assert code is ProblemCode.SIP_DUPLICATE_ENTRY
    assert where in {"mets.xml", "METS.xml"}
    (root / "mets.xml").unlink()
    for i in range(20):
        (root / "data" / f"{i}.pdf").write_bytes(b"x" * 100)
    assert refused(root, PackageLimits(max_entries=10)) == [(ProblemCode.SIP_TOO_MANY_ENTRIES, "")]
    assert refused(root, PackageLimits(max_total_bytes=1000)) == [(ProblemCode.SIP_TOO_LARGE, "")]


def test_folder_file_swapped_for_a_link_after_the_check_is_not_followed(tmp_path: Path) -> None:
    root = _folder(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("mật khẩu", encoding="utf-8")
    with open_package(root, LIMITS) as source:
        (root / "METS.xml").unlink()
        (root / "METS.xml").symlink_to(secret)
        with pytest.raises(PackageReadError) as caught, source.open("METS.xml"):
            pass
    assert caught.value.problem.code is ProblemCode.SIP_UNREADABLE
    assert "mật khẩu" not in caught.value.problem.message


def test_linked_root_folder_is_refused(tmp_path: Path) -> None:
    root = _folder(tmp_path)
    link = tmp_path / "uuid-link"
    link.symlink_to(root, target_is_directory=True)
    assert refused(link) == [(ProblemCode.SIP_LINK, "uuid-link")]


def test_printable_escapes_control_characters() -> None:
    assert printable("a\nb\x00c\u202ed") == "a\\nb\\x00c\\u202ed"
    assert printable("Quyết định") == "Quyết định"


def test_every_control_character_and_bidi_override_is_escaped_and_nothing_else() -> None:
    """Over every code point: categories Cc and Cs and the bidirectional overrides are shown
    as escapes (and refused in names); every other character is left as it is."""
    bidi = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
    wrong = [
        hex(code)
        for code in range(0x110000)
        if (printable(chr(code)) != chr(code))
        != (unicodedata.category(chr(code)) in ("Cc", "Cs") or chr(code) in bidi)
    ]
    assert wrong == []
