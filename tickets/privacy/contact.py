"""The contact itself: an audited, rate-limited reveal for permitted roles, and the purge that
removes a ticket's personal data while the ticket and its audit stay."""

from django.db import transaction
from django.db.models import Value
from django.db.models.functions import Coalesce

from cstrack import calendar
from cstrack.actors import Actor
from cstrack.errors import Conflict, DomainValidationError, PermissionDenied
from tickets import audit
from tickets.access.policy import ensure, ensure_visible, may
from tickets.followups import scheduling as followups
from tickets.followups.ownership import is_callback_owner
from tickets.kinds.schema import personal_field_names
from tickets.locking import locked_ticket
from tickets.models import (
    PENDING_FOLLOWUP_STATES,
    Action,
    EventType,
    FollowUp,
    Ticket,
)
from tickets.privacy import attachments, delegation
from tickets.privacy.reveals import check_reveal_rate
from tickets.validation import refuse_contact_in_text


@transaction.atomic
def ticket_reveal_contact(ticket: Ticket, *, actor: Actor, reason: str) -> dict:
    """Return the unmasked contact for a permitted role, with a reason; the reveal is audited."""
    ensure(actor, "reveal_contact", ticket)
    refuse_contact_in_text({"reason": reason})
    if not (reason or "").strip():
        raise DomainValidationError({"reason": ["연락처를 확인하는 사유를 입력해 주세요."]})
    check_reveal_rate(actor)
    ticket = locked_ticket(ticket)
    if ticket.contact_purged_at:
        raise Conflict("개인정보가 이미 삭제된 티켓입니다.")
    if not delegation.contact_is_covered(ticket):
        raise Conflict(
            "제3자 연락처는 그 번호에 대한 위임 기록이 있어야 볼 수 있습니다. 먼저 위임 기록을 남겨 주세요.",
            code="delegation_required",
        )
    audit.record(ticket, EventType.CONTACT_REVEALED, actor, reason=reason.strip()[:300])
    return {
        "customer_phone": ticket.customer_phone or "",
        "customer_email": ticket.customer_email or "",
        **{k: v for k, v in ticket.sensitive_details.items()},
    }


@transaction.atomic
def callback_reveal_contact(followup: FollowUp, *, actor: Actor, reason: str) -> str:
    """The customer's number for the owner of a pending call-back (or a role that may reveal
    contacts), once, with a reason; audited like any reveal and counted in the same rate limit."""
    if followup.action != Action.CALL_BACK or followup.state not in PENDING_FOLLOWUP_STATES:
        raise Conflict("대기 중인 회신 전화에서만 번호를 볼 수 있습니다.")
    ensure_visible(actor, followup)
    if not (is_callback_owner(actor.user, followup.ticket) or may(actor, "reveal_contact", followup.ticket)):
        raise PermissionDenied("이 회신 전화의 담당자만 번호를 볼 수 있습니다.")
    if not (reason or "").strip():
        raise DomainValidationError({"reason": ["연락처를 확인하는 사유를 입력해 주세요."]})
    check_reveal_rate(actor)
    ticket = locked_ticket(followup.ticket)
    if ticket.contact_purged_at or not ticket.customer_phone:
        raise Conflict("이 티켓에는 저장된 전화번호가 없습니다.")
    if not delegation.contact_is_covered(ticket):
        raise Conflict("제3자 연락처는 위임 기록이 있어야 걸 수 있습니다. 티켓 화면에서 위임을 먼저 기록해 주세요.")
    audit.record(ticket, EventType.CONTACT_REVEALED, actor, reason=reason.strip()[:300], followup=followup.pk)
    return ticket.customer_phone


@transaction.atomic
def ticket_purge_contact(ticket: Ticket, *, actor: Actor, reason: str) -> Ticket:
    """Delete the ticket's personal data (contact, personal details, third-party numbers,
    attachments); the ticket and its audit stay, with the purge recorded."""
    ticket = locked_ticket(ensure(actor, "purge_contact", ticket))
    refuse_contact_in_text({"reason": reason})
    if ticket.contact_purged_at:
        return ticket
    # Fields stored in plain details under an older schema version, and marked personal since
    # (the kind's current schema), go too.
    personal_in_details = sorted(
        (personal_field_names(ticket.kind.schema) | personal_field_names(ticket.schema_version.schema))
        & set(ticket.details)
    )
    purged = (
        [f for f in ("customer_phone", "customer_email") if getattr(ticket, f)]
        + sorted(ticket.sensitive_details)
        + personal_in_details
    )
    third_parties = ticket.delegations.exclude(third_party_phone_hash="")
    if third_parties.exists():
        purged.append("third_party_phone")
        third_parties.update(
            third_party_phone=None,
            third_party_phone_hash="",
            third_party_phone_masked="",
            caller="",
            revoked_at=Coalesce("revoked_at", Value(calendar.now())),
        )
    removed_files = attachments.delete_all_for(ticket, actor=actor, reason=reason)
    if removed_files:
        purged.append(f"attachments:{removed_files}")
    ticket.customer_phone = None
    ticket.customer_phone_hash = ""
    ticket.customer_phone_masked = ""
    ticket.customer_email = None
    ticket.customer_email_masked = ""
    ticket.delegation_caller = ""
    ticket.sensitive_details = {}
    ticket.details = {k: v for k, v in ticket.details.items() if k not in personal_in_details}
    ticket.contact_purged_at = calendar.now()
    ticket.version += 1
    ticket.save()
    audit.record(ticket, EventType.PURGED, actor, fields=purged, reason=reason)
    followups.on_contact_purged(ticket)
    return ticket
