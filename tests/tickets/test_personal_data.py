"""Personal data: normalised, encrypted at rest, never plain in any text column; key rotation;
consent bases; reveal with permission, reason and a rate limit."""

import pytest
import time_machine
from cryptography.fernet import Fernet
from django.db import connection
from django.test import override_settings

from cstrack import pii
from cstrack.errors import Conflict, DomainValidationError, PermissionDenied
from tickets.followups import dispatcher
from tickets.lifecycle import services
from tickets.models import EventType, Ticket, TicketEvent
from tickets.privacy import consent, contact, reveals

from .conftest import EMAIL, PHONE, VALID, kst

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("raw", ["010-1234-5678", "01012345678", "+82 10 1234 5678", "+821012345678", "010 1234 5678"])
def test_phone_normalised_to_e164(make_ticket, raw):
    ticket = make_ticket(customer_phone=raw, consent_basis="newly_collected")
    stored = Ticket.objects.get(pk=ticket.pk)
    assert stored.customer_phone == "+821012345678"
    assert stored.customer_phone_masked == "010-****-5678"
    assert stored.customer_phone_hash == pii.phone_index(PHONE)


@pytest.mark.parametrize("raw", ["010-1234", "12345", "phone", "+1 555"])
def test_invalid_phone_is_a_field_error(make_ticket, raw):
    with pytest.raises(DomainValidationError) as exc:
        make_ticket(customer_phone=raw, consent_basis="newly_collected")
    assert list(exc.value.field_errors) == ["customer_phone"]
    assert not Ticket.objects.exists()


def test_invalid_email_is_a_field_error(make_ticket):
    with pytest.raises(DomainValidationError) as exc:
        make_ticket(customer_email="not-an-email", consent_basis="newly_collected")
    assert list(exc.value.field_errors) == ["customer_email"]


def _rows(table):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 - fixed table names
        return [" | ".join(str(v) for v in row) for row in cursor.fetchall()]


def test_nothing_plain_in_any_text_column(create, actor, operator_actor):
    ticket = create(
        "mate-sales-statement",
        details={**VALID["mate-sales-statement"][0], "email": EMAIL},
        customer_phone=PHONE,
        customer_email=EMAIL,
    )
    services.ticket_update(ticket, actor=actor, changes={"title": "매출내역 요청", "details": {"email": "x" + EMAIL}})
    consent.ticket_record_consent(ticket, actor=actor, basis="newly_collected", customer_phone="01012345678")
    contact.ticket_reveal_contact(ticket, actor=operator_actor, reason="회신")
    services.ticket_log_recontact(ticket, actor=actor, note="재문의")

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT customer_phone, customer_email, sensitive_details FROM tickets_ticket WHERE id = %s", [ticket.pk]
        )
        phone_col, email_col, sensitive_col = cursor.fetchone()
    assert phone_col and "5678" not in phone_col
    assert pii.decrypt(phone_col) == "+821012345678"
    assert pii.decrypt(email_col) == EMAIL
    assert "@" not in sensitive_col

    rows = _rows("tickets_ticket") + _rows("tickets_ticketevent")
    assert len(rows) > 5
    for row in rows:
        for needle in ("01012345678", "1012345678", "1234-5678", EMAIL, "x" + EMAIL):
            assert needle not in row, needle
    # The service still sees the plain values.
    stored = Ticket.objects.get(pk=ticket.pk)
    assert stored.sensitive_details == {"email": "x" + EMAIL}
    assert stored.customer_email_masked == "ho**********@example.com"


def test_key_rotation():
    key_a, key_b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with override_settings(PII_ENCRYPTION_KEYS=[key_a]):
        ticket = services.ticket_create(
            kind="pet-cs-inquiry",
            details=VALID["pet-cs-inquiry"][0],
            customer_phone=PHONE,
            consent_basis="newly_collected",
        )
    with connection.cursor() as cursor:
        cursor.execute("SELECT customer_phone FROM tickets_ticket WHERE id = %s", [ticket.pk])
        token_a = cursor.fetchone()[0]

    with override_settings(PII_ENCRYPTION_KEYS=[key_b]), pytest.raises(ValueError):  # old key gone: unreadable
        pii.decrypt(token_a)
    with override_settings(PII_ENCRYPTION_KEYS=[key_b, key_a]):  # new key first, old still decrypts
        assert Ticket.objects.get(pk=ticket.pk).customer_phone == "+821012345678"
        token_b = pii.rotate(token_a)
        assert token_b != token_a
        with connection.cursor() as cursor:
            cursor.execute("UPDATE tickets_ticket SET customer_phone = %s WHERE id = %s", [token_b, ticket.pk])
        # Newly written values use the first key.
        fresh = pii.encrypt("+821099998888")
    with override_settings(PII_ENCRYPTION_KEYS=[key_b]):
        assert Ticket.objects.get(pk=ticket.pk).customer_phone == "+821012345678"
        assert pii.decrypt(fresh) == "+821099998888"
    with override_settings(PII_ENCRYPTION_KEYS=[key_a]), pytest.raises(ValueError):
        pii.decrypt(token_b)


# --- Consent -----------------------------------------------------------------------------------


def test_phone_without_consent_basis_refused(make_ticket):
    with pytest.raises(DomainValidationError) as exc:
        make_ticket(customer_phone=PHONE)
    assert list(exc.value.field_errors) == ["consent_basis"]


def test_personal_details_without_consent_basis_refused(create):
    with pytest.raises(DomainValidationError) as exc:
        create("pet-partnership-inquiry", consent_basis="")
    assert list(exc.value.field_errors) == ["consent_basis"]


def test_verify_only_cannot_store(make_ticket, create):
    with pytest.raises(DomainValidationError) as exc:
        make_ticket(customer_phone=PHONE, consent_basis="verify_only")
    assert list(exc.value.field_errors) == ["consent_basis"]
    with pytest.raises(DomainValidationError):
        create("pet-partnership-inquiry", consent_basis="verify_only")
    ticket = make_ticket(consent_basis="verify_only", identity_verified=True)
    stored = Ticket.objects.get(pk=ticket.pk)
    assert (stored.consent_basis, stored.customer_phone, stored.identity_verified) == ("verify_only", None, True)


def test_unknown_basis_refused(make_ticket):
    with pytest.raises(DomainValidationError) as exc:
        make_ticket(customer_phone=PHONE, consent_basis="because")
    assert list(exc.value.field_errors) == ["consent_basis"]


@pytest.mark.parametrize(("caller", "relation"), [("", ""), ("김호출", ""), ("", "spouse")])
def test_third_party_needs_caller_and_relation(make_ticket, caller, relation):
    with pytest.raises(DomainValidationError) as exc:
        make_ticket(
            customer_phone=PHONE,
            consent_basis="third_party_delegated",
            delegation_caller=caller,
            delegation_relation=relation,
        )
    assert list(exc.value.field_errors) == ["delegation_relation"]


def test_third_party_recorded(make_ticket, actor):
    ticket = make_ticket(
        customer_phone=PHONE,
        consent_basis="third_party_delegated",
        delegation_caller="김호출",
        delegation_relation="spouse",
    )
    stored = Ticket.objects.get(pk=ticket.pk)
    assert (stored.delegation_caller, stored.delegation_relation) == ("김호출", "spouse")
    assert stored.consent_recorded_by == actor.user and stored.consent_recorded_at is not None
    assert TicketEvent.objects.get(ticket=ticket, type=EventType.CONSENT).data["relation"] == "spouse"


def test_third_party_texts_longer_than_their_columns_refused(make_ticket):
    with pytest.raises(DomainValidationError) as exc:
        make_ticket(
            customer_phone=PHONE,
            consent_basis="third_party_delegated",
            delegation_caller="김" * 101,
            delegation_relation="배우자" * 11,
        )
    assert sorted(exc.value.field_errors) == ["delegation_caller", "delegation_relation"]
    assert not Ticket.objects.exists()


def test_existing_member_needs_member_id(make_ticket):
    with pytest.raises(DomainValidationError) as exc:
        make_ticket(customer_phone=PHONE, consent_basis="existing_member")
    assert list(exc.value.field_errors) == ["member_id"]
    assert make_ticket(customer_phone=PHONE, consent_basis="existing_member", member_id="M-1").consent_basis == (
        "existing_member"
    )


def test_compensation_to_other_number_needs_the_number(create):
    details = {**VALID["driver-compensation-demand"][0], "callback_number": "other"}
    with pytest.raises(DomainValidationError) as exc:
        create("driver-compensation-demand", details=details)
    assert list(exc.value.field_errors) == ["customer_phone"]
    ticket = create(
        "driver-compensation-demand", details=details, customer_phone="010-5555-6666", consent_basis="newly_collected"
    )
    assert ticket.customer_phone == "+821055556666"


# --- Reveal ------------------------------------------------------------------------------------


@pytest.fixture
def contact_ticket(make_ticket):
    return make_ticket(customer_phone=PHONE, customer_email=EMAIL, consent_basis="newly_collected")


def test_agent_cannot_reveal(contact_ticket, actor):
    with pytest.raises(PermissionDenied):
        contact.ticket_reveal_contact(contact_ticket, actor=actor, reason="궁금")
    assert not TicketEvent.objects.filter(type=EventType.CONTACT_REVEALED).exists()


def test_operator_reveals_with_reason(contact_ticket, operator_actor):
    with pytest.raises(DomainValidationError) as exc:
        contact.ticket_reveal_contact(contact_ticket, actor=operator_actor, reason="  ")
    assert list(exc.value.field_errors) == ["reason"]
    revealed = contact.ticket_reveal_contact(contact_ticket, actor=operator_actor, reason="회신 전화")
    assert revealed["customer_phone"] == "+821012345678" and revealed["customer_email"] == EMAIL
    assert TicketEvent.objects.filter(type=EventType.CONTACT_REVEALED).count() == 1


def test_reveal_is_rate_limited(contact_ticket, operator_actor, supervisor_actor):
    start = kst(2026, 11, 23, 10, 0)
    with time_machine.travel(start, tick=False) as clock:
        for _ in range(reveals.REVEALS_PER_HOUR):
            contact.ticket_reveal_contact(contact_ticket, actor=operator_actor, reason="확인")
        with pytest.raises(Conflict) as exc:
            contact.ticket_reveal_contact(contact_ticket, actor=operator_actor, reason="확인")
        assert exc.value.code == "reveal_rate_limited"
        # Another user is not limited by this one's reveals.
        contact.ticket_reveal_contact(contact_ticket, actor=supervisor_actor, reason="확인")
        clock.shift(3601)
        assert contact.ticket_reveal_contact(contact_ticket, actor=operator_actor, reason="확인")["customer_phone"]
    assert TicketEvent.objects.filter(type=EventType.CONTACT_REVEALED).count() == reveals.REVEALS_PER_HOUR + 2


def test_purged_contact_cannot_be_revealed(contact_ticket, operator_actor):
    contact.ticket_purge_contact(contact_ticket, actor=operator_actor, reason="보관 기간 만료")
    stored = Ticket.objects.get(pk=contact_ticket.pk)
    assert stored.customer_phone is None and stored.customer_email is None and stored.contact_purged_at
    with pytest.raises(Conflict):
        contact.ticket_reveal_contact(contact_ticket, actor=operator_actor, reason="확인")
    event = TicketEvent.objects.get(ticket=contact_ticket, type=EventType.PURGED)
    assert event.data["fields"] == ["customer_phone", "customer_email"]


class TestThirdPartyContactNeedsADelegationRecord:
    """A ticket whose own contact is a third party: that number is revealed or messaged only
    while a delegation record (seed 004) names it."""

    @pytest.fixture
    def spouse_ticket(self, make_ticket):
        return make_ticket(
            customer_phone="010-3333-4444",
            consent_basis="third_party_delegated",
            delegation_caller="호출자 본인(회원)",
            delegation_relation="spouse",
        )

    def _record(self, ticket, actor, phone):
        from tickets.privacy import delegation

        return delegation.delegation_record(
            ticket,
            actor=actor,
            relation="spouse",
            case="spouse_accident_or_rm",
            caller="호출자 본인(회원)",
            third_party_phone=phone,
            third_party_is_member=True,
        )

    def test_reveal_is_refused_until_a_record_names_the_number(self, spouse_ticket, operator_actor):
        with pytest.raises(Conflict) as exc:
            contact.ticket_reveal_contact(spouse_ticket, actor=operator_actor, reason="회신 전화")
        assert exc.value.code == "delegation_required"
        self._record(spouse_ticket, operator_actor, "010-9999-0000")  # another number: not enough
        with pytest.raises(Conflict):
            contact.ticket_reveal_contact(spouse_ticket, actor=operator_actor, reason="회신 전화")
        record = self._record(spouse_ticket, operator_actor, "010-3333-4444")
        revealed = contact.ticket_reveal_contact(spouse_ticket, actor=operator_actor, reason="회신 전화")
        assert revealed["customer_phone"] == "+821033334444"
        from tickets.privacy import delegation

        delegation.delegation_revoke(record, actor=operator_actor, note="철회")
        with pytest.raises(Conflict):
            contact.ticket_reveal_contact(spouse_ticket, actor=operator_actor, reason="회신 전화")

    def test_customer_messages_are_skipped_without_a_record(self, spouse_ticket):
        from notifications.models import Message
        from tickets.models import FollowUp, FollowUpPolicy, FollowUpState

        template = FollowUpPolicy.objects.filter(action="customer_message", template__channel="sms").first().template
        policy = FollowUpPolicy.objects.create(
            code="test-sms-now", name="시험", trigger="ticket_received", action="customer_message",
            template=template, timing="immediate",
        )  # fmt: skip
        fu = FollowUp.objects.create(
            ticket=spouse_ticket,
            policy=policy,
            action="customer_message",
            due_at=spouse_ticket.received_at,
            dedupe_key=f"test:{spouse_ticket.pk}",
        )
        dispatcher.dispatch_due()
        fu.refresh_from_db()
        assert fu.state == FollowUpState.SKIPPED and "위임" in fu.reason
        assert not Message.objects.filter(channel="sms").exists()

    def test_a_member_contact_needs_no_record(self, make_ticket, operator_actor):
        ticket = make_ticket(customer_phone=PHONE, consent_basis="existing_member", member_id="M-1")
        assert contact.ticket_reveal_contact(ticket, actor=operator_actor, reason="회신")["customer_phone"]
