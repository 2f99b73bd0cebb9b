"""What a follow-up's message says: the placeholders a template may use, each declared once here
with the value that fills it. notifications checks templates against these declarations
(registered at start-up by tickets.apps) and renders them with `message_context`."""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from django.conf import settings

from cstrack import calendar, pii
from tickets.models import (
    PENDING_FOLLOWUP_STATES,
    Action,
    FollowUp,
    Ticket,
)


@dataclass
class _Source:
    ticket: Ticket
    fu: FollowUp | None
    # The ticket's pending follow-ups by due time, when the caller has them already (the
    # dispatcher reads them for a whole batch at once); else they are read when needed.
    pending: list[FollowUp] | None = None

    @cached_property
    def promise(self) -> FollowUp | None:
        """What was promised by when: the pending call back, else the nearest deadline that would
        breach (a reminder about a penalty request names its D+3), else this duty's own time."""
        pending = self.pending
        if pending is None:
            pending = list(
                self.ticket.followups.filter(state__in=PENDING_FOLLOWUP_STATES)
                .order_by("due_at", "id")
                .only("action", "due_at", "marks_breach")
            )
        return (
            next((p for p in pending if p.action == Action.CALL_BACK), None)
            or next((p for p in pending if p.marks_breach), None)
            or self.fu
        )


def _incident_date(s: _Source) -> str:
    incident = s.ticket.details.get("incident_date") or s.ticket.details.get("occurred_on")
    return calendar.month_day_label(incident or calendar.kst_date(s.ticket.received_at))


def _ticket_url(s: _Source) -> str:
    base_url = getattr(settings, "CSTRACK_BASE_URL", "").rstrip("/")
    return f"{base_url}/tickets/{s.ticket.reference}/"


# name -> (description shown to whoever edits a template, how the value is filled).
PLACEHOLDERS: dict[str, tuple[str, Callable[[_Source], object]]] = {
    "reference": ("접수 번호", lambda s: s.ticket.reference),
    "incident_date": ("발생일", _incident_date),
    "kind_name": ("접수 유형", lambda s: s.ticket.kind.name),
    "due_at": ("처리 예정 일시", lambda s: calendar.business_time_label(s.fu.due_at) if s.fu else ""),
    "customer_name_masked": ("고객명(일부 가림)", lambda s: pii.mask_name(_customer_name(s.ticket)) or "고객"),
    "board_name": ("담당 게시판", lambda s: s.ticket.board.name),
    "ticket_url": ("접수 건 링크", _ticket_url),
    "promised_by": (
        "약속한 담당자",
        lambda s: calendar.business_time_label(s.promise.due_at) if s.promise else "",
    ),
    "summary": ("요약", lambda s: s.ticket.title or s.ticket.kind.name),
    "parking_lot": ("주차장", lambda s: s.ticket.parking_lot),
    "vehicle_plate": ("차량 번호", lambda s: s.ticket.vehicle_plate),
}


def placeholder_descriptions() -> dict[str, str]:
    return {name: description for name, (description, _fill) in PLACEHOLDERS.items()}


def message_context(ticket: Ticket, fu: FollowUp | None = None, pending: list[FollowUp] | None = None) -> dict:
    source = _Source(ticket, fu, pending)
    return {name: fill(source) for name, (_description, fill) in PLACEHOLDERS.items()}


NAME_FIELDS = ("customer_name", "inquirer_name", "name")


def _customer_name(ticket: Ticket) -> str:
    for source in (ticket.sensitive_details, ticket.details):
        for field in NAME_FIELDS:
            if isinstance(source.get(field), str) and source[field].strip():
                return source[field]
    return ""
