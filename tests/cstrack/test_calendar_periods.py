"""Report periods (KST day, ISO week, month) and the business-day helpers the digest uses."""

from datetime import date, datetime, time

import pytest

from cstrack import calendar as cal
from cstrack.calendar import KST


@pytest.fixture(autouse=True)
def _no_closures(monkeypatch):
    cal.clear_closure_cache()
    monkeypatch.setattr(cal, "_load_closure_dates", lambda: frozenset())
    yield
    cal.clear_closure_cache()


def test_period_start_and_next():
    wed = date(2026, 12, 30)
    assert cal.period_start(wed, "day") == wed
    assert cal.period_start(wed, "week") == date(2026, 12, 28)  # Monday
    assert cal.period_start(wed, "month") == date(2026, 12, 1)
    assert cal.next_period_start(wed, "week") == date(2027, 1, 4)
    assert cal.next_period_start(wed, "month") == date(2027, 1, 1)
    assert cal.next_period_start(wed, "day") == date(2026, 12, 31)
    with pytest.raises(ValueError):
        cal.period_start(wed, "year")


def test_period_starts_cover_the_range():
    assert cal.period_starts(date(2026, 11, 25), date(2026, 12, 8), "week") == [
        date(2026, 11, 23),
        date(2026, 11, 30),
        date(2026, 12, 7),
    ]
    assert cal.period_starts(date(2026, 11, 30), date(2027, 1, 1), "month") == [
        date(2026, 11, 1),
        date(2026, 12, 1),
        date(2027, 1, 1),
    ]


def test_period_bounds_are_kst_midnights():
    start, end = cal.period_bounds(date(2026, 11, 25), "week")
    assert start == datetime(2026, 11, 23, tzinfo=KST) and end == datetime(2026, 11, 30, tzinfo=KST)
    assert cal.kst_day_bounds(date(2026, 11, 23), date(2026, 11, 23)) == (
        datetime(2026, 11, 23, tzinfo=KST),
        datetime(2026, 11, 24, tzinfo=KST),
    )


def test_default_range_is_the_last_twelve_periods():
    moment = datetime(2026, 12, 2, 10, 0, tzinfo=KST)
    assert cal.default_report_range(moment, "week") == (date(2026, 9, 14), date(2026, 12, 2))
    assert cal.default_report_range(moment, "month", 3) == (date(2026, 10, 1), date(2026, 12, 2))


def test_previous_business_day_skips_holidays_and_weekends():
    assert cal.previous_business_day(date(2026, 12, 28)) == date(2026, 12, 24)  # Fri 25th is Christmas
    assert cal.previous_business_day(date(2026, 12, 2)) == date(2026, 12, 1)


def test_at_local_time():
    assert cal.at_local_time(date(2026, 12, 2), time(8, 30)) == datetime(2026, 12, 2, 8, 30, tzinfo=KST)
    with pytest.raises(ValueError):
        cal.at_local_time(date(2026, 12, 2), time(8, 30, tzinfo=KST))
