"""The promise report's figures, from known histories on a controlled clock (docs/reports.md)."""

from datetime import date

import pytest

from cstrack import calendar
from tests.conftest import make_user
from tickets.access import policy as access
from tickets.lifecycle import services
from tickets.models import Board, FollowUpState, Status
from tickets.reports import promises as report
from tickets.reports.promises import ReportFilter

from .histories import CALLBACK, at, call_back_at, callback_of, dispatch_at, kst, recontacted, transition_at

pytestmark = pytest.mark.django_db

WEEK = date(2026, 11, 23)  # Monday; Friday 2026-12-25 (Christmas) is a holiday
AS_OF = kst(2026, 12, 30, 12, 0)


def week_filter(**kwargs):
    defaults = {"first": WEEK, "last": date(2026, 12, 31), "period": "week", "promise": CALLBACK}
    return ReportFilter(**{**defaults, **kwargs})


@pytest.fixture
def histories(create, actor):
    """Seven call-back promises with known fates."""
    t = {}
    # Kept on time: re-contact Monday 10:00, due Wednesday 18:00, called back Tuesday 15:00.
    t["on_time"] = recontacted(create, actor, (2026, 11, 23, 10, 0))
    call_back_at(t["on_time"], actor, (2026, 11, 24, 15, 0))
    # Kept late by 3 hours: called back Wednesday 21:00.
    t["late"] = recontacted(create, actor, (2026, 11, 23, 11, 0))
    call_back_at(t["late"], actor, (2026, 11, 25, 21, 0))
    # Broken: nobody calls back.
    t["broken"] = recontacted(create, actor, (2026, 11, 23, 12, 0))
    # Paused and resumed: due Thursday 18:00; waiting on the customer from Wednesday 10:00 to
    # Friday 10:00 moves it 48 hours, to Saturday 18:00; called back Saturday 12:00: on time.
    t["paused"] = recontacted(create, actor, (2026, 11, 24, 10, 0))
    transition_at(t["paused"], actor, (2026, 11, 25, 10, 0), Status.WAITING_CUSTOMER)
    transition_at(t["paused"], actor, (2026, 11, 27, 10, 0), Status.IN_PROGRESS)
    call_back_at(t["paused"], actor, (2026, 11, 28, 12, 0))
    # Holiday in between: re-contact Wednesday 12-23; day 1 is Thursday, Friday is Christmas,
    # so day 2 is Monday 12-28 (due 18:00); called back Monday 16:00: on time.
    t["holiday"] = recontacted(create, actor, (2026, 12, 23, 10, 0))
    call_back_at(t["holiday"], actor, (2026, 12, 28, 16, 0))
    # Released: the ticket is cancelled before the call back was due.
    t["released"] = recontacted(create, actor, (2026, 11, 23, 13, 0))
    transition_at(t["released"], actor, (2026, 11, 24, 9, 0), Status.CANCELLED)
    # Broken by cancelling after the deadline passed with nobody acting.
    t["cancelled_late"] = recontacted(create, actor, (2026, 11, 23, 14, 0))
    transition_at(t["cancelled_late"], actor, (2026, 11, 26, 9, 0), Status.CANCELLED)
    return t


def test_the_histories_have_the_deadlines_the_calendar_gives(histories):
    assert callback_of(histories["on_time"]).due_at == kst(2026, 11, 25, 18, 0)
    assert callback_of(histories["paused"]).due_at == kst(2026, 11, 28, 18, 0)
    assert callback_of(histories["holiday"]).due_at == kst(2026, 12, 28, 18, 0)


def test_every_figure_per_week(histories):
    result = report.promise_report(week_filter(), as_of=AS_OF)
    by_week = {r.period_start: r for r in result.rows}
    assert set(by_week) == {date(2026, 11, 23), date(2026, 12, 28)}
    nov = by_week[date(2026, 11, 23)]
    assert (nov.made, nov.on_time, nov.late, nov.broken, nov.pending, nov.released) == (6, 2, 1, 2, 0, 1)
    assert nov.on_time_rate == pytest.approx(2 / 5, abs=1e-4)
    assert nov.late_median_minutes == 180.0
    assert nov.late_p90_minutes == 180.0
    dec = by_week[date(2026, 12, 28)]
    assert (dec.made, dec.on_time, dec.late, dec.broken, dec.pending, dec.released) == (1, 1, 0, 0, 0, 0)
    assert dec.on_time_rate == 1.0
    assert dec.late_median_minutes is None
    totals = result.totals
    assert (totals.made, totals.on_time, totals.late, totals.broken, totals.released) == (7, 3, 1, 2, 1)
    assert totals.on_time_rate == pytest.approx(3 / 6, abs=1e-4)
    # The trend has every week of the range, empty ones included.
    assert [r.period_start for r in result.trend] == calendar.period_starts(WEEK, date(2026, 12, 31), "week")
    assert [r.made for r in result.trend] == [6, 0, 0, 0, 0, 1]


def test_pending_until_the_deadline_then_broken(create, actor):
    """The figures count what is known at `as_of`: a promise not yet kept is pending until its
    deadline passes, then broken; kept after that, it is late."""
    ticket = recontacted(create, actor, (2026, 11, 23, 10, 0))
    before = report.promise_report(week_filter(), as_of=kst(2026, 11, 25, 17, 59)).totals
    assert (before.pending, before.broken) == (1, 0)
    after = report.promise_report(week_filter(), as_of=kst(2026, 11, 25, 18, 1)).totals
    assert (after.pending, after.broken) == (0, 1)
    assert after.on_time_rate == 0.0
    call_back_at(ticket, actor, (2026, 11, 26, 9, 0))
    kept = report.promise_report(week_filter(), as_of=kst(2026, 11, 26, 9, 1)).totals
    assert (kept.broken, kept.late, kept.late_median_minutes) == (0, 1, 15 * 60.0)


def test_a_paused_promise_is_pending_while_the_clock_stops(create, actor):
    ticket = recontacted(create, actor, (2026, 11, 24, 10, 0))
    transition_at(ticket, actor, (2026, 11, 25, 10, 0), Status.WAITING_CUSTOMER)
    # Friday: its original deadline (Thursday 18:00) has passed, but the clock is stopped.
    totals = report.promise_report(week_filter(), as_of=kst(2026, 11, 27, 9, 0)).totals
    assert (totals.pending, totals.broken) == (1, 0)


def test_figures_by_day_and_month(histories):
    daily = report.promise_report(week_filter(period="day"), as_of=AS_OF)
    days = {r.period_start: r.made for r in daily.rows}
    assert days == {date(2026, 11, 25): 5, date(2026, 11, 28): 1, date(2026, 12, 28): 1}
    monthly = report.promise_report(week_filter(period="month", first=date(2026, 11, 1)), as_of=AS_OF)
    assert {r.period_start: r.made for r in monthly.rows} == {date(2026, 11, 1): 6, date(2026, 12, 1): 1}


def test_a_deadline_late_in_the_evening_belongs_to_its_kst_day(create, actor):
    # 23:30 KST on Sunday 11-29 is 14:30 UTC: still week 11-23 and day 11-29 in KST.
    ticket = recontacted(create, actor, (2026, 11, 23, 10, 0))
    fu = callback_of(ticket)
    fu.due_at = kst(2026, 11, 29, 23, 30)
    fu.save(update_fields=["due_at"])
    daily = report.promise_report(week_filter(period="day"), as_of=AS_OF)
    assert [r.period_start for r in daily.rows] == [date(2026, 11, 29)]
    weekly = report.promise_report(week_filter(), as_of=AS_OF)
    assert [r.period_start for r in weekly.rows] == [date(2026, 11, 23)]


def test_grouped_by_kind_board_and_owner(histories, create, actor, operator):
    other = recontacted(create, actor, (2026, 11, 23, 10, 0), kind="business-transfer")
    with at(2026, 11, 23, 10, 5):
        services.ticket_assign(other, actor=actor, assignee=operator)
    result = report.promise_report(week_filter(group_by="kind", last=date(2026, 11, 29)), as_of=AS_OF)
    by_kind = {r.group: r for r in result.rows}
    assert by_kind["pet-cs-inquiry"].made == 6
    assert by_kind["business-transfer"].made == 1
    assert by_kind["business-transfer"].broken == 1
    by_owner = {}
    for r in report.promise_report(week_filter(group_by="owner"), as_of=AS_OF).rows:
        by_owner[r.group_label] = by_owner.get(r.group_label, 0) + r.made
    assert by_owner == {report.UNASSIGNED: 7, operator.username: 1}
    by_board = report.promise_report(week_filter(group_by="board"), as_of=AS_OF).rows
    assert sum(r.made for r in by_board) == 8
    only_ops = report.promise_report(week_filter(owner=operator.username), as_of=AS_OF).totals
    assert (only_ops.made, only_ops.broken) == (1, 1)


def test_promise_types_and_deadline_checks(histories):
    dispatch_at((2026, 12, 30, 11, 0))  # reminders and breach checks fall due and go
    result = report.promise_report(week_filter(group_by="promise", promise=""), as_of=AS_OF)
    kinds = {r.group for r in result.rows}
    # The owner reminder is a promise of its own type; the breach check is not a promise.
    assert kinds == {CALLBACK, "recontact-remind-owner"}
    reminders = report.Row(None, "", "")
    for r in result.rows:
        if r.group == "recontact-remind-owner":
            report._add(reminders, r)
    # The dispatcher ran only now: the reminder still needed (nobody called back) went late; the
    # ones a call back made needless were skipped, and the one cancelled with its ticket before
    # it was due was withdrawn (both released); the one cancelled after its time is broken.
    assert (reminders.made, reminders.late, reminders.broken, reminders.released) == (7, 1, 1, 5)
    assert (
        reminders.late_median_minutes
        == calendar.elapsed(kst(2026, 11, 24, 9, 0), AS_OF.replace(hour=11)).total_seconds() / 60
    )


def test_a_held_message_sent_after_its_deadline_is_kept_late(make_ticket, operator_actor):
    with at(2026, 11, 23, 10, 0):
        ticket = make_ticket(customer_phone="010-1234-5678", consent_basis="newly_collected")
    dispatch_at((2026, 11, 26, 10, 0))  # D+3: no outcome yet, so the SMS is held
    with at(2026, 11, 27, 13, 0):
        services.ticket_record_outcome(ticket, outcome="warning", actor=operator_actor)
    dispatch_at((2026, 11, 27, 13, 0))
    f = ReportFilter(first=WEEK, last=WEEK, period="week", promise="penalty-feedback-d3-sms")
    totals = report.promise_report(f, as_of=AS_OF).totals
    assert (totals.made, totals.late) == (1, 1)
    assert totals.late_median_minutes == 27 * 60.0


def test_first_contact_resolution(histories, create, actor):
    with at(2026, 11, 24, 9, 0):
        create("pet-cs-inquiry")  # handled without the customer calling again
    f = ReportFilter(first=WEEK, last=date(2026, 11, 29), period="week")
    totals = report.promise_report(f, as_of=AS_OF).totals
    assert (totals.tickets, totals.first_contact) == (7, 1)
    assert totals.first_contact_rate == pytest.approx(1 / 7, abs=1e-4)


def test_median_and_p90_of_the_late_ones():
    assert report.percentile([], 50) is None
    assert report.percentile([60, 180, 120, 600, 30], 50) == 120
    assert report.percentile(list(range(1, 11)), 90) == 9
    assert report.percentile([5], 90) == 5


def test_drill_down_lists_the_promises_behind_a_number(histories):
    f = week_filter()
    broken = report.drill_down(f, "broken", period_start=WEEK, as_of=AS_OF)
    assert {fu.ticket_id for fu in broken} == {histories["broken"].pk, histories["cancelled_late"].pk}
    late = list(report.drill_down(f, "late", as_of=AS_OF))
    assert [fu.ticket_id for fu in late] == [histories["late"].pk]
    assert report.lateness_minutes(late[0]) == 180.0
    assert report.drill_down(f, "on_time", period_start=date(2026, 12, 28), as_of=AS_OF).count() == 1
    grouped = week_filter(group_by="kind")
    assert report.drill_down(grouped, "made", group="pet-cs-inquiry", as_of=AS_OF).count() == 7
    assert report.drill_down(grouped, "made", group="business-transfer", as_of=AS_OF).count() == 0


def test_board_scoping_through_the_access_policy(histories, create, actor):
    ops = make_user("ops-koc", "operations")
    board = Board.objects.get(code="penalty-koc")
    board.members.add(ops)
    recontacted(create, actor, (2026, 11, 23, 10, 0), kind="driver-compensation-demand")
    mine = access.visible_tickets(ops)
    everything = report.promise_report(week_filter(promise=""), as_of=AS_OF).totals.made
    scoped = report.promise_report(week_filter(promise=""), mine, as_of=AS_OF).totals.made
    assert scoped < everything
    visible = set(mine.values_list("pk", flat=True))
    assert all(fu.ticket_id in visible for fu in report.drill_down(week_filter(promise=""), "made", mine, as_of=AS_OF))


def test_states_cover_every_row(histories):
    """made = on time + late + broken + pending + released, whatever the states."""
    for as_of in (kst(2026, 11, 24, 12, 0), kst(2026, 11, 26, 12, 0), AS_OF):
        for r in report.promise_report(week_filter(promise="", group_by="promise"), as_of=as_of).rows:
            assert r.made == r.on_time + r.late + r.broken + r.pending + r.released, (as_of, r)
    assert FollowUpState.values  # every state is one of the figures' conditions (see docs)
