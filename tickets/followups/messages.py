"""What a follow-up's message says: the context its template is rendered with."""

from django.conf import settings

from cstrack import calendar, pii
from tickets.models import (
    PENDING_FOLLOWUP_STATES,
    Action,
    FollowUp,
    Ticket,
)


def message_context(ticket: Ticket, fu: FollowUp | None = None) -> dict:
    incident = ticket.details.get("incident_date") or ticket.details.get("occurred_on")
    # What was promised by when: the pending call back, else the nearest deadline that would
    # breach (a reminder about a penalty request names its D+3), else this duty's own time.
    pending = ticket.followups.filter(state__in=PENDING_FOLLOWUP_STATES).order_by("due_at")
    callback = pending.filter(action=Action.CALL_BACK).first() or pending.filter(marks_breach=True).first() or fu
    base_url = getattr(settings, "CSTRACK_BASE_URL", "").rstrip("/")
    return {
        "reference": ticket.reference,
        "kind_name": ticket.kind.name,
        "board_name": ticket.board.name,
        "incident_date": calendar.month_day_label(incident)
        if incident
        else calendar.month_day_label(calendar.kst_date(ticket.received_at)),
        "due_at": calendar.business_time_label(fu.due_at) if fu else "",
        "promised_by": calendar.business_time_label(callback.due_at) if callback else "",
        "ticket_url": f"{base_url}/tickets/{ticket.reference}/",
        "parking_lot": ticket.parking_lot,
        "vehicle_plate": ticket.vehicle_plate,
        "summary": ticket.title or ticket.kind.name,
        "customer_name_masked": pii.mask_name(_customer_name(ticket)) or "고객",
    }


NAME_FIELDS = ("customer_name", "inquirer_name", "name")


def _customer_name(ticket: Ticket) -> str:
    for source in (ticket.sensitive_details, ticket.details):
        for field in NAME_FIELDS:
            if isinstance(source.get(field), str) and source[field].strip():
                return source[field]
    return ""
