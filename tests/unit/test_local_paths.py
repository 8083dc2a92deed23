"""Messages of tools keep the document's name, not the server's paths."""

from __future__ import annotations

from pathlib import Path

from archive_service.formats.local_paths import hide_local_paths


def test_the_file_is_named_by_its_document_name_and_scratch_files_by_their_own() -> None:
    copy = Path("/srv/archive/staging/work/d1/copies/0003-to-khai.pdf")
    scratch = Path("/srv/archive/staging/work/d1/out/.rendition-x")
    text = (
        f"{copy}: can't find startxref; "
        f"{scratch}/ghostscript.pdf (offset 12): bad xref; {copy} again"
    )
    shown = hide_local_paths(text, copy, "240610-0001.3.pdf", (scratch,))
    assert shown == (
        "240610-0001.3.pdf: can't find startxref; "
        "ghostscript.pdf (offset 12): bad xref; 240610-0001.3.pdf again"
    )
    assert "/srv" not in shown


def test_text_without_those_paths_is_left_as_it_is() -> None:
    assert hide_local_paths("no paths here: /etc/x", Path("/tmp/b.pdf"), "a.pdf") == (
        "no paths here: /etc/x"
    )
