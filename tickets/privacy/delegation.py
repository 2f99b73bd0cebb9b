"""Third-party delegation (seed 004): counselling is with the caller; a third party (passenger,
spouse, car owner, ...) only on the caller's recorded delegation, with the minimum personal data.

* `delegation_record` records who delegated (a minimal description, never contact data), the
  relation, the case, when and by whom, and the third party's number (encrypted, keyed hash,
  masked). A third party who is not a member must have consented to its collection.
* `delegation_contact_number` is the only way to the third party's number: an active record,
  a permitted role (tickets.reveal_contact), a reason, audited and rate-limited like a reveal.
* Every record and revocation is a TicketEvent (consent / consent_withdrawn), number masked.
"""

from django.db import transaction

from cstrack import calendar, pii
from cstrack.actors import Actor
from cstrack.errors import Conflict, DomainValidationError, NotFound
from cstrack.logging import EMAIL_RE, PHONE_RE
from tickets import audit
from tickets.access.policy import ensure
from tickets.locking import locked_ticket
from tickets.models import (
    ConsentBasis,
    DelegationCase,
    DelegationRelation,
    EventType,
    ThirdPartyDelegation,
    Ticket,
)
from tickets.privacy.reveals import check_reveal_rate
from tickets.validation import not_a_choice, refuse_contact_in_text

REVEAL_PERMISSION = "tickets.reveal_contact"


def contact_is_covered(ticket: Ticket) -> bool:
    """May the ticket's own contact be used (revealed, messaged)? Always, unless its basis says
    the contact is a third party: then only while an active delegation record names that
    number (or, for a contact without a phone, while any record is active)."""
    return ticket.pk in covered_ticket_ids([ticket])


def covered_ticket_ids(tickets) -> set[int]:
    """`contact_is_covered` for many tickets: the ids of those whose contact may be used, with
    at most one query (for the third-party ones)."""
    covered = {t.pk for t in tickets if t.consent_basis != ConsentBasis.THIRD_PARTY_DELEGATED}
    third_party = {t.pk: t for t in tickets if t.pk not in covered}
    if third_party:
        active = ThirdPartyDelegation.objects.filter(ticket_id__in=third_party, revoked_at__isnull=True)
        for ticket_id, phone_hash in active.values_list("ticket_id", "third_party_phone_hash"):
            wanted = third_party[ticket_id].customer_phone_hash
            if not wanted or phone_hash == wanted:
                covered.add(ticket_id)
    return covered


def _choice_error(value, choices) -> list[str]:
    return not_a_choice(value, choices) if value not in choices.values else []


@transaction.atomic
def delegation_record(
    ticket: Ticket,
    *,
    actor: Actor,
    relation: str,
    case: str,
    caller: str,
    third_party_phone: str,
    third_party_is_member: bool,
    third_party_consented: bool = False,
) -> ThirdPartyDelegation:
    ensure(actor, "record_delegation", ticket)
    errors = {}
    caller = (caller or "").strip()
    if not caller:
        errors["caller"] = ["위임한 호출자를 적어 주세요. 예: 호출자 본인(회원)"]
    elif len(caller) > 100:
        errors["caller"] = ["100자 이하로 입력해 주세요."]
    elif "\x00" in caller:
        errors["caller"] = ["NUL 문자는 입력할 수 없습니다."]
    elif PHONE_RE.search(caller) or EMAIL_RE.search(caller):
        errors["caller"] = ["호출자 설명에는 연락처를 적지 마세요. 필요한 최소한의 정보만 기록합니다."]
    if problems := _choice_error(relation, DelegationRelation):
        errors["relation"] = problems
    if problems := _choice_error(case, DelegationCase):
        errors["case"] = problems
    if not third_party_is_member and not third_party_consented:
        errors["third_party_consented"] = [
            "회원이 아닌 제3자의 연락처는 개인정보 수집 동의를 받아야 기록할 수 있습니다."
        ]
    phone = ""
    if not (third_party_phone or "").strip():
        errors["third_party_phone"] = ["제3자 연락처를 입력해 주세요."]
    else:
        try:
            phone = pii.normalise_phone(third_party_phone, field="third_party_phone")
        except DomainValidationError as exc:
            errors.update(exc.field_errors)
    if errors:
        raise DomainValidationError(errors)

    ticket = locked_ticket(ticket)
    if ticket.contact_purged_at:
        raise Conflict("개인정보가 이미 삭제된 티켓입니다.")
    if not ticket.is_open:
        raise Conflict("종료되거나 취소된 티켓에는 위임을 기록할 수 없습니다.")
    now = calendar.now()
    delegation = ThirdPartyDelegation.objects.create(
        ticket=ticket,
        caller=caller,
        relation=relation,
        case=case,
        third_party_is_member=bool(third_party_is_member),
        third_party_consent_at=now if third_party_consented else None,
        third_party_phone=phone,
        third_party_phone_hash=pii.blind_index(phone),
        third_party_phone_masked=pii.mask_phone(phone),
        recorded_by=actor.user if getattr(actor.user, "pk", None) else None,
        recorded_by_label=actor.label[:100],
        recorded_at=now,
    )
    audit.record(
        ticket,
        EventType.CONSENT,
        actor,
        delegation=delegation.pk,
        basis="third_party_delegation",
        caller=caller,
        relation=relation,
        case=case,
        third_party_is_member=delegation.third_party_is_member,
        third_party_consent=bool(delegation.third_party_consent_at),
        third_party_phone=delegation.third_party_phone_masked,
    )
    return delegation


def delegation_get(ticket: Ticket, delegation_id) -> ThirdPartyDelegation:
    if not str(delegation_id).isdigit():
        raise NotFound("위임 기록을 찾을 수 없습니다.")
    found = ThirdPartyDelegation.objects.filter(ticket=ticket, pk=int(delegation_id)).first()
    if found is None:
        raise NotFound("위임 기록을 찾을 수 없습니다.")
    return found


@transaction.atomic
def delegation_revoke(delegation: ThirdPartyDelegation, *, actor: Actor, note: str = "") -> ThirdPartyDelegation:
    """The caller withdrew the delegation: the number can no longer be used (it is kept until the
    ticket's personal data is purged, as the record of what was done)."""
    ticket = locked_ticket(ensure(actor, "revoke_delegation", delegation).ticket)
    refuse_contact_in_text({"note": note})
    delegation = ThirdPartyDelegation.objects.select_for_update().get(pk=delegation.pk)
    if delegation.revoked_at:
        return delegation
    delegation.revoked_at = calendar.now()
    delegation.save(update_fields=["revoked_at"])
    audit.record(ticket, EventType.CONSENT_WITHDRAWN, actor, delegation=delegation.pk, note=(note or "")[:300])
    return delegation


@transaction.atomic
def delegation_contact_number(ticket: Ticket, delegation: ThirdPartyDelegation, *, actor: Actor, reason: str) -> str:
    """The third party's number, only through an active delegation record of this ticket, for a
    permitted role with a reason; audited and rate-limited with the contact reveals."""
    ensure(actor, "reveal_delegation_contact", delegation)
    refuse_contact_in_text({"reason": reason})
    reason = (reason or "").replace("\x00", "")
    if not reason.strip():
        raise DomainValidationError({"reason": ["연락처를 확인하는 사유를 입력해 주세요."]})
    check_reveal_rate(actor)
    ticket = locked_ticket(ticket)
    if delegation.ticket_id != ticket.pk:
        raise NotFound("위임 기록을 찾을 수 없습니다.")
    delegation = ThirdPartyDelegation.objects.get(pk=delegation.pk)
    if ticket.contact_purged_at or not delegation.third_party_phone:
        raise Conflict("개인정보가 이미 삭제된 티켓입니다.")
    if delegation.revoked_at:
        raise Conflict("철회된 위임입니다. 제3자에게 연락할 수 없습니다.", code="delegation_revoked")
    if not delegation.third_party_is_member and not delegation.third_party_consent_at:
        raise Conflict("제3자의 개인정보 수집 동의가 없습니다.", code="third_party_consent_missing")
    audit.record(
        ticket,
        EventType.CONTACT_REVEALED,
        actor,
        reason=reason.strip()[:300],
        delegation=delegation.pk,
        third_party_phone=delegation.third_party_phone_masked,
    )
    return delegation.third_party_phone
