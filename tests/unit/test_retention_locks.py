"""The lock each dossier's objects get, computed from its term: the end of the disposal day in
Vietnam (UTC+7) in the configured mode; nothing once that instant has passed; permanent dossiers
a governance horizon that is never shortened. Plus the calendar helpers behind it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from archive_service.config import Settings
from archive_service.storage.base import Retention, RetentionMode
from retention.clock import add_years, end_of_day, vietnam_today
from retention.destroy import objects_digest
from retention.locks import retention_for

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def settings(**values: object) -> Settings:
    return Settings(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("day", "ends"),
    [
        (date(2034, 12, 31), datetime(2034, 12, 31, 17, 0, tzinfo=UTC)),
        (date(2028, 2, 29), datetime(2028, 2, 29, 17, 0, tzinfo=UTC)),
        (date(2030, 6, 30), datetime(2030, 6, 30, 17, 0, tzinfo=UTC)),
    ],
)
def test_a_day_ends_at_midnight_in_vietnam(day: date, ends: datetime) -> None:
    assert end_of_day(day) == ends


def test_the_vietnamese_day_starts_seven_hours_before_utc() -> None:
    assert vietnam_today(datetime(2026, 12, 31, 16, 59, tzinfo=UTC)) == date(2026, 12, 31)
    assert vietnam_today(datetime(2026, 12, 31, 17, 0, tzinfo=UTC)) == date(2027, 1, 1)


@pytest.mark.parametrize(
    ("day", "years", "later"),
    [
        (date(2026, 3, 1), 10, date(2036, 3, 1)),
        (date(2028, 2, 29), 10, date(2038, 2, 28)),
        (date(2028, 2, 29), 4, date(2032, 2, 29)),
    ],
)
def test_add_years_keeps_the_day_or_takes_28_february(day: date, years: int, later: date) -> None:
    assert add_years(day, years) == later


def test_a_dossier_with_a_date_is_locked_until_the_end_of_that_day() -> None:
    lock = retention_for("06", date(2034, 12, 31), settings(), NOW)
    assert lock == Retention(RetentionMode.COMPLIANCE, datetime(2034, 12, 31, 17, tzinfo=UTC))
    governance = retention_for(
        "06", date(2034, 12, 31), settings(retention_lock_mode="governance"), NOW
    )
    assert governance is not None and governance.mode is RetentionMode.GOVERNANCE


def test_no_lock_once_the_disposal_day_has_ended() -> None:
    assert retention_for("06", date(2020, 12, 31), settings(), NOW) is None
    last_minute = datetime(2026, 2, 28, 16, 59, tzinfo=UTC)
    assert retention_for("07", date(2026, 2, 28), settings(), last_minute) is not None
    assert (
        retention_for("07", date(2026, 2, 28), settings(), last_minute + timedelta(minutes=1))
        is None
    )


def test_no_lock_without_a_retention() -> None:
    assert retention_for(None, None, settings(), NOW) is None


def test_a_permanent_dossier_gets_a_governance_horizon_never_shortened() -> None:
    lock = retention_for("01", None, settings(permanent_lock_years=10), NOW)
    assert lock == Retention(RetentionMode.GOVERNANCE, datetime(2036, 3, 1, 17, tzinfo=UTC))
    further = datetime(2040, 1, 1, tzinfo=UTC)
    kept = retention_for("01", None, settings(), NOW, current_until=further)
    assert kept == Retention(RetentionMode.GOVERNANCE, further)
    shorter_setting = retention_for("01", None, settings(permanent_lock_years=2), NOW)
    assert shorter_setting is not None and shorter_setting.until.year == 2028


def test_the_digest_of_the_destroyed_objects_is_canonical() -> None:
    first = [{"key": "a", "sha256": "0" * 64, "size": 1, "storage": "primary", "version_id": ""}]
    reordered = [
        {"version_id": "", "storage": "primary", "size": 1, "sha256": "0" * 64, "key": "a"}
    ]
    assert objects_digest(first) == objects_digest(reordered)
    assert objects_digest(first) != objects_digest([{**first[0], "size": 2}])
