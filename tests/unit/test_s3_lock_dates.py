"""Object-lock dates as S3 servers write them in HEAD responses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from archive_service.storage.s3 import parse_lock_date

MOMENT = datetime(2031, 12, 31, 23, 59, 58, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2031-12-31T23:59:58Z", MOMENT),  # SeaweedFS, AWS
        ("2031-12-31T23:59:58.000Z", MOMENT),  # MinIO
        ("2031-12-31T23:59:58.123456789Z", MOMENT.replace(microsecond=123456)),  # Ceph RGW
        ("2031-12-31T23:59:58.5Z", MOMENT.replace(microsecond=500000)),
        ("2032-01-01T06:59:58+07:00", MOMENT),
        ("2032-01-01T06:59:58+0700", MOMENT),
        ("2031-12-31T23:59:58", MOMENT),
    ],
)
def test_lock_dates_of_any_precision_are_read_as_utc(text: str, expected: datetime) -> None:
    parsed = parse_lock_date(text)
    assert parsed == expected
    assert parsed.tzinfo == UTC


@pytest.mark.parametrize("text", ["", "31/12/2031", "2031-12-31", "2031-12-31T23:59:58Zjunk"])
def test_unreadable_lock_dates_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_lock_date(text)
