"""Regressions for the gaps the core suite left open: bulk changes to audit rows, a penalty
request's routing following its details, and a purge removing every personal field."""

import pytest

from cstrack.actors import Actor
from tickets.lifecycle import services
from tickets.models import TicketEvent
from tickets.privacy import contact


@pytest.mark.django_db
def test_audit_rows_refuse_bulk_update_and_delete(make_ticket):
    ticket = make_ticket()
    with pytest.raises(ValueError):
        TicketEvent.objects.filter(ticket=ticket).update(actor_label="someone else")
    with pytest.raises(ValueError):
        TicketEvent.objects.filter(ticket=ticket).delete()
    assert TicketEvent.objects.filter(ticket=ticket, actor_label="someone else").count() == 0


@pytest.mark.django_db
def test_changing_the_penalty_board_in_details_moves_the_ticket(make_ticket, agent):
    ticket = make_ticket()
    assert ticket.board.code == "penalty-koc" and not ticket.driver_blocked
    ticket = services.ticket_update(
        ticket,
        actor=Actor.for_user(agent),
        changes={"details": {"penalty_board": "gwangju_kmcc", "driver_blocked": True}},
    )
    assert ticket.board.code == "penalty-gwangju" and ticket.driver_blocked
    event = ticket.events.order_by("-id").first()
    assert event.data["after"]["board"] == "penalty-gwangju"


@pytest.mark.django_db
def test_purge_removes_delegation_caller_and_masked_contact(make_ticket):
    ticket = make_ticket(
        customer_phone="010-3333-4444",
        consent_basis="third_party_delegated",
        delegation_caller="호출자 김OO",
        delegation_relation="spouse",
    )
    contact.ticket_purge_contact(ticket, actor=Actor(label="test"), reason="test")
    ticket.refresh_from_db()
    assert (ticket.customer_phone, ticket.customer_phone_masked, ticket.delegation_caller) == (None, "", "")
