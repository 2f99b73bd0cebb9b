"""Macros: a named set of changes applied in one step, audited as such, checked per change."""

import pytest
from django.core.exceptions import ValidationError

from cstrack.actors import Actor
from cstrack.errors import Conflict, PermissionDenied
from tickets.lifecycle import macros
from tickets.models import (
    Board,
    EventType,
    FollowUp,
    FollowUpState,
    Macro,
    MacroFollowUpChange,
    Status,
    TicketKind,
)

pytestmark = pytest.mark.django_db

PENDING = [FollowUpState.SCHEDULED, FollowUpState.HELD, FollowUpState.PAUSED]


@pytest.fixture
def penalty_kind():
    return TicketKind.objects.get(code="driver-penalty-request")


@pytest.fixture
def warn_and_close(penalty_kind):
    return Macro.objects.create(
        name="경고 후 종결",
        kind=penalty_kind,
        outcome="warning",
        to_status=Status.RESOLVED,
        note="1회 경고 안내 완료",
        followup_change=MacroFollowUpChange.NONE,
    )


def test_apply_records_one_macro_event_then_each_change(make_ticket, supervisor, warn_and_close):
    ticket = make_ticket()
    done = macros.macro_apply(ticket, warn_and_close, actor=Actor.for_user(supervisor))
    ticket.refresh_from_db()
    assert ticket.outcome == "warning" and ticket.outcome_reason == "1회 경고 안내 완료"
    assert ticket.status == Status.RESOLVED
    assert done == ["처리 결과: 경고", "상태 → 해결", "메모: 1회 경고 안내 완료"]
    events = list(ticket.events.exclude(type=EventType.CREATED).order_by("at", "id"))
    assert events[0].type == EventType.MACRO
    assert events[0].data["name"] == "경고 후 종결" and events[0].data["macro"] == warn_and_close.pk
    assert events[0].data["changes"] == done
    types = [e.type for e in events[1:]]
    assert EventType.OUTCOME in types and EventType.TRANSITIONED in types
    assert all(e.actor_label == supervisor.username for e in events)


def test_follow_ups_are_changed_before_the_status_closes_them(make_ticket, supervisor, penalty_kind):
    ticket = make_ticket()
    pending = FollowUp.objects.filter(ticket=ticket, state__in=PENDING).count()
    assert pending
    macro = Macro.objects.create(
        name="고객 철회", kind=penalty_kind, to_status=Status.CANCELLED, note="고객이 요청 철회",
        followup_change=MacroFollowUpChange.CANCEL,
    )  # fmt: skip
    macros.macro_apply(ticket, macro, actor=Actor.for_user(supervisor))
    cancelled = ticket.events.filter(type=EventType.FOLLOWUP, data__change="cancelled")
    assert cancelled.count() == pending
    assert all(e.data["reason"] == "[매크로] 고객 철회: 고객이 요청 철회" for e in cancelled)
    ticket.refresh_from_db()
    assert ticket.status == Status.CANCELLED


def test_postpone_moves_pending_follow_ups_by_business_days(make_ticket, supervisor):
    from cstrack import calendar

    ticket = make_ticket()
    before = {fu.pk: fu.due_at for fu in FollowUp.objects.filter(ticket=ticket, state__in=PENDING)}
    macro = Macro.objects.create(
        name="이틀 연기", followup_change=MacroFollowUpChange.POSTPONE, postpone_business_days=2
    )
    macros.macro_apply(ticket, macro, actor=Actor.for_user(supervisor))
    for fu in FollowUp.objects.filter(pk__in=before):
        assert fu.due_at == calendar.add_business_days(before[fu.pk], 2)


def test_one_refused_change_keeps_nothing(make_ticket, supervisor, warn_and_close):
    ticket = make_ticket()
    macros.macro_apply(ticket, warn_and_close, actor=Actor.for_user(supervisor))
    again = make_ticket()
    from tickets.lifecycle import services

    services.ticket_record_outcome(again, outcome="no_action", actor=Actor.for_user(supervisor), reason="x")
    events_before = again.events.count()
    with pytest.raises(Conflict):
        macros.macro_apply(again, warn_and_close, actor=Actor.for_user(supervisor))
    assert again.events.count() == events_before  # not even the macro's own event


def test_permission_checked_per_change(make_ticket, agent, operator, warn_and_close, penalty_kind):
    ticket = make_ticket()
    # An agent may change status but not record an outcome.
    with pytest.raises(PermissionDenied, match="처리 결과"):
        macros.macro_apply(ticket, warn_and_close, actor=Actor.for_user(agent))
    # Operations may record outcomes but not change follow-ups.
    cancel = Macro.objects.create(name="후속 취소", followup_change=MacroFollowUpChange.CANCEL)
    operator.boards.add(*Board.objects.all())
    with pytest.raises(PermissionDenied, match="후속 조치"):
        macros.macro_apply(ticket, cancel, actor=Actor.for_user(operator))
    assert not ticket.events.filter(type=EventType.MACRO).exists()
    # The ticket page lists only what the person may apply.
    assert [m.name for m in macros.macros_usable(ticket, Actor.for_user(operator).has_perm)] == ["경고 후 종결"]
    assert macros.macros_usable(ticket, Actor.for_user(agent).has_perm) == []


def test_macro_for_another_kind_or_board_or_inactive_is_refused(make_ticket, supervisor, penalty_kind):
    ticket = make_ticket()
    other_board = Board.objects.exclude(pk=ticket.board_id).first()
    elsewhere = Macro.objects.create(name="다른 게시판", board=other_board, note="메모")
    with pytest.raises(Conflict, match="쓸 수 없습니다"):
        macros.macro_apply(ticket, elsewhere, actor=Actor.for_user(supervisor))
    off = Macro.objects.create(name="중지됨", note="메모", active=False)
    with pytest.raises(Conflict, match="중지"):
        macros.macro_apply(ticket, off, actor=Actor.for_user(supervisor))
    assert [m.name for m in macros.macros_for(ticket)] == []


def test_admin_validation_of_a_macro(penalty_kind):
    with pytest.raises(ValidationError) as err:
        Macro(name="결과만", outcome="warning").full_clean()
    assert "outcome" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        Macro(name="틀린 결과", kind=penalty_kind, outcome="registered").full_clean()
    assert "경고" in " ".join(err.value.message_dict["outcome"])
    with pytest.raises(ValidationError) as err:
        Macro(name="빈 매크로").full_clean()
    assert "note" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        Macro(name="연기", followup_change=MacroFollowUpChange.POSTPONE).full_clean()
    assert "postpone_business_days" in err.value.message_dict
    Macro(name="좋은 매크로", kind=penalty_kind, outcome="warning").full_clean()
