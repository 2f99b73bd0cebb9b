"""10,000 random receipt times (seeded, 2025-2028): the penalty D+3 SMS falls due on the KST
receipt date + 3 at 10:00 KST, and its send time is never in quiet hours. Then the engine
itself: tickets whose outcomes are recorded at any hour, dispatched and delivered on a stopped
clock, and no SMS leaves in quiet hours.

No processes: a plain test (not `service`), on whatever database is configured.
"""

import os
import random
import time as clock
from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine

from cstrack import calendar
from cstrack.calendar import KST
from tickets.followups.scheduling import due_time
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


ENGINE_COUNT = int(os.environ.get("QUIET_ENGINE_COUNT", "300"))


@pytest.mark.django_db
def test_through_the_engine_outcomes_at_any_hour_never_send_in_quiet_hours(settings):
    """The whole path, not only the arithmetic: penalty tickets received at random moments, their
    outcome recorded at a random second of the next six days (nights included), the dispatcher
    and the delivery run on a stopped clock. Every SMS is first due at
    next_allowed_send_time(max(D+3 10:00, outcome)), a delivery tried before then sends nothing,
    and every SMS that left, left outside 21:00-08:00 KST."""
    from notifications import services as outbox
    from notifications.models import Message
    from notifications.providers import memory
    from tests.conftest import PENALTY_DETAILS, make_user
    from tickets.followups import dispatcher
    from tickets.lifecycle import services
    from tickets.models import Action, FollowUp

    settings.CSTRACK_QUIET_HOURS = ("21:00", "08:00")
    settings.SMS_PROVIDER = "memory"
    settings.SMS_SENDER_NUMBER = "1599-0000"
    memory.reset()
    from cstrack import roles
    from cstrack.actors import Actor

    roles.ensure_roles()
    agent = Actor.for_user(make_user("quiet-agent", roles.AGENT))
    ops_user = make_user("quiet-ops", roles.OPERATIONS)
    from tickets.models import Board

    ops_user.boards.add(*Board.objects.all())  # operations see their boards' tickets
    ops = Actor.for_user(ops_user)
    rng = random.Random(20261122)
    t0 = clock.monotonic()
    slot = timedelta(days=8)  # each sample lives in its own slot: the clock only moves forward
    night_outcomes, early_tries, problems = 0, 0, []
    for i in range(ENGINE_COUNT):
        base = START + slot * i
        received = base + timedelta(seconds=rng.randrange(86400))
        outcome_at = received + timedelta(seconds=rng.randrange(6 * 86400))
        night_outcomes += calendar.in_quiet_hours(outcome_at)
        with time_machine.travel(received, tick=False):
            ticket = services.ticket_create(
                kind="driver-penalty-request", details=dict(PENALTY_DETAILS), actor=agent, driver_id=f"DRV-{i}",
                customer_phone="010-1234-5678", consent_basis="newly_collected",
            )  # fmt: skip
        sms_duty = FollowUp.objects.get(ticket=ticket, action=Action.CUSTOMER_MESSAGE)
        d3 = sms_duty.due_at
        with time_machine.travel(outcome_at, tick=False):
            services.ticket_record_outcome(ticket, outcome="warning", actor=ops)
        dispatch_at = max(d3, outcome_at)
        with time_machine.travel(dispatch_at, tick=False):
            dispatcher.dispatch_due()
        message = Message.objects.get(idempotency_key=f"followup:{sms_duty.pk}:customer")
        expected = calendar.next_allowed_send_time(dispatch_at)
        if message.next_attempt_at != expected or calendar.in_quiet_hours(message.next_attempt_at):
            problems.append((received, outcome_at, message.next_attempt_at, expected))
        if message.next_attempt_at > dispatch_at:
            early_tries += 1
            with time_machine.travel(message.next_attempt_at - timedelta(seconds=1), tick=False):
                assert outbox.message_deliver(message.pk) == "skipped"
        with time_machine.travel(message.next_attempt_at, tick=False):
            assert outbox.message_deliver(message.pk) == "sent"
    sent = Message.objects.filter(channel="sms", state=Message.State.SENT)
    in_quiet = [m.pk for m in sent if calendar.in_quiet_hours(m.sent_at)]
    figure(
        f"quiet-hours-engine: {ENGINE_COUNT} tickets through create -> outcome -> dispatcher -> delivery, "
        f"{night_outcomes} outcomes recorded in quiet hours, {early_tries} SMS held for the morning "
        f"(an earlier try sent nothing), {sent.count()} sent, {len(in_quiet)} sent in quiet hours, "
        f"{len(problems)} wrong first send time, {clock.monotonic() - t0:.1f} s"
    )
    assert sent.count() == ENGINE_COUNT
    assert not in_quiet and not problems, problems[:5]
    assert night_outcomes > 0 and early_tries > 0  # the sample really exercised the night
