"""Identity numbers and API keys never show: masked values, masked log records, masked log lines."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from archive_service.logging import configure_logging
from archive_service.security.masking import MaskingFilter, mask_id_number, mask_text, mask_value

CCCD = "038090001234"  # 12 digits, citizen identity card
CMND = "123456789"  # 9 digits, identity card of the old form
API_KEY = "ak_" + "Zx9-_" * 8


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        (CCCD, "0380******34"),
        (CMND, "1234***89"),
        ("0123456789", "0123****89"),
        ("1234567", "*******"),
        ("12", "**"),
        ("", ""),
        (None, None),
    ],
)
def test_mask_id_number_keeps_four_leading_and_two_trailing_digits(
    value: str | None, masked: str | None
) -> None:
    assert mask_id_number(value) == masked


def test_mask_text_masks_every_identity_number_but_not_shorter_or_longer_digit_runs() -> None:
    text = f"CCCD {CCCD}, CMND {CMND}; mã 12345678, số 1234567890123, hồ sơ 000.00.12.H12-240610"
    assert mask_text(text) == (
        "CCCD 0380******34, CMND 1234***89; mã 12345678, số 1234567890123, "
        "hồ sơ 000.00.12.H12-240610"
    )


def test_mask_text_hides_api_keys_and_bearer_tokens() -> None:
    masked = mask_text(f"key {API_KEY} header Authorization: Bearer abc.def-123")
    assert API_KEY not in masked
    assert "abc.def-123" not in masked
    assert masked == "key [hidden] header Authorization: Bearer [hidden]"


def test_mask_value_walks_nested_structures_and_leaves_other_values() -> None:
    value = {"applicant": {"id": CCCD, "ids": [CMND, 7]}, "n": 38090001234, "ok": True}
    assert mask_value(value) == {
        "applicant": {"id": "0380******34", "ids": ["1234***89", 7]},
        "n": 38090001234,
        "ok": True,
    }


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A real logger whose handler carries the masking filter and writes to a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(MaskingFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s|%(applicant)s"))
    logger = logging.getLogger("test.masking")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)


def test_filter_masks_numbers_in_the_message_and_in_string_and_int_arguments(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    logger.info(
        "applicant %s old id %d in %s", CCCD, int(CMND), f"text {CCCD}", extra={"applicant": "-"}
    )
    logger.warning(f"inline {CCCD}", extra={"applicant": CMND})
    output = stream.getvalue()
    assert CCCD not in output
    assert CMND not in output
    assert output.splitlines() == [
        "INFO applicant 0380******34 old id 1234***89 in text 0380******34|-",
        "WARNING inline 0380******34|1234***89",
    ]


def test_filter_masks_numbers_in_exception_tracebacks(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    try:
        raise ValueError(f"bad identity number {CCCD}")
    except ValueError:
        logger.exception("lookup failed", extra={"applicant": "-"})
    output = stream.getvalue()
    assert "Traceback" in output
    assert "ValueError: bad identity number 0380******34" in output
    assert CCCD not in output


def test_filter_keeps_records_whose_arguments_do_not_fit_the_format(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    logger.error("two %s %s", CCCD, extra={"applicant": "-"})
    output = stream.getvalue()
    assert "0380******34" in output
    assert CCCD not in output


@pytest.fixture
def restore_root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)


@pytest.mark.usefixtures("restore_root_logging")
def test_json_log_lines_are_masked_and_carry_extra_fields(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARCHIVE_LOG_FORMAT", "json")
    configure_logging()
    logging.getLogger("archive_service.ingest").info(
        "deposit from %s with key %s", CCCD, API_KEY, extra={"deposit_id": 7, "who": CMND}
    )
    logging.getLogger("uvicorn.access").info("GET /api/v1/dossiers?q=%s 200", CCCD)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["logger"] for line in lines] == ["archive_service.ingest", "uvicorn.access"]
    first = lines[0]
    assert first["level"] == "INFO"
    assert first["message"] == "deposit from 0380******34 with key [hidden]"
    assert first["deposit_id"] == 7
    assert first["who"] == "1234***89"
    assert first["time"].endswith("+00:00")
    assert lines[1]["message"] == "GET /api/v1/dossiers?q=0380******34 200"


@pytest.mark.usefixtures("restore_root_logging")
def test_plain_log_lines_are_masked(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ARCHIVE_LOG_FORMAT", raising=False)
    configure_logging()
    logging.getLogger("archive_service.dossiers").warning("read by %s", CCCD)
    err = capsys.readouterr().err
    assert "WARNING archive_service.dossiers: read by 0380******34" in err
    assert CCCD not in err
    with pytest.raises(json.JSONDecodeError):
        json.loads(err.splitlines()[-1])


@pytest.mark.parametrize(
    "identifier",
    [
        "ab123456789012cd",  # inside a hex digest
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "uuid-2F1D0000-0000-4000-8000-123456789012",  # last UUID group all digits
        "deposit_123456789012",
    ],
)
def test_checksums_and_identifiers_are_not_mistaken_for_identity_numbers(identifier: str) -> None:
    assert mask_text(f"sha256 {identifier} ok") == f"sha256 {identifier} ok"
