"""Bulk work from the queues, through the console views."""

from datetime import datetime

import pytest
import time_machine

from cstrack import calendar
from notifications.models import Message
from tickets.models import EventType, FollowUp, FollowUpState

pytestmark = pytest.mark.django_db


def test_supervisor_reassigns_ten_tickets_in_one_post(login, supervisor, operator, overdue_tickets):
    tickets = overdue_tickets(10)
    client = login(supervisor)
    queue = client.get("/supervisor/").content.decode()
    assert queue.count('name="ticket"') == 10 and 'id="bulk-form"' in queue
    response = client.post(
        "/bulk/tickets/",
        {
            "ticket": [t.reference for t in tickets],
            "operation": "assign",
            "assignee": operator.pk,
            "reason": "휴가 대체",
            "next": "/supervisor/",
        },
        follow=True,
    )
    assert response.redirect_chain == [("/supervisor/", 302)]
    body = response.content.decode()
    assert "10건을 처리했습니다." in body
    for t in tickets:
        t.refresh_from_db()
        assert t.assignee == operator
        assert t.events.filter(type=EventType.ASSIGNED, data__note="휴가 대체").count() == 1


def test_refused_tickets_are_reported_with_the_reason(login, supervisor, make_ticket):
    ticket = make_ticket()
    client = login(supervisor)
    response = client.post(
        "/bulk/tickets/",
        {"ticket": [ticket.reference, "CS-19990101-0001"], "operation": "cancel", "reason": "중복"},
        follow=True,
    )
    body = response.content.decode()
    assert "1건을 처리했습니다." in body
    assert "1건은 처리하지 못했습니다: 티켓을 찾을 수 없거나 볼 수 없습니다. — CS-19990101-0001" in body


def test_missing_reason_shows_the_selection_again_with_the_error(login, supervisor, make_ticket):
    a, b = make_ticket(), make_ticket()
    client = login(supervisor)
    response = client.post("/bulk/tickets/", {"ticket": [a.reference, b.reference], "operation": "assign"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "일괄 처리 사유를 입력해 주세요" in body
    assert body.count("checked") >= 2 and a.reference in body and b.reference in body
    assert not a.events.filter(type=EventType.ASSIGNED).exists()


@time_machine.travel(datetime(2026, 11, 25, 12, 0, tzinfo=calendar.KST), tick=False)
def test_bulk_reschedule_into_a_saturday_night_asks_first(login, supervisor, make_ticket):
    ticket = make_ticket()
    client = login(supervisor)
    form = {"ticket": [ticket.reference], "operation": "reschedule", "due_at": "2026-11-28T23:30", "reason": "연기"}
    asked = client.post("/bulk/tickets/", form)
    assert asked.status_code == 200
    body = asked.content.decode()
    assert "야간 시간대" in body and "휴무일" in body and 'name="confirmed"' in body
    assert not ticket.events.filter(type=EventType.FOLLOWUP, data__change="rescheduled").exists()

    client.post("/bulk/tickets/", {**form, "confirmed": "1"})
    moved = ticket.events.filter(type=EventType.FOLLOWUP, data__change="rescheduled")
    assert moved.exists() and all(len(e.data["acknowledged"]) == 2 for e in moved)


def test_operations_staff_get_no_follow_up_operations(login, operator, make_ticket):
    ticket = make_ticket()
    client = login(operator)
    queue = client.get("/ops/?board=penalty-koc").content.decode()
    assert 'value="assign"' in queue and 'value="reschedule"' not in queue
    response = client.post(
        "/bulk/tickets/",
        {"ticket": [ticket.reference], "operation": "cancel", "reason": "x"},
        follow=True,
    )
    assert "권한" in response.content.decode()
    assert FollowUp.objects.filter(ticket=ticket, state=FollowUpState.CANCELLED).count() == 0


def test_agents_cannot_retry_messages(login, agent, dead_messages):
    dead = dead_messages(1)
    assert login(agent).post("/bulk/messages/", {"message": [dead[0].pk], "reason": "x"}).status_code == 403


def test_supervisor_retries_dead_letters_in_bulk(login, supervisor, dead_messages):
    dead = dead_messages(3)
    client = login(supervisor)
    page = client.get("/supervisor/messages/").content.decode()
    assert page.count('name="message"') == 3
    response = client.post(
        "/bulk/messages/", {"message": [m.pk for m in dead[:2]], "reason": "발송사 복구"}, follow=True
    )
    assert "2건을 다시 발송 대기열에 넣었습니다." in response.content.decode()
    states = dict(Message.objects.values_list("pk", "state"))
    assert states[dead[0].pk] == states[dead[1].pk] == Message.State.PENDING
    assert states[dead[2].pk] == Message.State.DEAD

    missing = client.post("/bulk/messages/", {"message": [dead[2].pk], "reason": ""})
    assert missing.status_code == 400 and "사유" in missing.content.decode()


def test_bulk_posts_only(login, supervisor):
    assert login(supervisor).get("/bulk/tickets/").status_code == 405
