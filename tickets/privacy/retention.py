"""Retention: personal data leaves a ticket when its kind's period has passed.

Per kind (data on TicketKind): `purge_contact_on_close` purges the contact as soon as the
ticket closes (done by the close transition itself); `retention_days` is how long a finished
ticket's personal data is kept after it closed (3 years for consultation records, 1 year for
ride records). The ticket, its outcome and its audit trail stay; the purge is an audit event.

Personal data here means the customer contact, personal kind fields, third-party numbers of
delegations and attachment files. `delete_attachments_on_completion` kinds lose their files
when completed (the transition does it); the daily run also deletes any such file it still finds
on a completed ticket, and removes stored files that no live attachment row refers to.
"""

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Exists, F, OuterRef, Q

from cstrack import calendar
from cstrack.actors import Actor
from tickets.lifecycle import services
from tickets.models import FINAL_STATUSES, Attachment, Status, ThirdPartyDelegation, Ticket
from tickets.privacy import attachments
from tickets.privacy.contact import ticket_purge_contact

RETENTION_ACTOR = Actor(label="retention")


@dataclass(frozen=True)
class PurgeCandidate:
    ticket_id: int
    reference: str
    kind: str
    closed_at: object
    retention_days: int


def purge_candidates(now=None, limit: int | None = None) -> list[PurgeCandidate]:
    """Finished tickets still holding personal data whose retention period has passed."""
    now = now or calendar.now()
    live_files = Attachment.objects.filter(ticket=OuterRef("pk"), deleted_at__isnull=True)
    third_parties = ThirdPartyDelegation.objects.filter(ticket=OuterRef("pk")).exclude(third_party_phone_hash="")
    holding = (
        Q(customer_phone__isnull=False)
        | Q(customer_email__isnull=False)
        | ~Q(sensitive_details="")
        | Exists(live_files)
        | Exists(third_parties)
    )
    rows = (
        Ticket.objects.filter(status__in=FINAL_STATUSES, contact_purged_at__isnull=True, closed_at__isnull=False)
        .filter(holding)
        .annotate(retention_days=F("kind__retention_days"))
        .values_list("pk", "reference", "kind__code", "closed_at", "retention_days")
        .order_by("closed_at")
    )
    found = []
    for pk, reference, kind, closed_at, days in rows.iterator():
        if calendar.days_ago(now, days) >= closed_at:
            found.append(PurgeCandidate(pk, reference, kind, closed_at, days))
            if limit and len(found) >= limit:
                break
    return found


def completed_attachment_candidates() -> list[Attachment]:
    """Live files on completed tickets of kinds that delete attachments on completion (left
    behind if the kind's flag was switched on after the ticket was completed)."""
    return list(
        Attachment.objects.filter(
            deleted_at__isnull=True,
            ticket__kind__delete_attachments_on_completion=True,
            ticket__status__in=attachments.COMPLETED_STATUSES,
        )
        .select_related("ticket")
        .order_by("pk")
    )


AUTO_CLOSE_ACTOR = Actor(label="auto-close")


def close_resolved(now=None) -> int:
    """Close tickets left `resolved` for RESOLVED_AUTO_CLOSE_DAYS (0: never). Without this a
    resolved ticket would never start its retention clock, which runs from closing. Each close
    is an ordinary, audited transition (pending duties cancelled, purge-on-close applied)."""
    days = int(getattr(settings, "RESOLVED_AUTO_CLOSE_DAYS", 7))
    if days <= 0:
        return 0
    before = calendar.days_ago(now or calendar.now(), days)
    closed = 0
    for ticket in Ticket.objects.filter(status=Status.RESOLVED, resolved_at__lte=before).order_by("resolved_at"):
        services.ticket_transition(
            ticket, to_status=Status.CLOSED, actor=AUTO_CLOSE_ACTOR, note=f"해결 후 {days}일 동안 재문의 없어 자동 종료"
        )
        closed += 1
    return closed


def purge_expired(now=None, limit: int | None = None) -> int:
    """Purge every candidate; each purge is its own transaction and audit event. Then delete
    completed kinds' leftover files and sweep orphaned files. Returns the tickets purged."""
    count = 0
    for candidate in purge_candidates(now, limit):
        ticket = Ticket.objects.get(pk=candidate.ticket_id)
        ticket_purge_contact(ticket, actor=RETENTION_ACTOR, reason=f"보관 기간 {candidate.retention_days}일 경과")
        count += 1
    for attachment in completed_attachment_candidates():
        attachments.attachment_delete(attachment, actor=RETENTION_ACTOR, reason="완료 시 첨부파일 삭제 (유형 정책)")
    attachments.sweep_files()
    return count
