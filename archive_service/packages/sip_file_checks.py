"""The files a SIP's METS files reference: present, with the declared size and SHA-256.

Every file of the package must be referenced by some METS file.
"""

from __future__ import annotations

import posixpath
import re

from archive_service.packages.mets import METS_FILE, REPRESENTATIONS_DIR
from archive_service.packages.mets_reader import FileReference, MetsFile
from archive_service.packages.problems import ProblemCode
from archive_service.packages.sip_contents import SipCheck

_SHA256 = re.compile(r"^[0-9A-Fa-f]{64}$")


class FileChecks(SipCheck):
    """Checks every file reference of the METS files against the package's files."""

    def check_files(
        self, root_mets: MetsFile | None, representations: list[MetsFile] | None
    ) -> None:
        """Declared size and checksum of every reference; no file left unreferenced."""
        if root_mets is None:
            return
        mets_files = [root_mets, *(representations or [])]
        referenced = {METS_FILE}
        for mets in mets_files:
            referenced.update(p for p in map(self._found, mets.pointers) if p)
            for reference in mets.references():
                if reference.path is not None:
                    found = self._check_reference(reference, mets.path)
                    referenced.add(found or reference.path)
        unread = [] if representations is not None else _representation_folders(root_mets)
        for name in sorted(self.contents.names() - referenced):
            if any(name.startswith(folder) for folder in unread):
                continue
            self.add(
                ProblemCode.SIP_FILE_UNREFERENCED,
                name,
                f"Tệp '{name}' có trong gói nhưng không được khai báo trong METS nào",
            )

    def _found(self, path: str | None) -> str | None:
        return self.contents.find(path) if path else None

    def _check_reference(self, reference: FileReference, mets_path: str) -> str | None:
        """Check one reference; return the package's name of the file when it exists."""
        assert reference.path is not None
        path = self.contents.find(reference.path)
        if path is None:
            self.add(
                ProblemCode.SIP_FILE_MISSING,
                reference.path,
                f"Thiếu tệp '{reference.path}' được khai báo trong {mets_path}",
            )
            return None
        sha256_ok = reference.checksum_type == "SHA-256"
        if not sha256_ok:
            self.add(
                ProblemCode.SIP_CHECKSUM_TYPE,
                path,
                f"{mets_path}: tệp '{path}' khai báo CHECKSUMTYPE '{reference.checksum_type or ''}'"
                ", phải là 'SHA-256'",
                "CHECKSUMTYPE",
            )
        declared = reference.size
        if declared is None or not (declared.isascii() and declared.isdigit()):
            self.add(
                ProblemCode.METS_REFERENCE_INVALID,
                path,
                f"{mets_path}: tệp '{path}' thiếu SIZE hoặc SIZE '{declared or ''}' không phải số",
                "SIZE",
            )
        elif int(declared) != self.contents.size(path):
            self.add(
                ProblemCode.SIP_SIZE_MISMATCH,
                path,
                f"Tệp '{path}' dài {self.contents.size(path)} byte, {mets_path} khai báo "
                f"SIZE={declared}",
                "SIZE",
            )
            return path
        if sha256_ok:
            self._check_checksum(path, reference.checksum, mets_path)
        return path

    def _check_checksum(self, path: str, checksum: str | None, mets_path: str) -> None:
        if checksum is None or not _SHA256.match(checksum):
            self.add(
                ProblemCode.METS_REFERENCE_INVALID,
                path,
                f"{mets_path}: tệp '{path}' thiếu CHECKSUM hoặc CHECKSUM '{checksum or ''}' "
                "không phải SHA-256 dạng hex",
                "CHECKSUM",
            )
            return
        digest = self.contents.digest(path)
        if digest is not None and digest[0] != checksum.lower():
            self.add(
                ProblemCode.SIP_CHECKSUM_MISMATCH,
                path,
                f"Tệp '{path}' có SHA-256 {digest[0].upper()}, {mets_path} khai báo "
                f"{checksum.upper()} (tệp bị thay đổi hoặc hỏng)",
                "CHECKSUM",
            )


def _representation_folders(root_mets: MetsFile) -> list[str]:
    """Folders whose METS could not be read: their files are not reported as unreferenced."""
    folders = [posixpath.dirname(p) + "/" for p in root_mets.pointers if p]
    return folders or [f"{REPRESENTATIONS_DIR}/"]
