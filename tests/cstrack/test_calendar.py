"""Tests for cstrack.calendar.

Holiday dates below were read from the installed `holidays` package (KR, language "ko"),
not guessed. Pure tests never touch the database: the autouse fixture replaces the closure
loader unless the test is marked django_db.
"""

from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from cstrack import calendar as cal
from cstrack.calendar import KST


def kst(*args) -> datetime:
    return datetime(*args, tzinfo=KST)


@pytest.fixture(autouse=True)
def _closures(request, monkeypatch):
    cal.clear_closure_cache()
    if request.node.get_closest_marker("django_db") is None:
        monkeypatch.setattr(cal, "_load_closure_dates", lambda: frozenset())
    yield
    cal.clear_closure_cache()


# --- public holidays (verified against holidays KR output) -----------------------------------

SEOLLAL_2027 = [date(2027, 2, 6), date(2027, 2, 7), date(2027, 2, 8)]  # Sat, Sun, Mon
SEOLLAL_2027_SUBSTITUTE = date(2027, 2, 9)  # Tue: Seollal overlapped a Sunday
CHUSEOK_2026 = [date(2026, 9, 24), date(2026, 9, 25), date(2026, 9, 26)]  # Thu, Fri, Sat
LIBERATION_DAY_2026_SUBSTITUTE = date(2026, 8, 17)  # Mon: 광복절 fell on Sat 2026-08-15


def test_seollal_2027_including_substitute_holiday():
    assert [cal.holiday_name(d) for d in SEOLLAL_2027] == ["설날 전날", "설날", "설날 다음날"]
    assert cal.holiday_name(SEOLLAL_2027_SUBSTITUTE) == "설날 대체 휴일"
    assert all(cal.is_public_holiday(d) and cal.is_closed_day(d) for d in [*SEOLLAL_2027, SEOLLAL_2027_SUBSTITUTE])
    assert cal.is_business_day(date(2027, 2, 5)) and cal.is_business_day(date(2027, 2, 10))
    # Received Friday before the block: day 1 is Wednesday after the substitute holiday.
    assert cal.start_of_next_business_day(kst(2027, 2, 5, 10, 0)) == kst(2027, 2, 10, 9, 0)


def test_chuseok_2026():
    assert [cal.holiday_name(d) for d in CHUSEOK_2026] == ["추석 전날", "추석", "추석 다음날"]
    assert not any(cal.is_business_day(d) for d in CHUSEOK_2026)
    # Second day is a Saturday: Chuseok gets no substitute for a Saturday, Monday is open.
    assert cal.is_business_day(date(2026, 9, 28))


def test_substitute_holiday_2026():
    d = LIBERATION_DAY_2026_SUBSTITUTE
    assert d.weekday() == 0
    assert cal.holiday_name(d) == "광복절 대체 휴일"
    assert cal.is_closed_day(d) and not cal.is_business_day(d)
    assert cal.next_business_day(date(2026, 8, 14)) == date(2026, 8, 18)


def test_ordinary_days():
    assert cal.holiday_name(date(2026, 11, 23)) is None
    assert not cal.is_public_holiday(date(2026, 11, 23))
    assert cal.is_business_day(date(2026, 11, 23))  # Monday
    assert not cal.is_business_day(date(2026, 11, 21))  # Saturday
    assert not cal.is_business_day(date(2026, 11, 22))  # Sunday


# --- business time and business days ----------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "business_time"),
    [
        (kst(2026, 11, 20, 17, 59), True),  # Friday, a minute before closing
        (kst(2026, 11, 20, 18, 1), False),  # Friday, a minute after closing
        (datetime(2026, 11, 20, 8, 59, tzinfo=UTC), True),  # the same 17:59 KST given in UTC
    ],
)
def test_friday_evening_receipt(received, business_time):
    assert cal.is_business_time(received) is business_time
    # Day 1 is Monday whatever the time on Friday; "call back within 1-2 days".
    assert cal.start_of_next_business_day(received) == kst(2026, 11, 23, 9, 0)
    assert cal.start_of_nth_business_day(received, 1) == kst(2026, 11, 23, 9, 0)
    assert cal.end_of_nth_business_day(received, 2) == kst(2026, 11, 24, 18, 0)
    assert cal.business_time_label(cal.start_of_next_business_day(received)) == "2026-11-23 (월) 09:00"


def test_business_hours_are_half_open():
    assert not cal.is_business_time(kst(2026, 11, 23, 8, 59, 59))
    assert cal.is_business_time(kst(2026, 11, 23, 9, 0))
    assert cal.is_business_time(kst(2026, 11, 23, 17, 59, 59))
    assert not cal.is_business_time(kst(2026, 11, 23, 18, 0))
    assert not cal.is_business_time(kst(2026, 9, 25, 10, 0))  # 추석, a Friday


def test_receipt_on_the_eve_of_chuseok():
    received = kst(2026, 9, 23, 15, 0)  # Wednesday
    assert cal.nth_business_day_after(date(2026, 9, 23), 1) == date(2026, 9, 28)
    assert cal.start_of_next_business_day(received) == kst(2026, 9, 28, 9, 0)
    assert cal.end_of_nth_business_day(received, 2) == kst(2026, 9, 29, 18, 0)


def test_receipt_on_a_closed_day_counts_from_that_day():
    # Received on 추석 itself (and at night): day 1 is still the first business day after it.
    assert cal.start_of_next_business_day(kst(2026, 9, 25, 23, 0)) == kst(2026, 9, 28, 9, 0)
    # A KST date boundary given in UTC: 2026-11-20 15:30 UTC is Saturday 00:30 KST.
    assert cal.start_of_next_business_day(datetime(2026, 11, 20, 15, 30, tzinfo=UTC)) == kst(2026, 11, 23, 9, 0)


def test_nth_business_day_after_rejects_n_below_one():
    with pytest.raises(ValueError):
        cal.nth_business_day_after(date(2026, 11, 20), 0)


@pytest.mark.parametrize(
    ("dt", "expected"),
    [
        (kst(2026, 11, 23, 10, 0), kst(2026, 11, 23, 10, 0)),  # business time: itself
        (kst(2026, 11, 23, 7, 0), kst(2026, 11, 23, 9, 0)),  # early on a business day
        (kst(2026, 11, 20, 18, 1), kst(2026, 11, 23, 9, 0)),  # Friday after closing
        (kst(2026, 9, 24, 10, 0), kst(2026, 9, 28, 9, 0)),  # during the Chuseok block
    ],
)
def test_next_business_moment(dt, expected):
    assert cal.next_business_moment(dt) == expected


# --- D+N ---------------------------------------------------------------------------------------


def test_d_plus_across_month_end():
    assert cal.d_plus(kst(2026, 1, 30, 23, 30), 3, time(10, 0)) == kst(2026, 2, 2, 10, 0)
    assert cal.d_plus(kst(2028, 2, 27, 9, 0), 3, time(10, 0)) == kst(2028, 3, 1, 10, 0)  # leap year
    # 2026-01-30 15:30 UTC is already 2026-01-31 in Seoul: D is the KST date.
    assert cal.d_plus(datetime(2026, 1, 30, 15, 30, tzinfo=UTC), 3, time(10, 0)) == kst(2026, 2, 3, 10, 0)


def test_d_plus_ignores_holidays():
    # Received the day before Chuseok; D+3 lands on 추석 다음날 (a Saturday holiday) all the same.
    due = cal.d_plus(kst(2026, 9, 23, 15, 0), 3, time(10, 0))
    assert due == kst(2026, 9, 26, 10, 0)
    assert cal.is_public_holiday(due.date())


def test_d_plus_rejects_bad_arguments():
    with pytest.raises(ValueError):
        cal.d_plus(kst(2026, 1, 1, 9, 0), -1, time(10, 0))
    with pytest.raises(ValueError):
        cal.d_plus(kst(2026, 1, 1, 9, 0), 3, time(10, 0, tzinfo=UTC))


# --- quiet hours -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dt", "quiet", "send_at"),
    [
        (kst(2026, 11, 20, 20, 59), False, kst(2026, 11, 20, 20, 59)),
        (kst(2026, 11, 20, 21, 0), True, kst(2026, 11, 21, 8, 0)),
        (kst(2026, 11, 20, 23, 59, 59), True, kst(2026, 11, 21, 8, 0)),
        (kst(2026, 11, 21, 0, 0), True, kst(2026, 11, 21, 8, 0)),
        (kst(2026, 11, 21, 7, 59), True, kst(2026, 11, 21, 8, 0)),
        (kst(2026, 11, 21, 8, 0), False, kst(2026, 11, 21, 8, 0)),
        # 12:30 UTC is 21:30 KST: quiet, although it is daytime in UTC.
        (datetime(2026, 11, 20, 12, 30, tzinfo=UTC), True, kst(2026, 11, 21, 8, 0)),
    ],
)
def test_quiet_hours_edges(dt, quiet, send_at):
    assert cal.in_quiet_hours(dt) is quiet
    assert cal.next_allowed_send_time(dt) == send_at


def test_longest_wait_is_the_whole_quiet_period():
    dt = kst(2026, 11, 20, 21, 0)
    assert cal.next_allowed_send_time(dt) - dt == timedelta(hours=11)


def test_quiet_hours_from_settings(settings):
    settings.CSTRACK_QUIET_HOURS = ("22:00", "07:00")
    assert not cal.in_quiet_hours(kst(2026, 11, 20, 21, 30))
    assert cal.next_allowed_send_time(kst(2026, 11, 20, 22, 0)) == kst(2026, 11, 21, 7, 0)
    assert cal.next_allowed_send_time(kst(2026, 11, 21, 6, 59)) == kst(2026, 11, 21, 7, 0)
    # A period that does not wrap midnight.
    settings.CSTRACK_QUIET_HOURS = ("12:00", "13:00")
    assert cal.next_allowed_send_time(kst(2026, 11, 20, 12, 30)) == kst(2026, 11, 20, 13, 0)
    assert not cal.in_quiet_hours(kst(2026, 11, 20, 23, 0))


def test_business_hours_from_settings(settings):
    settings.CSTRACK_BUSINESS_HOURS = ("10:00", "19:00")
    received = kst(2026, 11, 20, 18, 30)
    assert cal.is_business_time(received)
    assert cal.start_of_next_business_day(received) == kst(2026, 11, 23, 10, 0)
    assert cal.end_of_nth_business_day(received, 2) == kst(2026, 11, 24, 19, 0)


# --- inputs and clock --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        cal.to_kst,
        cal.kst_date,
        cal.is_business_time,
        cal.start_of_next_business_day,
        cal.next_business_moment,
        cal.in_quiet_hours,
        cal.next_allowed_send_time,
        cal.business_time_label,
        lambda dt: cal.d_plus(dt, 3, time(10, 0)),
        lambda dt: cal.start_of_nth_business_day(dt, 1),
        lambda dt: cal.end_of_nth_business_day(dt, 2),
    ],
)
def test_naive_datetime_is_rejected(call):
    with pytest.raises(ValueError):
        call(datetime(2026, 11, 20, 10, 0))  # naive on purpose


def test_results_are_kst():
    assert cal.next_allowed_send_time(datetime(2026, 11, 20, 0, 0, tzinfo=UTC)).tzinfo is KST
    assert cal.start_of_next_business_day(datetime(2026, 11, 20, 0, 0, tzinfo=UTC)).tzinfo is KST


def test_now_is_the_django_clock():
    with time_machine.travel(kst(2026, 11, 20, 17, 59), tick=False):
        assert cal.now() == kst(2026, 11, 20, 17, 59)
        assert cal.now().utcoffset() == timedelta(0)
        assert cal.is_business_time(cal.now())


# --- admin closures ------------------------------------------------------------------------------


def test_closures_are_loaded_lazily_and_cached(monkeypatch):
    calls = []
    monkeypatch.setattr(cal, "_load_closure_dates", lambda: calls.append(1) or frozenset({date(2026, 11, 23)}))
    assert calls == []
    assert not cal.is_business_day(date(2026, 11, 23))
    assert cal.is_business_day(date(2026, 11, 24))
    assert cal.next_business_day(date(2026, 11, 20)) == date(2026, 11, 24)
    assert len(calls) == 1
    cal.clear_closure_cache()
    cal.is_business_day(date(2026, 11, 24))
    assert len(calls) == 2


@pytest.mark.django_db
def test_admin_closure_flips_business_day_and_signal_clears_cache():
    from cstrack.models import Closure

    monday = date(2026, 11, 23)
    assert cal.is_business_day(monday)  # primes the cache with no closures
    closure = Closure.objects.create(date=monday, name="시스템 점검")
    assert not cal.is_business_day(monday)  # post_save cleared the cache
    assert cal.is_closed_day(monday) and not cal.is_public_holiday(monday)
    assert cal.start_of_next_business_day(kst(2026, 11, 20, 17, 59)) == kst(2026, 11, 24, 9, 0)
    closure.delete()
    assert cal.is_business_day(monday)  # post_delete cleared it again


@pytest.mark.django_db
def test_missing_closure_table_means_no_closures(monkeypatch):
    from cstrack.models import Closure

    # As during migrations, before the table exists: the query fails, no closures, nothing cached.
    monkeypatch.setattr(Closure._meta, "db_table", "cstrack_closure_not_migrated")
    assert cal.is_business_day(date(2026, 11, 23))
    assert cal._closure_dates is None


# --- properties ----------------------------------------------------------------------------------

# The autouse fixture only swaps the closure loader for a constant; sharing it across examples is fine.
PROPERTY = hsettings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
# Hypothesis takes naive bounds and attaches the timezone itself.
aware = st.datetimes(
    min_value=datetime(2025, 1, 1),
    max_value=datetime(2028, 12, 31, 23, 59, 59),
    timezones=st.sampled_from([KST, UTC]),
)
dates = st.dates(min_value=date(2025, 1, 1), max_value=date(2028, 12, 31))


@PROPERTY
@given(aware)
def test_next_allowed_send_time_property(dt):
    send = cal.next_allowed_send_time(dt)
    assert not cal.in_quiet_hours(send)
    assert dt <= send
    # The quiet period is 11 hours; only a message due exactly at 21:00 waits all of it.
    assert send - dt <= timedelta(hours=11)
    assert send - dt < timedelta(hours=11) or cal.to_kst(dt).time() == time(21, 0)


@PROPERTY
@given(aware)
def test_start_of_next_business_day_property(dt):
    start = cal.start_of_next_business_day(dt)
    received = cal.kst_date(dt)
    assert start.time() == time(9, 0) and start.tzinfo is KST
    assert cal.is_business_day(start.date())
    assert start.date() > received
    between = (received + timedelta(days=i) for i in range(1, (start.date() - received).days))
    assert not any(cal.is_business_day(d) for d in between)


@PROPERTY
@given(aware)
def test_end_of_day_two_after_start_of_day_one(dt):
    assert cal.end_of_nth_business_day(dt, 2) > cal.start_of_next_business_day(dt) > dt


@PROPERTY
@given(dates, st.integers(min_value=1, max_value=30))
def test_nth_business_day_after_is_monotonic(d, n):
    nth = cal.nth_business_day_after(d, n)
    assert d < nth < cal.nth_business_day_after(d, n + 1)
    assert cal.is_business_day(nth)


@PROPERTY
@given(aware, st.times())
def test_d_plus_three_is_three_calendar_days(dt, at):
    due = cal.d_plus(dt, 3, at)
    assert cal.kst_date(due) - cal.kst_date(dt) == timedelta(days=3)
    assert cal.to_kst(due).time() == at


@PROPERTY
@given(aware)
def test_next_business_moment_is_business_time(dt):
    moment = cal.next_business_moment(dt)
    assert cal.is_business_time(moment)
    assert moment >= dt
    assert (moment == dt) is cal.is_business_time(dt)


@pytest.mark.parametrize(
    ("dt", "n", "expected"),
    [
        (kst(2027, 2, 5, 10, 0), 1, kst(2027, 2, 10, 10, 0)),  # Fri before Seollal (+ substitute day)
        (kst(2026, 9, 23, 14, 0), 1, kst(2026, 9, 28, 14, 0)),  # eve of Chuseok 2026
        (kst(2026, 11, 20, 17, 0), 2, kst(2026, 11, 24, 17, 0)),  # Fri 17:00 → Tue 17:00
        (kst(2026, 11, 20, 19, 0), 1, kst(2026, 11, 24, 9, 0)),  # after hours: counts from Mon 09:00
        (kst(2026, 11, 22, 11, 0), 0, kst(2026, 11, 23, 9, 0)),  # Sunday, n=0: next opening
    ],
)
def test_add_business_days(dt, n, expected):
    assert cal.add_business_days(dt, n) == expected


@PROPERTY
@given(aware, st.integers(min_value=1, max_value=20))
def test_add_business_days_lands_in_business_time_n_business_days_on(dt, n):
    due = cal.add_business_days(dt, n)
    start = cal.next_business_moment(dt)
    assert cal.is_business_time(due) and due > dt
    assert cal.to_kst(due).time() == cal.to_kst(start).time()
    assert cal.kst_date(due) == cal.nth_business_day_after(cal.kst_date(start), n)
