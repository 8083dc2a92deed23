"""A memo in front of ``pikepdf.pdfa``'s schema check of one PDF object (D-49).

``pikepdf.pdfa`` validates a file by walking its objects and checking the shallow JSON form of
each against the JSON Schema of its role (``SchemaSet.check``, with ``jsonschema``). That check
is a pure function of the flavour, the role and the shallow JSON, keys in their order (its
messages and the order of its findings follow the order of a dictionary's keys): what it
reports goes to ``ctx.deny`` and differs from one object to another only by the location it is
prefixed with.
Most objects of the archive's renditions are the same from one file to the next (the catalogue,
the page tree, the output intent and its ICC profile, the content stream dictionaries), and
``jsonschema`` is most of the validation's time. So the findings of a check are kept, keyed by
flavour, role and the JSON (keys in their order), and replayed with the object's own location.

This reaches into pikepdf's internals, so it is installed only on the pikepdf it was written for:
version ``PIKEPDF_VERSION`` with the source of the code it stands in front of unchanged
(``PIKEPDF_SOURCE_SHA256``); on any other, pikepdf runs as it comes and a warning says so.
``tests/unit/test_pdfa_memo.py`` shows, on the format fixtures and on renditions, that reports
with and without it are the same finding for finding, and fails when pikepdf changes. A check
that raises is not kept (what it found before is passed on, as pikepdf would). Kept: objects
whose JSON is at most ``MAX_KEY_CHARS`` long and whose findings are at most ``MAX_FINDINGS``,
at most ``MAX_ENTRIES`` of them, the least recently used forgotten first: under 20 MB in all.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple

#: Objects kept at most; the longest JSON and the most findings (with their messages, at most
#: ``MAX_KEY_CHARS`` characters in all) an object kept may have: others are checked every time.
MAX_ENTRIES = 2048
MAX_KEY_CHARS = 4096
MAX_FINDINGS = 4
#: The pikepdf the memo was written for, and the SHA-256 of the source it depends on
#: (``SchemaSet.__init__``, ``_validator``, ``check``, ``_interpret``; ``ValidationContext.deny``).
PIKEPDF_VERSION = "10.18.0"
PIKEPDF_SOURCE_SHA256 = "73efd4de1d9a130599b163c4ea4dcb7e628977bc6988e69f889cfabafe12710b"

log = logging.getLogger(__name__)

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
        self._kept: OrderedDict[tuple[int, str, str], tuple[bool, tuple[_Finding, ...]]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()
        os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()  # a thread of the parent may have held it

    def __call__(self, schemas: Any, role: str, shallow: Any, ctx: Any, where: str) -> bool:
        key = _key(schemas, role, shallow)
        if key is None:
            return self.check(schemas, role, shallow, ctx, where)
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None:
                self.hits += 1
                self._kept.move_to_end(key)
        if kept is None:
            recorder = _Recorder()
            try:
                passed = self.check(schemas, role, shallow, recorder, "")
            except BaseException:
                _replay(recorder.findings, ctx, where)  # what pikepdf had reported before
                raise
            kept = (passed, tuple(recorder.findings))
            with self._lock:
                self.misses += 1
                if _small(kept[1]):
                    self._kept[key] = kept
                    if len(self._kept) > MAX_ENTRIES:
                        self._kept.popitem(last=False)
        passed, findings = kept
        _replay(findings, ctx, where)
        return passed


def _replay(findings: Any, ctx: Any, where: str) -> None:
    for finding in findings:
        ctx.deny(finding.rule_id, where + finding.location, finding.message, finding.kind)


def _small(findings: tuple[_Finding, ...]) -> bool:
    """Few findings with short texts: worth keeping (a failing object is rarely shared)."""
    return (
        len(findings) <= MAX_FINDINGS
        and sum(len(f.rule_id) + len(f.location) + len(f.message) for f in findings)
        <= MAX_KEY_CHARS
    )


def _key(schemas: Any, role: str, shallow: Any) -> tuple[int, str, str] | None:
    """The schema set, the role and the JSON of the object, keys in their order (pikepdf's
    messages follow it); ``None`` when it is not to be kept."""
    try:
        text = json.dumps(shallow, ensure_ascii=False, allow_nan=True)
    except (TypeError, ValueError, RecursionError):
        return None
    if len(text) > MAX_KEY_CHARS:
        return None
    return id(schemas), role, text  # schema sets live as long as the process (for_flavour)


def pikepdf_source_sha256() -> str | None:
    """SHA-256 of the pikepdf source the memo depends on; ``None`` without ``pikepdf.pdfa``."""
    try:
        from pikepdf.pdfa._context import ValidationContext
        from pikepdf.pdfa._schemas import SchemaSet
    except ImportError:
        return None
    parts = (
        SchemaSet.__init__,
        SchemaSet._validator,
        inspect.unwrap(SchemaSet.check),
        SchemaSet._interpret,
        ValidationContext.deny,
    )
    source = "".join(inspect.getsource(part) for part in parts)
    return hashlib.sha256(source.encode()).hexdigest()


_installed: SchemaCheckMemo | None = None
_refused = False  # pikepdf is not the one the memo was written for: warned once
_install_lock = threading.Lock()


def _reset_install_lock() -> None:
    global _install_lock
    _install_lock = threading.Lock()  # a thread of the parent may have held it


os.register_at_fork(after_in_child=_reset_install_lock)


def install_schema_memo() -> SchemaCheckMemo | None:
    """Put the memo in front of ``SchemaSet.check`` (once per process); ``None`` when pikepdf's
    validator is missing or is not the one the memo was written for (a warning then)."""
    global _installed, _refused
    with _install_lock:
        if _installed is not None or _refused:
            return _installed
        import pikepdf

        source = pikepdf_source_sha256()
        if source is None:
            return None
        if (pikepdf.__version__, source) != (PIKEPDF_VERSION, PIKEPDF_SOURCE_SHA256):
            _refused = True
            log.warning(
                "pikepdf %s is not the one the PDF/A schema check memo was written for (%s): "
                "validating without it",
                pikepdf.__version__,
                PIKEPDF_VERSION,
            )
            return None
        from pikepdf.pdfa._schemas import SchemaSet

        check = SchemaSet.check
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

        if getattr(SchemaSet.check, "__wrapped__", None) is _installed.check:
            SchemaSet.check = _installed.check  # type: ignore[method-assign]
        _installed = None
