"""Days and instants of retention: calendar days are Vietnamese (UTC+7), storage dates UTC.

The clock is given, not read: every retention step that depends on the date takes ``now`` (or
``today``) and reads the current time only when none is given — the daily task passes its ``now``
to all its parts, so a test or a simulation runs it on any day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from archive_service.packages.mets import VN_TZ


def vietnam_today(now: datetime | None = None) -> date:
    """The calendar day in Vietnam at ``now`` (default: the current time)."""
    return (now or datetime.now(UTC)).astimezone(VN_TZ).date()


def end_of_day(day: date) -> datetime:
    """The instant ``day`` ends in Vietnam (midnight starting the next day), in UTC."""
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=VN_TZ).astimezone(UTC)


def add_years(day: date, years: int) -> date:
    """``day`` ``years`` later; 29 February becomes 28 February in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def last_locked_day(until: datetime) -> date:
    """The last Vietnamese calendar day a storage lock ending at ``until`` covers whole
    (``end_of_day(day)`` gives back ``day``)."""
    return vietnam_today(until - timedelta(microseconds=1))
