"""The navigation counts partial: what each role sees, capped, in a bounded number of queries."""

import re

import pytest

from notifications.models import Message
from tickets.models import Board, Ticket

pytestmark = pytest.mark.django_db


def _counts(client):
    body = client.get("/counts/").content.decode()
    return dict(re.findall(r'data-count="(\w+)" data-value="(\d+)"', body)), body


def test_agent_sees_own_call_backs_due(login, agent, callbacks_due):
    callbacks_due(3)
    counts, body = _counts(login(agent))
    assert counts == {"callbacks": "3"}
    assert "건 회신 전화 기한 도래" in body


def test_operations_see_overdue_in_their_boards_only(login, operator, overdue_tickets, make_ticket):
    from cstrack import roles
    from tests.conftest import make_user

    mine = overdue_tickets(2)
    koc = Board.objects.get(code="penalty-koc")
    Ticket.objects.filter(pk=mine[1].pk).update(board=Board.objects.exclude(pk=koc.pk).first())
    koc_only = make_user("ops-koc", roles.OPERATIONS)
    koc_only.boards.add(koc)
    counts, _ = _counts(login(koc_only))
    assert counts == {"overdue": "1"}


def test_supervisor_sees_overdue_dead_letters_and_call_backs(login, supervisor, overdue_tickets, dead_messages):
    overdue_tickets(2)
    dead_messages(1)
    counts, _ = _counts(login(supervisor))
    assert counts == {"callbacks": "0", "overdue": "2", "dead": "1"}


def test_counts_stop_at_the_cap(login, supervisor):
    Message.objects.bulk_create(
        Message(
            idempotency_key=f"cap:{i}", channel="sms", body="b", message_type="SMS", recipient="+821012345678",
            recipient_masked="010-****-5678", state=Message.State.DEAD,
        )
        for i in range(120)
    )  # fmt: skip
    counts, body = _counts(login(supervisor))
    assert counts["dead"] == "100" and ">99+<" in body


def test_counts_need_a_console_role(client):
    from tests.conftest import make_user

    client.force_login(make_user("nobody"))
    assert client.get("/counts/").status_code == 403
    assert client.post("/counts/").status_code in (403, 405)


def test_every_page_offers_the_count_slots(login, supervisor):
    page = login(supervisor).get("/supervisor/").content.decode()
    assert 'data-counts-url="/counts/"' in page
    for name in ("callbacks", "overdue", "dead"):
        assert f'data-count-slot="{name}"' in page
