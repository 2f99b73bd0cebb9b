"""Third-party delegation (seed 004): recorded with caller, relation, case, time and agent; a
non-member third party needs consent; the number is reachable only through an active record,
for a permitted role, with a reason, audited; the purge removes it."""

import pytest
from django.db import IntegrityError, connection, transaction

from cstrack import pii
from cstrack.actors import Actor
from cstrack.errors import Conflict, DomainValidationError, NotFound, PermissionDenied
from tickets.lifecycle import services
from tickets.models import DelegationCase, DelegationRelation, EventType, Status, ThirdPartyDelegation
from tickets.privacy import contact, delegation, reveals

pytestmark = pytest.mark.django_db

SPOUSE = "010-3141-5926"


def _record(ticket, actor, **overrides):
    kwargs = {
        "actor": actor,
        "relation": DelegationRelation.SPOUSE,
        "case": DelegationCase.SPOUSE_ACCIDENT_OR_RM,
        "caller": "호출자 본인(회원)",
        "third_party_phone": SPOUSE,
        "third_party_is_member": False,
        "third_party_consented": True,
    }
    kwargs.update(overrides)
    return delegation.delegation_record(ticket, **kwargs)


@pytest.fixture
def ticket(make_ticket):
    return make_ticket(member_id="M-77", consent_basis="existing_member")


def test_recorded_with_caller_relation_case_time_agent_and_audited_masked(ticket, agent):
    d = _record(ticket, Actor.for_user(agent))
    d.refresh_from_db()
    assert (d.caller, d.relation, d.case) == ("호출자 본인(회원)", "spouse", "spouse_accident_or_rm")
    assert d.recorded_by == agent and d.recorded_at and d.third_party_consent_at and d.is_active
    assert d.third_party_phone == "+821031415926"
    assert d.third_party_phone_masked == "010-****-5926"
    assert d.third_party_phone_hash == pii.phone_index(SPOUSE)
    event = ticket.events.get(type=EventType.CONSENT, data__delegation=d.pk)
    assert event.data["third_party_phone"] == "010-****-5926"
    assert event.data["relation"] == "spouse" and event.data["case"] == "spouse_accident_or_rm"
    assert event.actor == agent
    with connection.cursor() as cursor:
        cursor.execute("SELECT third_party_phone FROM tickets_thirdpartydelegation WHERE id = %s", [d.pk])
        raw = cursor.fetchone()[0]
    assert "31415926" not in raw and pii.decrypt(raw) == "+821031415926"


def test_non_member_without_consent_is_refused(ticket, actor):
    with pytest.raises(DomainValidationError) as exc:
        _record(ticket, actor, third_party_consented=False)
    assert "third_party_consented" in exc.value.field_errors
    assert not ThirdPartyDelegation.objects.exists()


def test_member_needs_no_consent(ticket, actor):
    d = _record(
        ticket,
        actor,
        third_party_is_member=True,
        third_party_consented=False,
        relation=DelegationRelation.PASSENGER,
        case=DelegationCase.CALLER_NOT_PASSENGER_FARE,
    )
    assert d.third_party_consent_at is None and d.is_active


def test_the_database_refuses_a_non_member_without_consent(ticket, actor):
    d = _record(ticket, actor)
    with pytest.raises(IntegrityError), transaction.atomic():
        ThirdPartyDelegation.objects.filter(pk=d.pk).update(third_party_consent_at=None)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"relation": "neighbour"}, "relation"),
        ({"case": "case9"}, "case"),
        ({"caller": ""}, "caller"),
        ({"caller": "호출자 010-9999-8888"}, "caller"),
        ({"caller": "a" * 101}, "caller"),
        ({"third_party_phone": ""}, "third_party_phone"),
        ({"third_party_phone": "12345"}, "third_party_phone"),
    ],
)
def test_bad_input_is_a_field_error(ticket, actor, overrides, field):
    with pytest.raises(DomainValidationError) as exc:
        _record(ticket, actor, **overrides)
    assert field in exc.value.field_errors


def test_every_case_of_seed_004_can_be_recorded(ticket, actor):
    for case in DelegationCase.values:
        _record(ticket, actor, case=case)
    assert ticket.delegations.count() == 4


def test_closed_ticket_refuses_a_new_delegation(ticket, actor):
    services.ticket_transition(ticket, to_status=Status.CANCELLED, actor=actor)
    with pytest.raises(Conflict):
        _record(ticket, actor)


def test_number_only_through_an_active_record_for_a_permitted_role_with_a_reason(ticket, actor, operator):
    d = _record(ticket, actor)
    ops = Actor.for_user(operator)
    with pytest.raises(PermissionDenied):
        delegation.delegation_contact_number(ticket, d, actor=actor, reason="통화")
    with pytest.raises(DomainValidationError):
        delegation.delegation_contact_number(ticket, d, actor=ops, reason=" ")
    assert delegation.delegation_contact_number(ticket, d, actor=ops, reason="사고 처리 통화") == "+821031415926"
    event = ticket.events.filter(type=EventType.CONTACT_REVEALED).get()
    assert event.data == {"reason": "사고 처리 통화", "delegation": d.pk, "third_party_phone": "010-****-5926"}
    assert event.actor == operator

    delegation.delegation_revoke(d, actor=actor, note="호출자가 위임 철회")
    with pytest.raises(Conflict) as exc:
        delegation.delegation_contact_number(ticket, d, actor=ops, reason="다시 통화")
    assert exc.value.code == "delegation_revoked"
    assert ticket.events.filter(type=EventType.CONSENT_WITHDRAWN, data__delegation=d.pk).exists()


def test_a_record_of_another_ticket_does_not_open_this_one(ticket, make_ticket, actor, operator):
    other = make_ticket(member_id="M-78", consent_basis="existing_member")
    d = _record(other, actor)
    with pytest.raises(NotFound):
        delegation.delegation_contact_number(ticket, d, actor=Actor.for_user(operator), reason="통화")
    with pytest.raises(NotFound):
        delegation.delegation_get(ticket, d.pk)


def test_third_party_reveals_share_the_reveal_rate_limit(ticket, actor, operator, monkeypatch):
    monkeypatch.setattr(reveals, "REVEALS_PER_HOUR", 2)
    d = _record(ticket, actor)
    ops = Actor.for_user(operator)
    delegation.delegation_contact_number(ticket, d, actor=ops, reason="1")
    delegation.delegation_contact_number(ticket, d, actor=ops, reason="2")
    with pytest.raises(Conflict) as exc:
        delegation.delegation_contact_number(ticket, d, actor=ops, reason="3")
    assert exc.value.code == "reveal_rate_limited"


def test_purge_removes_third_party_numbers_and_keeps_the_record(ticket, actor, operator):
    d = _record(ticket, actor)
    contact.ticket_purge_contact(ticket, actor=actor, reason="시험")
    d.refresh_from_db()
    assert d.third_party_phone is None and d.third_party_phone_hash == "" and d.third_party_phone_masked == ""
    assert d.caller == "" and d.revoked_at and not d.is_active
    assert (d.relation, d.case) == ("spouse", "spouse_accident_or_rm")
    purge = ticket.events.get(type=EventType.PURGED)
    assert "third_party_phone" in purge.data["fields"]
    with pytest.raises(Conflict):
        delegation.delegation_contact_number(ticket, d, actor=Actor.for_user(operator), reason="통화")
    with connection.cursor() as cursor:
        cursor.execute("SELECT third_party_phone FROM tickets_thirdpartydelegation WHERE id = %s", [d.pk])
        assert cursor.fetchone()[0] is None
