"""Bulk work: each ticket checked and changed on its own, audited on its own, and reported."""

from datetime import datetime

import pytest
import time_machine

from cstrack import calendar
from cstrack.actors import Actor
from cstrack.errors import DomainValidationError
from notifications.models import Message
from tests.conftest import make_user
from tickets import bulk
from tickets.followups.changes import reschedule_warnings
from tickets.models import Action, Board, EventType, FollowUp, FollowUpState, Status, Ticket

pytestmark = pytest.mark.django_db


def test_reassign_many_audits_each_ticket_with_the_reason(make_ticket, supervisor, operator):
    tickets = [make_ticket() for _ in range(3)]
    result = bulk.bulk_change_tickets(
        [t.reference for t in tickets],
        operation="assign",
        actor=Actor.for_user(supervisor),
        reason="휴가자 건 재배정",
        assignee=operator,
    )
    assert result.done == [t.reference for t in tickets] and result.refused == []
    for t in tickets:
        t.refresh_from_db()
        assert t.assignee == operator
        event = t.events.get(type=EventType.ASSIGNED)
        assert event.data["note"] == "휴가자 건 재배정"
        assert event.data["after"]["assignee"] == operator.username
        assert event.actor_label == supervisor.username


def test_refusals_are_per_ticket_and_say_why(make_ticket, supervisor):
    open_ticket, closed = make_ticket(), make_ticket()
    Ticket.objects.filter(pk=closed.pk).update(status=Status.CLOSED)
    result = bulk.bulk_change_tickets(
        [open_ticket.reference, closed.reference, "CS-00000000-9999"],
        operation="assign",
        actor=Actor.for_user(supervisor),
        reason="재배정",
        assignee=supervisor,
    )
    assert result.done == [open_ticket.reference]
    why = dict(result.refused)
    assert "종료" in why[closed.reference]
    assert "찾을 수 없" in why["CS-00000000-9999"]
    assert not closed.events.filter(type=EventType.ASSIGNED).exists()


def test_operations_staff_cannot_touch_tickets_outside_their_boards(make_ticket, operator):
    mine, other = make_ticket(), make_ticket()
    koc = Board.objects.get(code="penalty-koc")
    Ticket.objects.filter(pk=mine.pk).update(board=koc)
    Ticket.objects.filter(pk=other.pk).update(board=Board.objects.exclude(pk=koc.pk).first())
    operator.boards.set([koc])  # (the fixture's operator is on every board)
    operator = type(operator).objects.get(pk=operator.pk)
    result = bulk.bulk_change_tickets(
        [mine.reference, other.reference],
        operation="assign",
        actor=Actor.for_user(operator),
        reason="내가 처리",
        assignee=operator,
    )
    assert result.done == [mine.reference]
    assert result.refused == [(other.reference, "티켓을 찾을 수 없거나 볼 수 없습니다.")]


def test_agents_may_not_reschedule_follow_ups_in_bulk(make_ticket, agent):
    ticket = make_ticket()
    due = calendar.after_seconds(calendar.now(), 86400)
    result = bulk.bulk_change_tickets(
        [ticket.reference], operation="reschedule", actor=Actor.for_user(agent), reason="연기", due_at=due
    )
    assert result.done == []
    assert "권한" in result.refused[0][1]
    assert not FollowUp.objects.filter(ticket=ticket, due_at=due).exists()


def test_board_move_keeps_the_assignee(make_ticket, supervisor, operator):
    ticket = make_ticket(assignee=operator)
    target = Board.objects.exclude(pk=ticket.board_id).first()
    result = bulk.bulk_change_tickets(
        [ticket.reference], operation="board", actor=Actor.for_user(supervisor), reason="담당 게시판 정정", board=target
    )
    assert result.done == [ticket.reference]
    ticket.refresh_from_db()
    assert ticket.board == target and ticket.assignee == operator


def test_reschedule_and_cancel_every_pending_follow_up(make_ticket, supervisor):
    a, b = make_ticket(), make_ticket()
    due = calendar.after_seconds(calendar.now(), 2 * 86400)
    actor = Actor.for_user(supervisor)
    result = bulk.bulk_change_tickets([a.reference], operation="reschedule", actor=actor, reason="연기", due_at=due)
    assert result.done == [a.reference]
    pending = FollowUp.objects.filter(ticket=a, state__in=[FollowUpState.SCHEDULED, FollowUpState.HELD])
    assert pending.exists() and all(fu.due_at == due for fu in pending)
    assert a.events.filter(type=EventType.FOLLOWUP, data__change="rescheduled").count() == pending.count()

    result = bulk.bulk_change_tickets([b.reference], operation="cancel", actor=actor, reason="고객 철회")
    assert result.done == [b.reference]
    assert not FollowUp.objects.filter(ticket=b, state__in=[FollowUpState.SCHEDULED, FollowUpState.HELD]).exists()
    # Nothing left to cancel: refused, with the reason.
    again = bulk.bulk_change_tickets([b.reference], operation="cancel", actor=actor, reason="고객 철회")
    assert again.done == [] and "예정 후속 조치가 없습니다" in again.refused[0][1]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"reason": "  "}, "reason"),
        ({"references": []}, "selection"),
        ({"operation": "delete"}, "operation"),
        ({"operation": "board"}, "board"),
        ({"operation": "reschedule"}, "due_at"),
    ],
)
def test_the_request_itself_is_checked_before_any_ticket(make_ticket, supervisor, kwargs, field):
    ticket = make_ticket()
    args = {"references": [ticket.reference], "operation": "assign", "reason": "사유", **kwargs}
    with pytest.raises(DomainValidationError) as err:
        bulk.bulk_change_tickets(args.pop("references"), actor=Actor.for_user(supervisor), **args)
    assert field in err.value.field_errors
    assert not ticket.events.filter(type=EventType.ASSIGNED).exists()


def test_too_many_at_once_is_refused(supervisor):
    refs = [f"CS-20260101-{i:04d}" for i in range(bulk.MAX_ITEMS + 1)]
    with pytest.raises(DomainValidationError):
        bulk.bulk_change_tickets(refs, operation="assign", actor=Actor.for_user(supervisor), reason="x")


def test_retry_dead_letters_in_bulk_records_it_on_the_ticket(make_ticket, supervisor, agent):
    ticket = make_ticket()
    fu = FollowUp.objects.filter(ticket=ticket).first()
    linked = Message.objects.create(
        idempotency_key="bulk:1", channel="sms", body="b", message_type="SMS", recipient="+821012345678",
        recipient_masked="010-****-5678", state=Message.State.DEAD, attempts=6,
    )  # fmt: skip
    FollowUp.objects.filter(pk=fu.pk).update(message=linked)
    sent = Message.objects.create(
        idempotency_key="bulk:2", channel="sms", body="b", message_type="SMS", recipient="+821012345678",
        recipient_masked="010-****-5678", state=Message.State.SENT,
    )  # fmt: skip
    result = bulk.bulk_retry_messages([linked.pk, sent.pk], actor=Actor.for_user(supervisor), reason="발송사 장애 복구")
    assert result.done == [f"#{linked.pk}"]
    assert result.refused[0][0] == f"#{sent.pk}" and "발송 실패" in result.refused[0][1]
    linked.refresh_from_db()
    assert linked.state == Message.State.PENDING
    event = ticket.events.get(type=EventType.FOLLOWUP, data__change="message_retried")
    assert event.data["reason"] == "발송사 장애 복구"

    # An agent holds no permission to retry: nothing moves.
    Message.objects.filter(pk=linked.pk).update(state=Message.State.DEAD)
    denied = bulk.bulk_retry_messages([linked.pk], actor=Actor.for_user(agent), reason="재시도")
    assert denied.done == [] and "권한" in denied.refused[0][1]


# --- the reschedule warning -----------------------------------------------------------------


def _fu(action):
    return FollowUp(action=action)


@time_machine.travel(datetime(2026, 11, 25, 12, 0, tzinfo=calendar.KST), tick=False)  # a Wednesday
def test_reschedule_warnings_for_customer_facing_duties():
    sms, alert = _fu(Action.CUSTOMER_MESSAGE), _fu(Action.ALERT_SUPERVISOR)
    saturday_night = datetime(2026, 11, 28, 23, 30, tzinfo=calendar.KST)
    warnings = reschedule_warnings([sms], saturday_night)
    assert len(warnings) == 2
    assert any("야간" in w and "2026-11-29 (일) 08:00" in w for w in warnings)
    assert any("휴무일" in w for w in warnings)
    assert any(
        "지난" in w
        for w in reschedule_warnings([_fu(Action.CALL_BACK)], datetime(2026, 11, 24, 10, 0, tzinfo=calendar.KST))
    )
    assert any(
        "성탄절" in w or "기독탄신일" in w
        for w in reschedule_warnings([sms], datetime(2026, 12, 25, 10, 0, tzinfo=calendar.KST))
    )
    # A weekday morning is fine; a staff-only duty is never warned about.
    assert reschedule_warnings([sms], datetime(2026, 11, 26, 10, 0, tzinfo=calendar.KST)) == []
    assert reschedule_warnings([alert], saturday_night) == []


def test_confirmed_warnings_are_kept_in_the_audit_event(make_ticket, supervisor):
    ticket = make_ticket()
    due = calendar.after_seconds(calendar.now(), 86400)
    bulk.bulk_change_tickets(
        [ticket.reference],
        operation="reschedule",
        actor=Actor.for_user(supervisor),
        reason="고객 요청",
        due_at=due,
        acknowledged=["휴무일(주말 또는 지정 휴무)입니다."],
    )
    event = ticket.events.filter(type=EventType.FOLLOWUP, data__change="rescheduled").first()
    assert event.data["acknowledged"] == ["휴무일(주말 또는 지정 휴무)입니다."]


def test_a_user_without_a_role_is_refused(make_ticket):
    nobody = make_user("nobody")
    ticket = make_ticket()
    result = bulk.bulk_change_tickets([ticket.reference], operation="assign", actor=Actor.for_user(nobody), reason="x")
    assert result.done == [] and "권한" in result.refused[0][1]
