"""The business calendar: the only module in cstrack that does date and time arithmetic.

Rules (see DESIGN.md, "Time rules"):

* The database stores UTC; every rule is computed on the Korean wall clock (KST, UTC+9, no DST).
* **D+N** is a date rule: received on KST day D, due on day D+N (calendar days) at a local time.
* **Business days** are weekdays minus Korean public holidays (the ``holidays`` package, which
  includes the lunar holidays and substitute holidays) minus the admin-added ``Closure`` dates.
  They are counted from the receipt: day 1 is the first business day *after* the receipt's KST
  date, whatever the time of receipt and even if the receipt day itself is closed.
* **Business hours** are ``settings.CSTRACK_BUSINESS_HOURS`` (default 09:00–18:00), half-open.
* **Quiet hours** (``settings.CSTRACK_QUIET_HOURS``, default 21:00–08:00, may wrap midnight):
  no customer message leaves then; a message due in them waits for the end of the period.

Every function taking a datetime requires an aware one (naive input raises ``ValueError``).
Every datetime returned is aware **in KST**; it compares and stores correctly against UTC values.
"""

from __future__ import annotations

import threading
import time as _time
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

KST = ZoneInfo("Asia/Seoul")

_DEFAULT_BUSINESS_HOURS = ("09:00", "18:00")
_DEFAULT_QUIET_HOURS = ("21:00", "08:00")
_WEEKDAYS_KO = "월화수목금토일"
# A search for the next business day that finds none within a year means the calendar is
# misconfigured (e.g. every day closed); fail loudly instead of looping forever.
_MAX_SEARCH_DAYS = 366
# Closures are cached per process; the post_save/post_delete signal clears the cache only in
# the process that made the change, so other processes (workers, other web processes) re-read
# after this many seconds at most.
_CLOSURE_CACHE_SECONDS = 300


# --- clock and conversions -------------------------------------------------------------------


_CLOCK_OVERRIDE: ContextVar[datetime | None] = ContextVar("cstrack_clock_override", default=None)


def now() -> datetime:
    """The single clock services use (aware, UTC), so tests can move it with time-machine."""
    return _CLOCK_OVERRIDE.get() or timezone.now()


@contextmanager
def clock_at(moment: datetime):
    """Run services as if it were `moment` (the demo data builds a consistent past with it:
    a ticket received five days ago has its receipt event five days ago). Not for requests."""
    token = _CLOCK_OVERRIDE.set(_require_aware(moment))
    try:
        yield moment
    finally:
        _CLOCK_OVERRIDE.reset(token)


def _require_aware(dt: datetime) -> datetime:
    if not isinstance(dt, datetime):
        raise TypeError(f"expected a datetime, got {type(dt).__name__}")
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"naive datetime {dt.isoformat()} is not allowed; pass an aware datetime")
    return dt


def to_kst(dt: datetime) -> datetime:
    return _require_aware(dt).astimezone(KST)


def kst_date(dt: datetime) -> date:
    return to_kst(dt).date()


def _at(d: date, t: time) -> datetime:
    return datetime.combine(d, t, tzinfo=KST)


# --- settings --------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _parse_range(value: tuple[str, str]) -> tuple[time, time]:
    start, end = (time.fromisoformat(v) for v in value)
    return start, end


def _business_hours() -> tuple[time, time]:
    # Read on every call (cheap, parse is cached) so override_settings takes effect.
    start, end = _parse_range(tuple(getattr(settings, "CSTRACK_BUSINESS_HOURS", _DEFAULT_BUSINESS_HOURS)))
    if not start < end:
        raise ValueError(f"CSTRACK_BUSINESS_HOURS must open before it closes: {start}–{end}")
    return start, end


def _quiet_hours() -> tuple[time, time]:
    return _parse_range(tuple(getattr(settings, "CSTRACK_QUIET_HOURS", _DEFAULT_QUIET_HOURS)))


# --- closed days -----------------------------------------------------------------------------


@lru_cache(maxsize=32)
def _kr_holidays(year: int) -> dict[date, str]:
    # A plain dict copy: a HolidayBase silently adds years when probed outside `years`.
    return dict(holidays.country_holidays("KR", years=year, language="ko"))


def is_public_holiday(d: date) -> bool:
    return d in _kr_holidays(d.year)


def holiday_name(d: date) -> str | None:
    """Korean name of the public holiday on `d` (e.g. "추석", "설날 대체 휴일"), else None."""
    return _kr_holidays(d.year).get(d)


_closure_lock = threading.Lock()
_closure_dates: frozenset[date] | None = None
_closure_loaded_at = 0.0


def _load_closure_dates() -> frozenset[date] | None:
    """Read the admin-added closure dates; None if the table cannot be read (not migrated yet).

    The only place that touches the database. Tests replace it with monkeypatch.
    """
    from .models import Closure  # not at import time: the app registry may not be ready

    try:
        # A savepoint, so a missing table does not poison a surrounding transaction (PostgreSQL).
        with transaction.atomic():
            return frozenset(Closure.objects.values_list("date", flat=True))
    except DatabaseError:
        return None


def closure_dates() -> frozenset[date]:
    """The closure dates, loaded on first use and cached in-process (see _CLOSURE_CACHE_SECONDS)."""
    global _closure_dates, _closure_loaded_at
    with _closure_lock:
        fresh = _time.monotonic() - _closure_loaded_at < _CLOSURE_CACHE_SECONDS
        if _closure_dates is not None and fresh:
            return _closure_dates
    loaded = _load_closure_dates()
    if loaded is None:
        # Do not cache a failure: once migrations have run, the next call should see the table.
        return frozenset()
    with _closure_lock:
        _closure_dates, _closure_loaded_at = loaded, _time.monotonic()
    return loaded


def clear_closure_cache() -> None:
    """Forget the cached closures (called by the Closure post_save/post_delete signal)."""
    global _closure_dates
    with _closure_lock:
        _closure_dates = None


def is_closed_day(d: date) -> bool:
    """Weekend, public holiday or admin closure."""
    return d.weekday() >= 5 or is_public_holiday(d) or d in closure_dates()


def is_business_day(d: date) -> bool:
    return not is_closed_day(d)


# --- business days and hours -----------------------------------------------------------------


def is_business_time(dt: datetime) -> bool:
    """On a business day and within [opening, closing) KST."""
    local = to_kst(dt)
    start, end = _business_hours()
    return is_business_day(local.date()) and start <= local.time() < end


def next_business_day(d: date) -> date:
    """The first business day strictly after `d`."""
    for offset in range(1, _MAX_SEARCH_DAYS + 1):
        candidate = d + timedelta(days=offset)
        if is_business_day(candidate):
            return candidate
    raise RuntimeError(f"no business day within {_MAX_SEARCH_DAYS} days after {d}; check closures")


def nth_business_day_after(d: date, n: int) -> date:
    """Business day number `n` counted from `d` (n >= 1; day 1 = next_business_day(d))."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    for _ in range(n):
        d = next_business_day(d)
    return d


def start_of_business_day(d: date) -> datetime:
    """Opening time on date `d` (KST). Does not check that `d` is a business day."""
    return _at(d, _business_hours()[0])


def end_of_business_day(d: date) -> datetime:
    """Closing time on date `d` (KST). Does not check that `d` is a business day."""
    return _at(d, _business_hours()[1])


def start_of_next_business_day(dt: datetime) -> datetime:
    """Opening of business day 1 after the receipt `dt` ("remind at the start of day 1")."""
    return start_of_business_day(next_business_day(kst_date(dt)))


def start_of_nth_business_day(received_at: datetime, n: int) -> datetime:
    return start_of_business_day(nth_business_day_after(kst_date(received_at), n))


def end_of_nth_business_day(received_at: datetime, n: int) -> datetime:
    """Closing of business day `n` after the receipt ("breach at the end of day 2": n=2)."""
    return end_of_business_day(nth_business_day_after(kst_date(received_at), n))


def add_business_days(dt: datetime, n: int) -> datetime:
    """`n` business days after `dt`, at the same time of day ("call back within 2 business
    days" of a call at 14:00 → 14:00 on business day 2). A `dt` outside business hours counts
    from the next opening; n = 0 gives that moment."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    start = next_business_moment(dt)
    if n == 0:
        return start
    return _at(nth_business_day_after(start.date(), n), start.time())


def next_business_moment(dt: datetime) -> datetime:
    """`dt` itself if it is business time, else the next opening (KST)."""
    if is_business_time(dt):
        return to_kst(dt)
    local = to_kst(dt)
    if is_business_day(local.date()) and local.time() < _business_hours()[0]:
        return start_of_business_day(local.date())  # early morning of a business day
    return start_of_next_business_day(local)


# --- calendar days ---------------------------------------------------------------------------


def d_plus(received_at: datetime, n: int, at: time) -> datetime:
    """D+N: KST date of `received_at` plus `n` calendar days, at local time `at` (naive time).

    Holidays and weekends do not matter here; a message due at night still waits for
    next_allowed_send_time at dispatch.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if at.tzinfo is not None:
        raise ValueError("`at` is a KST wall-clock time; pass a naive time")
    return _at(kst_date(received_at) + timedelta(days=n), at)


# --- quiet hours -----------------------------------------------------------------------------


def in_quiet_hours(dt: datetime) -> bool:
    """True if a customer message must not leave at `dt` ([start, end) KST, may wrap midnight)."""
    t = to_kst(dt).time()
    start, end = _quiet_hours()
    if start == end:
        return False  # no quiet period configured
    if start < end:
        return start <= t < end
    return t >= start or t < end


def next_allowed_send_time(dt: datetime) -> datetime:
    """`dt` (in KST) if not in quiet hours, else the end of the quiet period (same or next day)."""
    local = to_kst(dt)
    if not in_quiet_hours(local):
        return local
    start, end = _quiet_hours()
    day = local.date()
    if start > end and local.time() >= start:
        day += timedelta(days=1)  # evening part of a period that wraps midnight
    return _at(day, end)


# --- display ---------------------------------------------------------------------------------


def business_time_label(dt: datetime) -> str:
    """KST wall-clock label for UI text, e.g. "2026-11-23 (월) 09:00"."""
    local = to_kst(dt)
    return f"{local:%Y-%m-%d} ({_WEEKDAYS_KO[local.weekday()]}) {local:%H:%M}"


def month_bounds(dt: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the KST calendar month containing dt (e.g. coupon "once a month")."""
    d = kst_date(dt)
    first = date(d.year, d.month, 1)
    following = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return _at(first, time(0, 0)), _at(following, time(0, 0))


def days_ago(moment: datetime, days: int) -> datetime:
    """The instant `days` whole days before `moment` (for "last 30/90 days" counts)."""
    return _require_aware(moment) - timedelta(days=days)


def elapsed(since: datetime, until: datetime) -> timedelta:
    return _require_aware(until) - _require_aware(since)


def shift(moment: datetime, by: timedelta) -> datetime:
    """Move a due time by a paused duration (waiting-on-customer stops the clock)."""
    return _require_aware(moment) + by


def after_seconds(moment: datetime, seconds: int) -> datetime:
    return _require_aware(moment) + timedelta(seconds=seconds)


def month_day_label(d: date | str) -> str:
    """'2026-11-20' -> '11월 20일' (the wording customer messages use for an incident date)."""
    if isinstance(d, str):
        d = date.fromisoformat(d)
    return f"{d.month}월 {d.day}일"


# Age buckets for supervisor queues: label -> upper bound in hours (the last has none).
AGE_BUCKET_HOURS = {"<1d": 24, "1-3d": 72, "3-7d": 168, ">7d": None}
AGE_BUCKETS = tuple(AGE_BUCKET_HOURS)


def age_bucket(since: datetime, moment: datetime) -> str:
    hours = elapsed(since, moment).total_seconds() / 3600
    for label, upper in AGE_BUCKET_HOURS.items():
        if upper is None or hours < upper:
            return label
    raise AssertionError("unreachable: the last bucket is open-ended")


def age_bucket_bounds(moment: datetime) -> dict[str, tuple[datetime | None, datetime | None]]:
    """For counting in the database: label -> (oldest, newest) start time, as of `moment`, of
    what falls in that bucket (oldest exclusive, newest inclusive; None = unbounded)."""
    bounds, newest = {}, None
    for label, upper in AGE_BUCKET_HOURS.items():
        oldest = after_seconds(moment, -upper * 3600) if upper is not None else None
        bounds[label] = (oldest, newest)
        newest = oldest
    return bounds


# --- report periods --------------------------------------------------------------------------

# Reports count by KST day, ISO week (Monday first) or calendar month.
PERIODS = ("day", "week", "month")


def _check_period(period: str) -> None:
    if period not in PERIODS:
        raise ValueError(f"period must be one of {PERIODS}, got {period!r}")


def period_start(d: date, period: str) -> date:
    """First KST date of the day/week/month containing `d`."""
    _check_period(period)
    if period == "week":
        return d - timedelta(days=d.weekday())
    if period == "month":
        return date(d.year, d.month, 1)
    return d


def next_period_start(d: date, period: str) -> date:
    """First KST date of the period after the one containing `d`."""
    start = period_start(d, period)
    if period == "week":
        return start + timedelta(days=7)
    if period == "month":
        return date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    return start + timedelta(days=1)


def period_starts(first: date, last: date, period: str) -> list[date]:
    """The starts of every period from the one containing `first` to the one containing `last`."""
    starts, d = [], period_start(first, period)
    while d <= last:
        starts.append(d)
        d = next_period_start(d, period)
    return starts


def kst_day_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """[00:00 KST of `first`, 00:00 KST of the day after `last`), for range filters."""
    return _at(first, time(0, 0)), _at(last + timedelta(days=1), time(0, 0))


def period_bounds(start: date, period: str) -> tuple[datetime, datetime]:
    """[start, end) instants of the KST period beginning on `start`."""
    return _at(period_start(start, period), time(0, 0)), _at(next_period_start(start, period), time(0, 0))


def trunc_period(field: str, period: str):
    """A database expression for the first KST date of the period containing `field` (a
    datetime column), so a report groups by KST day/week/month in one query on SQLite and
    PostgreSQL. It yields dates (cheaper to read back than datetimes)."""
    from django.db.models import DateField
    from django.db.models.functions import Trunc

    _check_period(period)
    return Trunc(field, period, output_field=DateField(), tzinfo=KST)


def default_report_range(moment: datetime, period: str, count: int = 12) -> tuple[date, date]:
    """The last `count` periods up to and including the one containing `moment` (KST)."""
    _check_period(period)
    last = kst_date(moment)
    first = period_start(last, period)
    for _ in range(count - 1):
        first = period_start(first - timedelta(days=1), period)
    return first, last


def previous_business_day(d: date) -> date:
    """The last business day strictly before `d`."""
    for offset in range(1, _MAX_SEARCH_DAYS + 1):
        candidate = d - timedelta(days=offset)
        if is_business_day(candidate):
            return candidate
    raise RuntimeError(f"no business day within {_MAX_SEARCH_DAYS} days before {d}; check closures")


def at_local_time(d: date, t: time) -> datetime:
    """The instant of KST wall-clock time `t` on date `d` (e.g. a digest at 08:30)."""
    if t.tzinfo is not None:
        raise ValueError("`t` is a KST wall-clock time; pass a naive time")
    return _at(d, t)
