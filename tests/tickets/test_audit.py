"""Every service writes an append-only audit event; personal data in events is masked."""

import json

import pytest
from django.db.models import ProtectedError

from tickets.lifecycle import services
from tickets.models import EventType, Status, TicketEvent
from tickets.privacy import consent, contact

from .conftest import EMAIL, PHONE

pytestmark = pytest.mark.django_db
PLAIN_FORMS = ("01012345678", "1012345678", "1234-5678", "+821012345678")


def _events(ticket, type_=None):
    qs = TicketEvent.objects.filter(ticket=ticket)
    return qs.filter(type=type_) if type_ else qs


def assert_no_plain_contact(event):
    text = json.dumps(event.data, ensure_ascii=False)
    for plain in (*PLAIN_FORMS, EMAIL):
        assert plain not in text, (event.type, text)


def test_create_writes_created_and_consent_events(make_ticket, actor):
    ticket = make_ticket(customer_phone=PHONE, consent_basis="newly_collected", customer_email=EMAIL)
    created = _events(ticket, EventType.CREATED).get()
    assert created.actor == actor.user and created.actor_label == "agent1"
    assert created.data["customer_phone"] == "010-****-5678"
    assert created.data["kind"] == "driver-penalty-request" and created.data["status"] == "received"
    consent = _events(ticket, EventType.CONSENT).get()
    assert consent.data["basis"] == "newly_collected"
    for event in _events(ticket):
        assert_no_plain_contact(event)


def test_update_records_before_and_after(make_ticket, actor):
    ticket = make_ticket()
    ticket = services.ticket_update(
        ticket,
        actor=actor,
        changes={"priority": "urgent", "details": {"description": "추가 확인: 기사 연락 두절"}, "call_id": "C-9"},
        expected_version=ticket.version,
    )
    event = _events(ticket, EventType.UPDATED).get()
    assert event.data["before"] == {
        "priority": "normal",
        "details.description": "배정 후 연락 없이 취소됨",
        "call_id": "",
    }
    assert event.data["after"] == {
        "priority": "urgent",
        "details.description": "추가 확인: 기사 연락 두절",
        "call_id": "C-9",
    }
    # Nothing changed: no event, no version bump.
    version = ticket.version
    services.ticket_update(ticket, actor=actor, changes={"priority": "urgent"})
    assert _events(ticket, EventType.UPDATED).count() == 1
    assert ticket.__class__.objects.get(pk=ticket.pk).version == version


def test_update_of_personal_detail_is_masked(create, actor):
    ticket = create("pet-partnership-inquiry")
    services.ticket_update(ticket, actor=actor, changes={"details": {"contact_phone": "010-2222-3333"}})
    event = _events(ticket, EventType.UPDATED).get()
    assert event.data["before"]["details.contact_phone"] == "***"
    assert event.data["after"]["details.contact_phone"] == "***"
    assert "2222" not in json.dumps(event.data) and "5678" not in json.dumps(event.data)


def test_transition_outcome_assignment_events(make_ticket, actor, operator, operator_actor):
    ticket = make_ticket()
    services.ticket_transition(ticket, to_status=Status.IN_PROGRESS, actor=actor, note="확인 시작")
    services.ticket_record_outcome(ticket, outcome="warning", actor=operator_actor)
    services.ticket_assign(ticket, actor=operator_actor, assignee=operator)
    transitions = [e.data for e in _events(ticket, EventType.TRANSITIONED)]
    assert transitions == [
        {"from": "received", "to": "in_progress", "note": "확인 시작"},
        {"from": "in_progress", "to": "action_taken", "note": "결과 기록"},
    ]
    outcome = _events(ticket, EventType.OUTCOME).get()
    assert outcome.actor == operator and outcome.data["outcome"] == "warning"
    assigned = _events(ticket, EventType.ASSIGNED).get()
    assert assigned.data == {
        "before": {"assignee": None, "board": "penalty-koc"},
        "after": {"assignee": "ops1", "board": "penalty-koc"},
    }


def test_consent_and_reveal_events(make_ticket, actor, operator_actor):
    ticket = make_ticket()
    consent.ticket_record_consent(ticket, actor=actor, basis="newly_collected", customer_phone=PHONE)
    consent_event = _events(ticket, EventType.CONSENT).get()
    assert consent_event.data["customer_phone"] == "010-****-5678"
    assert consent_event.data["before"]["basis"] == "" and consent_event.data["before"]["customer_phone"] == ""
    assert consent_event.data["after"]["basis"] == "newly_collected" and consent_event.data["after"][
        "customer_phone"
    ] == ("010-****-5678")
    assert_no_plain_contact(consent_event)
    revealed = contact.ticket_reveal_contact(ticket, actor=operator_actor, reason="회신 전화")
    assert revealed["customer_phone"] == "+821012345678"
    event = _events(ticket, EventType.CONTACT_REVEALED).get()
    assert event.data == {"reason": "회신 전화"} and event.actor == operator_actor.user


def test_withdraw_and_recontact_events(make_ticket, actor):
    ticket = make_ticket(customer_phone=PHONE, consent_basis="newly_collected")
    consent.ticket_withdraw_consent(ticket, actor=actor, note="고객 요청")
    services.ticket_log_recontact(ticket, actor=actor, note="결과 문의")
    assert _events(ticket, EventType.CONSENT_WITHDRAWN).get().data == {"note": "고객 요청"}
    assert "promised_by" in _events(ticket, EventType.RECONTACT).get().data


def test_events_are_append_only(make_ticket):
    ticket = make_ticket()
    event = _events(ticket).first()
    event.data = {"tampered": True}
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()
    assert TicketEvent.objects.get(pk=event.pk).data != {"tampered": True}
    with pytest.raises(ProtectedError):
        ticket.delete()
