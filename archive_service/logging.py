"""Logging setup: JSON lines (``ARCHIVE_LOG_FORMAT=json``) or plain text, always masked.

Every record goes through :class:`MaskingFilter`, so identity numbers and API keys never reach a
log. ``logging_config()`` is a :func:`logging.config.dictConfig` dictionary that can also be given
to uvicorn (``uvicorn.run(..., log_config=logging_config())``) so its access log is masked too.
"""

from __future__ import annotations

import json
import logging
import logging.config
import os
from datetime import UTC, datetime
from typing import Any

from archive_service.security.masking import MaskingFilter, extra_fields

LOG_FORMAT_VARIABLE = "ARCHIVE_LOG_FORMAT"
LOG_LEVEL_VARIABLE = "ARCHIVE_LOG_LEVEL"
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Loggers of the libraries the service runs in, sent through the same masked handler.
SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "celery", "alembic")
#: Extra fields that only repeat the message for terminals (uvicorn's coloured copy).
IGNORED_EXTRA_FIELDS = frozenset({"color_message"})


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(
            (name, value)
            for name, value in extra_fields(record).items()
            if name not in IGNORED_EXTRA_FIELDS
        )
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


def log_format_from_environment() -> str:
    """``json`` or ``plain``, from ``ARCHIVE_LOG_FORMAT`` (default plain)."""
    value = os.environ.get(LOG_FORMAT_VARIABLE, "plain").strip().lower()
    return "json" if value == "json" else "plain"


def logging_config(log_format: str | None = None, level: str | None = None) -> dict[str, Any]:
    """A dictConfig dictionary: one stderr handler, masked, in the chosen format."""
    log_format = log_format or log_format_from_environment()
    level = (level or os.environ.get(LOG_LEVEL_VARIABLE) or "INFO").upper()
    formatter: dict[str, Any] = (
        {"()": JsonFormatter} if log_format == "json" else {"format": PLAIN_FORMAT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"masking": {"()": MaskingFilter}},
        "formatters": {"default": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "filters": ["masking"],
                "formatter": "default",
            }
        },
        "loggers": {
            name: {"handlers": [], "propagate": True, "level": level} for name in SERVER_LOGGERS
        },
        "root": {"handlers": ["stderr"], "level": level},
    }


def configure_logging(log_format: str | None = None, level: str | None = None) -> None:
    """Install the masked handler on the root logger (idempotent: it replaces earlier setup)."""
    logging.config.dictConfig(logging_config(log_format, level))
