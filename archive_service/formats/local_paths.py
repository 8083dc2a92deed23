"""Keep the archive's own file system out of what it records about a document.

Tools name the file they were given (qpdf: ``/srv/archive/staging/work/…/copies/0003-a.pdf:
can't find startxref``). Such messages go into PREMIS and the catalogue, where the path of a
scratch copy means nothing and tells the layout of the server; the document's own name says
which file it is.
"""

from __future__ import annotations

import os


def hide_local_paths(text: str, shown_name: str, *paths: str | os.PathLike[str]) -> str:
    """``text`` with each of ``paths`` replaced by ``shown_name`` (a file) and any path below
    the folders of ``paths`` replaced by its last part."""
    for path in paths:
        full = os.fspath(path)
        text = text.replace(full, shown_name)
        folder = os.path.dirname(full)
        if folder and folder != os.sep:
            text = text.replace(folder + os.sep, "")
    return text
