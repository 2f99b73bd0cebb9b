"""Macros on the ticket page: listed for whoever may apply them, applied in one POST."""

import html

import pytest

from tickets.models import EventType, Macro, Status, TicketKind

pytestmark = pytest.mark.django_db


@pytest.fixture
def macro(db):
    return Macro.objects.create(
        name="경고 후 종결",
        kind=TicketKind.objects.get(code="driver-penalty-request"),
        outcome="warning",
        to_status=Status.RESOLVED,
        note="1회 경고 안내 완료",
    )


def test_operations_apply_a_macro_from_the_ticket_page(login, operator, make_ticket, macro):
    ticket = make_ticket()
    client = login(operator)
    page = client.get(f"/tickets/{ticket.reference}/").content.decode()
    assert "경고 후 종결" in page and "처리 결과: 경고" in page
    response = client.post(f"/tickets/{ticket.reference}/macros/apply/", {"macro": macro.pk}, follow=True)
    body = html.unescape(response.content.decode())
    assert "'경고 후 종결' 매크로를 적용했습니다" in body
    assert "'경고 후 종결' 매크로: 처리 결과: 경고" in body  # the history names the macro
    ticket.refresh_from_db()
    assert ticket.status == Status.RESOLVED
    assert ticket.events.filter(type=EventType.MACRO).count() == 1


def test_agents_see_no_macro_they_cannot_apply_and_are_refused(login, agent, make_ticket, macro):
    ticket = make_ticket()
    client = login(agent)
    assert "경고 후 종결" not in client.get(f"/tickets/{ticket.reference}/").content.decode()
    response = client.post(f"/tickets/{ticket.reference}/macros/apply/", {"macro": macro.pk})
    assert response.status_code == 403
    assert "처리 결과를 기록할 권한이 없습니다" in response.content.decode()
    assert not ticket.events.filter(type=EventType.MACRO).exists()


def test_unknown_macro_and_refused_change_show_next_to_the_card(login, supervisor, make_ticket, macro):
    ticket = make_ticket()
    client = login(supervisor)
    missing = client.post(f"/tickets/{ticket.reference}/macros/apply/", {"macro": "999999"})
    assert missing.status_code == 400 and "매크로를 찾을 수 없습니다" in missing.content.decode()
    assert client.post(f"/tickets/{ticket.reference}/macros/apply/", {"macro": macro.pk}).status_code == 302
    # Applied once: the outcome is recorded and the ticket resolved, so a second time is refused.
    again = client.post(f"/tickets/{ticket.reference}/macros/apply/", {"macro": macro.pk})
    assert again.status_code == 409 and 'class="errors" role="alert"' in again.content.decode()
    assert ticket.events.filter(type=EventType.MACRO).count() == 1


def test_macros_need_a_post(login, supervisor, make_ticket):
    ticket = make_ticket()
    assert login(supervisor).get(f"/tickets/{ticket.reference}/macros/apply/").status_code == 405
