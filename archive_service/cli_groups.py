"""The command groups of the ``archive`` CLI, made alike.

Help texts are read as Markdown: the lines of a docstring paragraph are joined and wrapped to
the terminal (Typer's default keeps each line break of the source), and `code` is shown as code.
"""

from __future__ import annotations

from typing import Any

import typer


def command_group(help: str, **options: Any) -> typer.Typer:
    """A Typer app (the CLI or one of its groups) with ``help`` and Typer's ``options``."""
    return typer.Typer(help=help, rich_markup_mode="markdown", **options)
