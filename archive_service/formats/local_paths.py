"""Keep the archive's own file system out of what it records about a document.

Tools name the file they were given (qpdf: ``/srv/archive/staging/work/…/copies/0003-a.pdf:
can't find startxref``). Such messages go into PREMIS and the catalogue, where the path of a
scratch copy means nothing and tells the layout of the server; the document's own name says
which file it is.
"""

from __future__ import annotations

import os


def hide_local_paths(
    text: str,
    file: str | os.PathLike[str],
    shown_name: str,
    folders: tuple[str | os.PathLike[str], ...] = (),
) -> str:
    """``text`` with ``file`` named ``shown_name``, and any other path in ``file``'s folder or
    in ``folders`` (a scratch folder) by its last part."""
    full = os.fspath(file)
    text = text.replace(full, shown_name)
    for folder in (os.path.dirname(full), *(os.fspath(other) for other in folders)):
        if folder and folder != os.sep:
            text = text.replace(folder.rstrip(os.sep) + os.sep, "")
    return text
