"""Consent and contact: the basis on which a ticket holds personal data, the contact itself
(normalised, encrypted, indexed by keyed hash, masked), and its withdrawal."""

from django.db import transaction

from cstrack import calendar, pii
from cstrack.actors import Actor
from cstrack.errors import Conflict, DomainValidationError
from tickets import audit
from tickets.access.policy import ensure
from tickets.followups import scheduling as followups
from tickets.locking import locked_ticket
from tickets.models import (
    ConsentBasis,
    EventType,
    Ticket,
)
from tickets.validation import length_errors, not_a_choice, refuse_contact_in_text


def apply_contact(
    ticket: Ticket,
    *,
    phone,
    email,
    basis,
    actor,
    delegation_caller="",
    delegation_relation="",
    has_personal_details=False,
):
    errors = {}
    holds_personal = bool(phone or email or has_personal_details)
    if basis and basis not in ConsentBasis.values:
        errors["consent_basis"] = not_a_choice(basis, ConsentBasis)
    elif holds_personal and not basis:
        errors["consent_basis"] = [
            "연락처 등 개인정보를 저장하려면 근거를 선택해 주세요. 새로 수집하는 정보는 고객 동의가 필요합니다."
        ]
    elif basis == ConsentBasis.VERIFY_ONLY and holds_personal:
        errors["consent_basis"] = ["본인 확인만 한 정보는 저장할 수 없습니다. 저장하려면 수집 동의를 받아 주세요."]
    elif basis == ConsentBasis.EXISTING_MEMBER and not ticket.member_id:
        errors["member_id"] = ["기존 회원 정보를 근거로 하려면 회원 ID가 필요합니다."]
    elif basis == ConsentBasis.THIRD_PARTY_DELEGATED and not (delegation_caller and delegation_relation):
        errors["delegation_relation"] = ["제3자와 상담하려면 위임한 호출자와 관계를 기록해야 합니다."]
    errors.update(
        length_errors(
            Ticket, {"delegation_caller": delegation_caller or "", "delegation_relation": delegation_relation or ""}
        )
    )
    if phone:
        try:
            # A number we will text must be a mobile one; a kind that only calls back takes a landline.
            landline_ok = ticket.kind_id is not None and not followups.kind_texts_customer(ticket.kind)
            phone = pii.normalise_phone(phone, field="customer_phone", allow_landline=landline_ok)
        except DomainValidationError as exc:
            errors.update(exc.field_errors)
    if email:
        try:
            email = pii.normalise_email(email, field="customer_email")
        except DomainValidationError as exc:
            errors.update(exc.field_errors)
    if errors:
        raise DomainValidationError(errors)
    if phone:
        ticket.customer_phone = phone
        ticket.customer_phone_hash = pii.blind_index(phone)
        ticket.customer_phone_masked = pii.mask_phone(phone)
    if email:
        ticket.customer_email = email
        ticket.customer_email_masked = pii.mask_email(email)
    if basis:
        ticket.consent_basis = basis
        ticket.consent_recorded_by = actor.user if getattr(actor.user, "pk", None) else None
        ticket.consent_recorded_at = calendar.now()
        ticket.delegation_caller = delegation_caller or ""
        ticket.delegation_relation = delegation_relation or ""


@transaction.atomic
def ticket_record_consent(
    ticket: Ticket,
    *,
    actor: Actor,
    basis: str,
    customer_phone: str = "",
    customer_email: str = "",
    delegation_caller: str = "",
    delegation_relation: str = "",
) -> Ticket:
    ticket = locked_ticket(ensure(actor, "record_consent", ticket))
    if ticket.contact_purged_at:
        raise Conflict("개인정보가 이미 삭제된 티켓입니다.")
    stored_personal = bool(ticket.customer_phone or ticket.customer_email or ticket.sensitive_details)
    # What the ticket already holds is its state, not this request's shape: a basis it rules out
    # is a 409 (apply_contact answers 400 for what the request itself carries).
    if basis == ConsentBasis.VERIFY_ONLY and stored_personal and not (customer_phone or customer_email):
        raise Conflict(
            "이 티켓에는 저장된 개인정보가 있어 '본인 확인만'을 근거로 할 수 없습니다. 수집 동의를 받아 주세요.",
            code="personal_data_stored",
        )
    if basis == ConsentBasis.EXISTING_MEMBER and not ticket.member_id:
        raise Conflict("기존 회원 정보를 근거로 하려면 티켓에 회원 ID가 있어야 합니다.", code="member_id_required")
    # The audit records before -> after, numbers masked.
    before = {
        "basis": ticket.consent_basis,
        "relation": ticket.delegation_relation,
        "customer_phone": ticket.customer_phone_masked,
        "customer_email": ticket.customer_email_masked,
        "withdrawn": ticket.consent_withdrawn_at is not None,
    }
    apply_contact(
        ticket,
        phone=customer_phone,
        email=customer_email,
        basis=basis,
        actor=actor,
        delegation_caller=delegation_caller,
        delegation_relation=delegation_relation,
        # Contact data already stored needs a basis that allows storing it.
        has_personal_details=stored_personal,
    )
    ticket.consent_withdrawn_at = None
    ticket.version += 1
    ticket.save()
    audit.record(
        ticket,
        EventType.CONSENT,
        actor,
        basis=basis,
        relation=ticket.delegation_relation,
        customer_phone=ticket.customer_phone_masked,
        before=before,
        after={
            "basis": ticket.consent_basis,
            "relation": ticket.delegation_relation,
            "customer_phone": ticket.customer_phone_masked,
            "customer_email": ticket.customer_email_masked,
            "withdrawn": False,
        },
    )
    return ticket


@transaction.atomic
def ticket_withdraw_consent(ticket: Ticket, *, actor: Actor, note: str = "") -> Ticket:
    ticket = locked_ticket(ensure(actor, "withdraw_consent", ticket))
    refuse_contact_in_text({"note": note})
    ticket.consent_withdrawn_at = calendar.now()
    ticket.version += 1
    ticket.save()
    audit.record(ticket, EventType.CONSENT_WITHDRAWN, actor, note=note)
    followups.on_consent_withdrawn(ticket)
    return ticket
