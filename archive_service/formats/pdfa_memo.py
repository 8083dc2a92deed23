"""A memo in front of ``pikepdf.pdfa``'s schema check of one PDF object (D-49).

``pikepdf.pdfa`` validates a file by walking its objects and checking the shallow JSON form of
each against the JSON Schema of its role (``SchemaSet.check``, with ``jsonschema``). That check
is a pure function of the flavour, the role and the shallow JSON: what it reports goes to
``ctx.deny`` and differs from one object to another only by the location it is prefixed with.
Most objects of the archive's renditions are the same from one file to the next (the catalogue,
the page tree, the output intent and its ICC profile, the content stream dictionaries), and
``jsonschema`` is most of the validation's time. So the findings of a check are kept, keyed by
flavour, role and the canonical JSON, and replayed with the object's own location.

This reaches into pikepdf's internals, so it is installed only on a ``SchemaSet.check`` of the
shape it was written for (pikepdf 10.18; a ``pikepdf`` of another shape is left as it is) and
``tests/unit/test_pdfa_memo.py`` shows, on the format fixtures and on renditions, that reports
with and without it are the same finding for finding. A check that raises is not kept. Only
objects whose JSON is at most ``MAX_KEY_CHARS`` long are kept, at most ``MAX_ENTRIES`` of them
(the oldest forgotten first): a few megabytes at most.
"""

from __future__ import annotations

import inspect
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple

#: Objects kept at most, and the longest canonical JSON kept (longer ones are checked anew).
MAX_ENTRIES = 2048
MAX_KEY_CHARS = 4096
#: The parameters of ``SchemaSet.check`` the memo was written for.
CHECK_PARAMETERS = ("self", "role", "shallow", "ctx", "where")

Check = Callable[[Any, str, Any, Any, str], bool]


class _Finding(NamedTuple):
    rule_id: str
    location: str  # what follows the object's own location ("" or " <path in the object>")
    message: str
    kind: str


class _Recorder:
    """Stands in for the validation context during one check: keeps what it is told."""

    def __init__(self) -> None:
        self.findings: list[_Finding] = []

    def deny(self, rule_id: str, where: str, message: str, kind: str = "violation") -> None:
        self.findings.append(_Finding(rule_id, where, message, kind))


class SchemaCheckMemo:
    """``SchemaSet.check`` with its outcomes kept (see the module text); counts its hits."""

    def __init__(self, check: Check) -> None:
        self.check = check
        self.hits = 0
        self.misses = 0
        self._kept: OrderedDict[tuple[str, str, str], tuple[bool, tuple[_Finding, ...]]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def __call__(self, schemas: Any, role: str, shallow: Any, ctx: Any, where: str) -> bool:
        key = _key(schemas, role, shallow)
        if key is None:
            return self.check(schemas, role, shallow, ctx, where)
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None:
                self.hits += 1
        if kept is None:
            recorder = _Recorder()
            kept = (self.check(schemas, role, shallow, recorder, ""), tuple(recorder.findings))
            with self._lock:
                self.misses += 1
                self._kept[key] = kept
                if len(self._kept) > MAX_ENTRIES:
                    self._kept.popitem(last=False)
        passed, findings = kept
        for finding in findings:
            ctx.deny(finding.rule_id, where + finding.location, finding.message, finding.kind)
        return passed


def _key(schemas: Any, role: str, shallow: Any) -> tuple[str, str, str] | None:
    """Flavour, role and canonical JSON of the object; ``None`` when it is not to be kept."""
    try:
        text = json.dumps(shallow, sort_keys=True, ensure_ascii=False, allow_nan=True)
    except (TypeError, ValueError):
        return None
    if len(text) > MAX_KEY_CHARS:
        return None
    return str(schemas.flavour), role, text


_installed: SchemaCheckMemo | None = None
_install_lock = threading.Lock()


def install_schema_memo() -> SchemaCheckMemo | None:
    """Put the memo in front of ``SchemaSet.check`` (once per process); ``None`` when pikepdf's
    validator is missing or its check is not of the shape the memo was written for."""
    global _installed
    with _install_lock:
        if _installed is not None:
            return _installed
        try:
            from pikepdf.pdfa._schemas import SchemaSet
        except ImportError:
            return None
        check = SchemaSet.check
        if tuple(inspect.signature(check).parameters) != CHECK_PARAMETERS:
            return None
        memo = SchemaCheckMemo(check)

        def memoized_check(self: Any, role: str, shallow: Any, ctx: Any, where: str) -> bool:
            return memo(self, role, shallow, ctx, where)

        memoized_check.__wrapped__ = check  # type: ignore[attr-defined]
        SchemaSet.check = memoized_check  # type: ignore[method-assign]
        _installed = memo
        return memo


def uninstall_schema_memo() -> None:
    """Put pikepdf's own check back (for the tests that compare the two)."""
    global _installed
    with _install_lock:
        if _installed is None:
            return
        from pikepdf.pdfa._schemas import SchemaSet

        SchemaSet.check = _installed.check  # type: ignore[method-assign,assignment]
        _installed = None
