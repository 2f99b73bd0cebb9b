"""10,000 random receipt times (seeded, 2025-2028): the penalty D+3 SMS falls due on the KST
receipt date + 3 at 10:00 KST, and its send time is never in quiet hours.

No processes: a plain test (not `service`), on whatever database is configured.
"""

import random
import time as clock
from datetime import UTC, datetime, time, timedelta

import pytest

from cstrack import calendar
from cstrack.calendar import KST
from tickets.followups import due_time
from tickets.models import FollowUpPolicy

from .conftest import SMS_POLICY, figure

COUNT = 10_000
START = datetime(2025, 1, 1, tzinfo=KST)
END = datetime(2029, 1, 1, tzinfo=KST)


@pytest.mark.django_db
def test_d3_due_times_are_receipt_date_plus_3_at_10_kst_and_never_quiet(settings):
    settings.CSTRACK_QUIET_HOURS = ("21:00", "08:00")  # the documented default
    policy = FollowUpPolicy.objects.get(code=SMS_POLICY)  # as installed by the data migration
    assert (policy.timing, policy.timing_n, policy.timing_time) == ("d_plus", 3, time(10, 0))
    rng = random.Random(20250101)
    span = int((END - START).total_seconds())
    t0 = clock.monotonic()
    quiet, wrong_date, wrong_time, moved = 0, [], [], 0
    years = set()
    for _ in range(COUNT):
        # Receipt times as stored: UTC instants, any second of 2025-2028 (KST).
        received = (START + timedelta(seconds=rng.randrange(span))).astimezone(UTC)
        years.add(received.astimezone(KST).year)
        due = due_time(policy, received)
        send = calendar.next_allowed_send_time(due)
        local_due = due.astimezone(KST)
        if local_due.date() != received.astimezone(KST).date() + timedelta(days=3):
            wrong_date.append((received, due))
        if (local_due.hour, local_due.minute, local_due.second, local_due.microsecond) != (10, 0, 0, 0):
            wrong_time.append((received, due))
        if calendar.in_quiet_hours(send):
            quiet += 1
        if send != due:
            moved += 1
        # A message enqueued at the receipt moment itself is also never sent in quiet hours.
        at_receipt = calendar.next_allowed_send_time(received)
        assert not calendar.in_quiet_hours(at_receipt)
        assert at_receipt >= received
        assert at_receipt - received < timedelta(hours=11)
    elapsed = clock.monotonic() - t0
    figure(
        f"quiet-hours-bulk: {COUNT} receipt times {min(years)}-{max(years)}: {quiet} in quiet hours, "
        f"{len(wrong_date)} wrong D+3 date, {len(wrong_time)} not at 10:00 KST, {moved} moved by quiet hours, "
        f"{elapsed:.2f} s"
    )
    assert years == {2025, 2026, 2027, 2028}
    assert quiet == 0
    assert not wrong_date, wrong_date[:5]
    assert not wrong_time, wrong_time[:5]
    assert moved == 0  # 10:00 KST is outside 21:00-08:00
