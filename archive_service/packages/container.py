"""Open a package (ZIP or unpacked folder) safely, without extracting anything to disk.

``open_package`` inspects the ZIP central directory (or the folder tree) before any content is
read and refuses the package with every container problem found: absolute paths, ``..``, links,
duplicate names (also by case or Unicode normalisation), too many entries, too many bytes,
suspicious compression ratios, encrypted entries, stray top-level entries and unprintable paths.
Members are then read as streams that stop as soon as more bytes come out than were declared.
"""

from __future__ import annotations

import io
import os
import re
import stat
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, Protocol

from archive_service.config import PackageLimits
from archive_service.packages.problems import PackageInvalid, Problem, ProblemCode
from archive_service.streams import CHUNK_SIZE, FileSource

#: Entries smaller than this are never refused for their compression ratio.
RATIO_MIN_BYTES = 1024 * 1024
#: Longest single path segment, in UTF-8 bytes (the usual file-system limit).
MAX_SEGMENT_BYTES = 255

_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")
_SUPPORTED_COMPRESSION = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_DRIVE = re.compile(r"^[A-Za-z]:")
_SEPARATORS = re.compile(r"[/\\]")
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: A control character (Unicode categories Cc and Cs) or a bidirectional override.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff" + "".join(sorted(_BIDI_CONTROLS)) + "]")
_FLAG_ENCRYPTED = 0x1
_FLAG_UTF8 = 0x800


class PackageReadError(Exception):
    """Reading a package member failed (damaged data, or more/fewer bytes than declared)."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(problem.message)


class PackageSource(Protocol):
    """An opened, checked package: files addressed by '/'-separated paths below its root folder."""

    @property
    def root_name(self) -> str:
        """Name of the single top-level folder (the package id)."""
        ...

    def names(self) -> list[str]:
        """Every file of the package, relative to the root folder, sorted."""
        ...

    def size(self, path: str) -> int:
        """Size in bytes of a file (declared by the ZIP, or on disk)."""
        ...

    def open(self, path: str) -> AbstractContextManager[BinaryIO]:
        """Open a file for reading as a binary stream."""
        ...

    def file_source(self, path: str, sha256: str | None = None) -> FileSource:
        """A re-openable source of a file, with its size and (when known) SHA-256."""
        ...

    def close(self) -> None:
        """Release the underlying file handles."""
        ...

    def __enter__(self) -> PackageSource: ...

    def __exit__(self, *exc: object) -> None: ...


@dataclass(frozen=True)
class _Entry:
    """One entry of a container as seen before reading any content.

    ``name`` is '/'-separated and includes the root folder.
    """

    name: str
    size: int
    is_dir: bool = False
    is_link: bool = False
    is_special: bool = False
    encrypted: bool = False
    compressed_size: int | None = None
    compression: int = zipfile.ZIP_STORED


def open_package(path: Path, limits: PackageLimits) -> PackageSource:
    """Open a SIP (ZIP file or unpacked root folder).

    Raises ``PackageInvalid`` carrying every container problem found.
    """
    if path.is_symlink() and path.is_dir():
        raise PackageInvalid(
            [
                Problem(
                    ProblemCode.SIP_LINK,
                    path.name,
                    f"Thư mục gói '{path.name}' là liên kết (symlink); "
                    "gói không được chứa liên kết",
                )
            ]
        )
    if path.is_dir():
        return FolderSource(path, limits)
    if path.is_file():
        return ZipSource(path, limits)
    raise PackageInvalid(
        [
            Problem(
                ProblemCode.SIP_UNREADABLE,
                path.name,
                f"Không đọc được gói '{path.name}': không phải tệp ZIP hay thư mục",
            )
        ]
    )


class _SourceBase:
    """What both container kinds share: the checked file table and ``file_source``."""

    root_name: str
    _sizes: dict[str, int]

    def names(self) -> list[str]:
        return sorted(self._sizes)

    def size(self, path: str) -> int:
        try:
            return self._sizes[path]
        except KeyError:
            raise FileNotFoundError(path) from None

    def open(self, path: str) -> AbstractContextManager[BinaryIO]:
        raise NotImplementedError

    def file_source(self, path: str, sha256: str | None = None) -> FileSource:
        size = self.size(path)
        return FileSource(open=lambda: self.open(path), size=size, sha256=sha256)

    def close(self) -> None:
        """Nothing to release by default."""

    def __enter__(self) -> _SourceBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _adopt(self, entries: list[_Entry], limits: PackageLimits) -> None:
        """Check ``entries``; keep the file table or raise ``PackageInvalid``."""
        problems = check_entries(entries, limits)
        if problems:
            raise PackageInvalid(problems)
        self.root_name = entries[0].name.split("/", 1)[0]
        prefix = self.root_name + "/"
        self._sizes = {e.name[len(prefix) :]: e.size for e in entries if not e.is_dir}


# --------------------------------------------------------------------------- ZIP


class ZipSource(_SourceBase):
    """A SIP delivered as a ZIP file; members are streamed, never extracted."""

    def __init__(self, path: Path, limits: PackageLimits) -> None:
        self._zip = _open_zip(path, limits)
        try:
            entries, self._infos = _zip_entries(self._zip)
            self._adopt(entries, limits)
        except BaseException:
            self._zip.close()
            raise

    def open(self, path: str) -> AbstractContextManager[BinaryIO]:
        info = self._infos.get(f"{self.root_name}/{path}")
        if info is None or path not in self._sizes:
            raise FileNotFoundError(path)
        return self._open_member(path, info)

    @contextmanager
    def _open_member(self, path: str, info: zipfile.ZipInfo) -> Iterator[BinaryIO]:
        try:
            member = self._zip.open(info)
        except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError) as exc:
            raise PackageReadError(_damaged(path, exc)) from exc
        raw = DeclaredSizeReader(member, path, info.file_size)
        with io.BufferedReader(raw, buffer_size=CHUNK_SIZE) as stream:
            yield stream

    def close(self) -> None:
        self._zip.close()


def _open_zip(path: Path, limits: PackageLimits) -> zipfile.ZipFile:
    """Open the ZIP after checking its signature and declared entry count."""
    name = path.name
    try:
        with path.open("rb") as handle:
            if handle.read(4) not in _ZIP_SIGNATURES:
                raise PackageInvalid(
                    [Problem(ProblemCode.SIP_NOT_ZIP, name, f"Tệp '{name}' không phải tệp ZIP")]
                )
            declared = _declared_entry_count(handle)
        if declared is not None and declared > limits.max_entries:
            raise PackageInvalid([_too_many(declared, limits)])
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
        raise PackageInvalid(
            [
                Problem(
                    ProblemCode.SIP_UNREADABLE,
                    name,
                    f"Tệp ZIP '{name}' bị hỏng hoặc không đầy đủ (bị cắt cụt); "
                    f"chi tiết kỹ thuật: {exc}",
                )
            ]
        ) from exc


def _declared_entry_count(handle: BinaryIO) -> int | None:
    """Entry count from the end-of-central-directory record, read before zipfile parses it.

    Lets a ZIP announcing millions of entries be refused before their records are loaded.
    Returns ``None`` when the record is not found (zipfile then reports the damage).
    """
    handle.seek(0, os.SEEK_END)
    file_size = handle.tell()
    tail_size = min(file_size, 22 + 0xFFFF)
    handle.seek(file_size - tail_size)
    tail = handle.read(tail_size)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(tail):
        return None
    (count,) = struct.unpack_from("<H", tail, at + 10)
    locator = at - 20
    if count == 0xFFFF and locator >= 0 and tail[locator : locator + 4] == b"PK\x06\x07":
        (zip64_at,) = struct.unpack_from("<Q", tail, locator + 8)
        handle.seek(zip64_at)
        record = handle.read(56)
        if len(record) == 56 and record[:4] == b"PK\x06\x06":
            (count,) = struct.unpack_from("<Q", record, 32)
    return int(count)


def _zip_entries(archive: zipfile.ZipFile) -> tuple[list[_Entry], dict[str, zipfile.ZipInfo]]:
    entries: list[_Entry] = []
    infos: dict[str, zipfile.ZipInfo] = {}
    for info in archive.infolist():
        name = _member_name(info)
        mode = info.external_attr >> 16
        entries.append(
            _Entry(
                name=name,
                size=info.file_size,
                is_dir=info.is_dir(),
                is_link=stat.S_ISLNK(mode),
                encrypted=bool(info.flag_bits & _FLAG_ENCRYPTED),
                compressed_size=info.compress_size,
                compression=info.compress_type,
            )
        )
        infos.setdefault(name, info)
    return entries, infos


def _member_name(info: zipfile.ZipInfo) -> str:
    """The entry name; UTF-8 names written without the UTF-8 flag are decoded as UTF-8."""
    if info.flag_bits & _FLAG_UTF8:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


class DeclaredSizeReader(io.RawIOBase):
    """A ZIP member stream that fails when more (or fewer) bytes come out than declared."""

    def __init__(self, member: IO[bytes], path: str, declared: int) -> None:
        super().__init__()
        self._member = member
        self._path = path
        self._remaining = declared

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        wanted = min(len(buffer), self._remaining + 1)
        try:
            data = self._member.read(wanted)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise PackageReadError(_damaged(self._path, exc)) from exc
        if len(data) > self._remaining:
            raise PackageReadError(
                _damaged(self._path, ValueError("nội dung dài hơn kích thước khai báo"))
            )
        if not data and self._remaining > 0 and wanted > 0:
            raise PackageReadError(
                _damaged(self._path, ValueError("nội dung ngắn hơn kích thước khai báo"))
            )
        self._remaining -= len(data)
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._member.close()
        super().close()


def _damaged(path: str, exc: BaseException) -> Problem:
    return Problem(
        ProblemCode.SIP_UNREADABLE,
        path,
        f"Không đọc được tệp '{path}' trong gói ZIP (dữ liệu hỏng); chi tiết kỹ thuật: {exc}",
    )


# --------------------------------------------------------------------------- folder


class FolderSource(_SourceBase):
    """A SIP already unpacked: ``path`` is its root folder (named after the package id)."""

    def __init__(self, path: Path, limits: PackageLimits) -> None:
        self._root = Path(os.path.abspath(path))
        self._adopt(_folder_entries(self._root, limits), limits)

    def open(self, path: str) -> AbstractContextManager[BinaryIO]:
        if path not in self._sizes:
            raise FileNotFoundError(path)
        return self._open_file(path)

    @contextmanager
    def _open_file(self, path: str) -> Iterator[BinaryIO]:
        try:
            descriptor = os.open(self._root / path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:  # replaced by a link, or removed, after the check
            raise PackageReadError(
                Problem(
                    ProblemCode.SIP_UNREADABLE,
                    path,
                    f"Không đọc được tệp '{path}' của gói; chi tiết kỹ thuật: {exc.strerror}",
                )
            ) from exc
        with os.fdopen(descriptor, "rb") as stream:
            yield stream


def _folder_entries(root: Path, limits: PackageLimits) -> list[_Entry]:
    """Walk the folder without following links; stop early once there are too many entries."""
    entries = [_Entry(name=root.name, size=0, is_dir=True)]
    pending = [(root, root.name)]
    while pending:
        folder, name = pending.pop()
        with os.scandir(folder) as listing:
            for item in listing:
                entry = _folder_entry(item, f"{name}/{item.name}")
                entries.append(entry)
                if entry.is_dir and not entry.is_link:
                    pending.append((Path(item.path), entry.name))
                if len(entries) > limits.max_entries + 1:
                    return entries
    return entries


def _folder_entry(item: os.DirEntry[str], name: str) -> _Entry:
    info = item.stat(follow_symlinks=False)
    mode = info.st_mode
    is_file = stat.S_ISREG(mode)
    return _Entry(
        name=name,
        size=info.st_size if is_file else 0,
        is_dir=stat.S_ISDIR(mode),
        is_link=stat.S_ISLNK(mode) or (is_file and info.st_nlink > 1),
        is_special=not (is_file or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)),
    )


# --------------------------------------------------------------------------- checks


def check_entries(entries: list[_Entry], limits: PackageLimits) -> list[Problem]:
    """Every problem of a container's entry table (names include the root folder).

    Problem paths are relative to the root folder when there is a single one.
    """
    tops = {e.name.split("/", 1)[0] for e in entries}
    root = next(iter(tops)) if len(tops) == 1 else None
    if root is not None and _path_problems(root, root, root, limits):
        root = None

    def where(name: str) -> str:
        shown = printable(name)
        if root is not None and shown.startswith(root + "/"):
            return shown[len(root) + 1 :]
        return shown

    problems: list[Problem] = []
    if len(entries) > limits.max_entries:
        problems.append(_too_many(len(entries), limits))
    total = sum(e.size for e in entries)
    if total > limits.max_total_bytes:
        problems.append(
            Problem(
                ProblemCode.SIP_TOO_LARGE,
                "",
                f"Gói có tổng dung lượng giải nén {total} byte, vượt giới hạn "
                f"{limits.max_total_bytes} byte",
            )
        )
    for entry in entries:
        problems.extend(_entry_problems(entry, where(entry.name), limits))
    problems.extend(_duplicate_problems(entries, where))
    problems.extend(_root_problems(entries, sorted(tops)))
    return problems


def _too_many(count: int, limits: PackageLimits) -> Problem:
    return Problem(
        ProblemCode.SIP_TOO_MANY_ENTRIES,
        "",
        f"Gói có ít nhất {count} mục, vượt giới hạn {limits.max_entries} mục",
    )


def _entry_problems(entry: _Entry, where: str, limits: PackageLimits) -> list[Problem]:
    shown = printable(entry.name)
    problems = _path_problems(entry.name, shown, where, limits)
    if entry.is_link:
        problems.append(
            Problem(
                ProblemCode.SIP_LINK,
                where,
                f"'{shown}' là liên kết (symlink/hard link); gói không được chứa liên kết",
            )
        )
    elif entry.is_special:
        problems.append(
            Problem(ProblemCode.SIP_BAD_PATH, where, f"'{shown}' không phải tệp thông thường")
        )
    if entry.encrypted:
        problems.append(
            Problem(
                ProblemCode.SIP_ENCRYPTED_ENTRY,
                where,
                f"Tệp '{shown}' trong ZIP được mã hóa (đặt mật khẩu); gói phải không mã hóa",
            )
        )
    elif not entry.is_dir and entry.compression not in _SUPPORTED_COMPRESSION:
        problems.append(
            Problem(
                ProblemCode.SIP_UNREADABLE,
                where,
                f"Tệp '{shown}' dùng phương thức nén {entry.compression} không được hỗ trợ "
                "(chỉ chấp nhận không nén hoặc Deflate)",
            )
        )
    ratio = _ratio(entry)
    if ratio is not None and ratio > limits.max_ratio:
        problems.append(
            Problem(
                ProblemCode.SIP_COMPRESSION_RATIO,
                where,
                f"Tệp '{shown}' có tỷ lệ nén {ratio:.0f}:1, vượt giới hạn "
                f"{limits.max_ratio:.0f}:1 (nghi là bom nén)",
            )
        )
    return problems


def _ratio(entry: _Entry) -> float | None:
    if entry.compressed_size is None or entry.size < RATIO_MIN_BYTES:
        return None
    if entry.compressed_size == 0:
        return float("inf")
    return entry.size / entry.compressed_size


def _path_problems(name: str, shown: str, where: str, limits: PackageLimits) -> list[Problem]:
    problems: list[Problem] = []
    absolute = name.startswith(("/", "\\")) or bool(_DRIVE.match(name))
    if absolute:
        problems.append(
            Problem(
                ProblemCode.SIP_ABSOLUTE_PATH,
                where,
                f"Đường dẫn tuyệt đối '{shown}' trong gói; mọi đường dẫn phải là tương đối",
            )
        )
    parts = _SEPARATORS.split(name.rstrip("/"))
    if ".." in parts:
        problems.append(
            Problem(
                ProblemCode.SIP_PATH_TRAVERSAL,
                where,
                f"Đường dẫn '{shown}' chứa '..' (trỏ ra ngoài gói)",
            )
        )
    reason = _bad_path_reason(name, parts[1:] if absolute else parts, absolute, limits)
    if reason:
        problems.append(
            Problem(ProblemCode.SIP_BAD_PATH, where, f"Đường dẫn '{shown}' không hợp lệ: {reason}")
        )
    return problems


def _bad_path_reason(
    name: str, parts: list[str], absolute: bool, limits: PackageLimits
) -> str | None:
    if _CONTROL.search(name):
        return "chứa ký tự điều khiển"
    if len(name) > limits.max_path_length:
        return f"dài {len(name)} ký tự, tối đa {limits.max_path_length}"
    if any(len(part.encode("utf-8", "surrogatepass")) > MAX_SEGMENT_BYTES for part in parts):
        return f"có tên thư mục/tệp dài quá {MAX_SEGMENT_BYTES} byte"
    if absolute:
        return None
    if "\\" in name:
        return "dùng dấu '\\' thay cho '/'"
    if "" in parts or "." in parts:
        return "có thành phần rỗng hoặc '.'"
    return None


def printable(text: str) -> str:
    """``text`` with control characters shown as escapes, safe to put in a message or a log."""
    return _CONTROL.sub(
        lambda found: found[0].encode("unicode_escape", "backslashreplace").decode("ascii"), text
    )


def _name_key(name: str) -> str:
    return unicodedata.normalize("NFC", name.rstrip("/")).casefold()


def _duplicate_problems(entries: list[_Entry], where: Callable[[str], str]) -> list[Problem]:
    """Names equal after case folding and Unicode normalisation (one would overwrite the other)."""
    problems: list[Problem] = []
    seen: dict[str, _Entry] = {}
    for entry in entries:
        key = _name_key(entry.name)
        first = seen.setdefault(key, entry)
        if first is entry or (first.is_dir and entry.is_dir):
            continue
        problems.append(
            Problem(
                ProblemCode.SIP_DUPLICATE_ENTRY,
                where(entry.name),
                f"Mục '{printable(entry.name)}' trùng tên với '{printable(first.name)}' "
                "(kể cả khi chỉ khác chữ hoa/thường hoặc cách mã hóa Unicode)",
            )
        )
    folders = {key.rsplit("/", depth)[0] for key in seen for depth in range(1, key.count("/") + 1)}
    for key, entry in seen.items():
        if not entry.is_dir and key in folders:
            problems.append(
                Problem(
                    ProblemCode.SIP_DUPLICATE_ENTRY,
                    where(entry.name),
                    f"'{printable(entry.name)}' vừa là tệp vừa là thư mục trong gói",
                )
            )
    return problems


def _root_problems(entries: list[_Entry], tops: list[str]) -> list[Problem]:
    """Exactly one top-level folder, and no file beside it."""
    loose = [e for e in entries if "/" not in e.name.rstrip("/") and not e.is_dir]
    if len(tops) == 1 and not loose:
        return []
    if not entries:
        message = "Gói rỗng: phải có đúng một thư mục gốc mang tên mã gói"
    else:
        listed = ", ".join(f"'{printable(top)}'" for top in tops[:5])
        message = (
            "Gói phải có đúng một thư mục gốc (tên mã gói) và không có tệp nằm ngoài nó; "
            f"tìm thấy ở cấp cao nhất: {listed}"
        )
    return [Problem(ProblemCode.SIP_ROOT_FOLDER, "", message)]
