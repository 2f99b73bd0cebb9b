"""Edge cases found while reading the services: each of these failed before its fix."""

from datetime import timedelta

import pytest

from cstrack.errors import Conflict, DomainValidationError, StaleVersion
from tickets.lifecycle import services
from tickets.models import Action, EventType, FollowUp, FollowUpState, Status, Ticket, TicketEvent
from tickets.privacy import consent

from .conftest import PHONE, at, kst

pytestmark = pytest.mark.django_db


def test_followup_created_while_waiting_shifts_only_by_its_own_paused_time(create, actor):
    """A customer calls again while we wait on them: the duties scheduled then were paused for
    less time than the ticket, and must move by that, not by the whole wait."""
    with at(2026, 11, 23, 10, 0):  # Monday
        ticket = create("pet-cs-inquiry")
        services.ticket_transition(ticket, to_status=Status.WAITING_CUSTOMER, actor=actor)
    with at(2026, 11, 25, 10, 0):  # Wednesday: re-contact while waiting
        services.ticket_log_recontact(ticket, actor=actor, note="재문의")
    rows = FollowUp.objects.filter(ticket=ticket)
    assert set(rows.values_list("state", flat=True)) == {FollowUpState.PAUSED}
    before = {f.pk: f.due_at for f in rows}
    assert before[rows.get(action=Action.REMIND_OWNER).pk] == kst(2026, 11, 26, 9, 0)
    with at(2026, 11, 26, 10, 0):  # Thursday: resume, one day after the re-contact
        services.ticket_transition(ticket, to_status=Status.IN_PROGRESS, actor=actor)
    after = {f.pk: f.due_at for f in FollowUp.objects.filter(ticket=ticket)}
    assert {pk: after[pk] - before[pk] for pk in before} == {pk: timedelta(days=1) for pk in before}


def test_update_cannot_blank_a_required_reference(make_ticket, actor):
    ticket = make_ticket()
    with pytest.raises(DomainValidationError) as exc:
        services.ticket_update(ticket, actor=actor, changes={"driver_id": "  "})
    assert list(exc.value.field_errors) == ["driver_id"]
    assert Ticket.objects.get(pk=ticket.pk).driver_id == "DRV-100"
    assert not TicketEvent.objects.filter(ticket=ticket, type=EventType.UPDATED).exists()


@pytest.mark.parametrize(("field", "value"), [("driver_id", "D" * 65), ("call_id", "C" * 65), ("title", "T" * 201)])
def test_update_too_long_is_a_field_error(make_ticket, actor, field, value):
    ticket = make_ticket()
    with pytest.raises(DomainValidationError) as exc:
        services.ticket_update(ticket, actor=actor, changes={field: value})
    assert list(exc.value.field_errors) == [field]


def test_update_strips_references(make_ticket, actor):
    ticket = services.ticket_update(make_ticket(), actor=actor, changes={"call_id": "  CALL-7 "})
    assert Ticket.objects.get(pk=ticket.pk).call_id == "CALL-7"


def test_update_with_stale_version(make_ticket, actor):
    ticket = make_ticket()
    services.ticket_update(ticket, actor=actor, changes={"priority": "urgent"})
    with pytest.raises(StaleVersion):
        services.ticket_update(ticket, actor=actor, changes={"priority": "normal"}, expected_version=ticket.version)


@pytest.mark.parametrize(("field", "value"), [("priority", "top"), ("channel", "pigeon"), ("requester_type", "x")])
def test_update_bad_choice(make_ticket, actor, field, value):
    ticket = make_ticket()
    with pytest.raises(DomainValidationError) as exc:
        services.ticket_update(ticket, actor=actor, changes={field: value})
    assert list(exc.value.field_errors) == [field]


def test_update_unknown_field(make_ticket, actor):
    with pytest.raises(DomainValidationError) as exc:
        services.ticket_update(make_ticket(), actor=actor, changes={"status": "closed", "outcome": "warning"})
    assert set(exc.value.field_errors) == {"status", "outcome"}


def test_verify_only_refused_while_contact_is_stored(make_ticket, actor):
    ticket = make_ticket(customer_phone=PHONE, consent_basis="newly_collected")
    with pytest.raises(Conflict) as exc:  # the ticket's state, not the request: 409
        consent.ticket_record_consent(ticket, actor=actor, basis="verify_only")
    assert exc.value.code == "personal_data_stored"
    with pytest.raises(DomainValidationError) as exc:  # the request's own contact: 400
        consent.ticket_record_consent(ticket, actor=actor, basis="verify_only", customer_phone=PHONE)
    assert list(exc.value.field_errors) == ["consent_basis"]
    with pytest.raises(Conflict) as exc:
        consent.ticket_record_consent(ticket, actor=actor, basis="existing_member")
    assert exc.value.code == "member_id_required"
    assert Ticket.objects.get(pk=ticket.pk).consent_basis == "newly_collected"


def test_record_consent_later_stores_masked_contact(make_ticket, actor):
    ticket = consent.ticket_record_consent(
        make_ticket(), actor=actor, basis="newly_collected", customer_phone="+82 10 1234 5678"
    )
    stored = Ticket.objects.get(pk=ticket.pk)
    assert (stored.customer_phone, stored.customer_phone_masked) == ("+821012345678", "010-****-5678")


def test_partnership_contact_purged_on_close(create, actor):
    ticket = create("pet-partnership-inquiry")
    for status in (Status.IN_PROGRESS, Status.RESOLVED, Status.CLOSED):
        ticket = services.ticket_transition(ticket, to_status=status, actor=actor)
    stored = Ticket.objects.get(pk=ticket.pk)
    assert stored.sensitive_details == {} and stored.contact_purged_at is not None
    assert TicketEvent.objects.get(ticket=ticket, type=EventType.PURGED).data["fields"] == [
        "contact_phone",
        "inquirer_name",
    ]
