"""Copies of a package's files on disk, for the tools that need a path (scanner, validators,
converters), their SHA-256 checked again.

A copy keeps the file's own name so that tools which name their output after their input
(LibreOffice) or report it (ClamAV) say something people recognise; ``numbered_name`` prefixes
it with the copy's number so that many copies share one folder (on some filesystems every
directory created costs as much as writing a small file).
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from archive_service.packages.container import PackageSource
from archive_service.packages.models import PackageFile
from archive_service.streams import copy_with_sha256


class PackageFileChanged(Exception):
    """A package file's bytes no longer have the SHA-256 the package check verified."""


def numbered_name(number: int, package_path: str) -> str:
    """``0007-<file name>``: unique among the copies of one package, still recognisable."""
    return f"{number:04d}-{posixpath.basename(package_path)}"


def extract(
    source: PackageSource, package_file: PackageFile, folder: Path, name: str | None = None
) -> Path:
    """Copy ``package_file`` to ``folder/<name>`` (default: its own name; ``folder`` is
    created); return the copy."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / (name or posixpath.basename(package_file.path))
    with source.open(package_file.path) as stream, target.open("wb") as out:
        sha256, _ = copy_with_sha256(stream, out)
    if sha256 != package_file.sha256.lower():
        target.unlink(missing_ok=True)
        raise PackageFileChanged(
            f"Tệp {package_file.path} của gói có SHA-256 {sha256}, khác giá trị đã kiểm tra "
            f"{package_file.sha256}"
        )
    return target
