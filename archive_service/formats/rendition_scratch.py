"""Where a rendition is made before it is verified and kept.

The lossless PDF path writes one draft: a file beside the target under a hidden name no other
file has, renamed to the target once verified. Only the converters that write several files
(img2pdf, LibreOffice, Ghostscript) get a scratch folder, made when first asked for — a folder
made and removed per document costs more than the pikepdf step's own bookkeeping. ``clean``
removes whatever is left.
"""

from __future__ import annotations

import secrets
import tempfile
from pathlib import Path

DRAFT_NAME = "rendition.pdf"  # how messages name a draft, wherever it was written


class Scratch:
    """The drafts and the scratch folder of one rendition in the work folder ``work``."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._drafts: list[Path] = []

    def folder(self) -> Path:
        """The scratch folder, made on first use."""
        if self._folder is None:
            self._folder = tempfile.TemporaryDirectory(dir=self.work, prefix=".rendition-")
        return Path(self._folder.name)

    def draft(self) -> Path:
        """A path in the work folder that no file has, for the converter to create."""
        while True:
            path = self.work / f".rendition-{secrets.token_hex(8)}.pdf"
            if not path.exists():
                self._drafts.append(path)
                return path

    def shown(self, text: str) -> str:
        """``text`` with each draft's path named ``rendition.pdf``, as a draft in the scratch
        folder would be."""
        for draft in self._drafts:
            text = text.replace(str(draft), DRAFT_NAME)
        return text

    def folders(self) -> tuple[str, ...]:
        """The scratch folder, when one was made."""
        return () if self._folder is None else (self._folder.name,)

    def clean(self) -> None:
        """Remove the drafts not kept and the scratch folder."""
        for draft in self._drafts:
            draft.unlink(missing_ok=True)
        if self._folder is not None:
            self._folder.cleanup()
