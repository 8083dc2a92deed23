"""Masking of personal data and secrets: identity numbers in JSON and in every log record.

Identity numbers are the 12-digit citizen identity card number (CCCD) and the 9-digit identity
card number of the old form (CMND). In free text every run of 9 to 12 digits is treated as one;
API keys and bearer tokens are hidden completely.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

#: A run of 9–12 digits standing alone: digits touching letters, "-" or "_" belong to a hash,
#: a UUID or a key, not to an identity number.
IDENTITY_NUMBER = re.compile(r"(?<![0-9A-Za-z_-])\d{9,12}(?![0-9A-Za-z_-])")
#: An API key of this service, or any bearer token.
SECRET = re.compile(r"\bak_[A-Za-z0-9_-]{8,}|(?i:\bbearer\s+)[^\s\"',;]+")

KEPT_HEAD, KEPT_TAIL = 4, 2
MASK = "*"
HIDDEN_SECRET = "[hidden]"

#: Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_RECORD_FIELDS = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None)).keys()
) | {"message", "asctime", "taskName"}


def mask_id_number(value: str | None) -> str | None:
    """Hide an identity number but its first 4 and last 2 digits.

    ``"038090001234"`` becomes ``"0380******34"``; ``None`` and ``""`` are returned unchanged;
    values too short to keep anything (7 characters or fewer) are masked completely.
    """
    if not value:
        return value
    if len(value) <= KEPT_HEAD + KEPT_TAIL + 1:
        return MASK * len(value)
    hidden = len(value) - KEPT_HEAD - KEPT_TAIL
    return value[:KEPT_HEAD] + MASK * hidden + value[-KEPT_TAIL:]


def mask_text(text: str) -> str:
    """``text`` with every identity number masked and every API key or bearer token hidden."""
    text = SECRET.sub(_hide_secret, text)
    return IDENTITY_NUMBER.sub(lambda match: mask_id_number(match.group()) or "", text)


def mask_value(value: Any) -> Any:
    """``value`` with :func:`mask_text` applied to every string inside it (dicts, lists, tuples)."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {key: mask_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(mask_value(item) for item in value)
    return value


def _hide_secret(match: re.Match[str]) -> str:
    found = match.group()
    if found.lower().startswith("bearer"):
        return found[: len("bearer")] + " " + HIDDEN_SECRET
    return HIDDEN_SECRET


class MaskingFilter(logging.Filter):
    """A logging filter that masks identity numbers and hides secrets in every record.

    Attach it to handlers (a filter on a logger does not see records of its child loggers).
    The message is rendered with its arguments first, so numbers passed as ``%s`` or ``%d``
    arguments are masked too; so are the exception text, the stack and ``extra=`` string values.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_text(_rendered_message(record))
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        for name, value in extra_fields(record).items():
            setattr(record, name, mask_value(value))
        return True


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The attributes given to a record with ``extra=``."""
    return {
        name: value
        for name, value in vars(record).items()
        if name not in _STANDARD_RECORD_FIELDS and not name.startswith("_")
    }


def _rendered_message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except (TypeError, ValueError):
        # Arguments that do not fit the format: keep both, masked, rather than lose the record.
        return f"{record.msg} {record.args!r}"
