"""The ticket workflow: one transition map and one guard."""

from cstrack.errors import Conflict, TransitionNotAllowed
from tickets.models import Status

S = Status
TRANSITIONS: dict[str, set[str]] = {
    S.RECEIVED: {S.IN_PROGRESS, S.WAITING_CUSTOMER, S.CANCELLED},
    S.IN_PROGRESS: {S.WAITING_CUSTOMER, S.ACTION_TAKEN, S.RESOLVED, S.CANCELLED},
    S.WAITING_CUSTOMER: {S.IN_PROGRESS, S.CANCELLED},
    S.ACTION_TAKEN: {S.RESOLVED, S.CLOSED, S.IN_PROGRESS},
    S.RESOLVED: {S.CLOSED, S.IN_PROGRESS},
    S.CLOSED: set(),
    S.CANCELLED: set(),
}
COMPLETING = {S.ACTION_TAKEN, S.RESOLVED, S.CLOSED}


def allowed_targets(ticket) -> list[str]:
    return [s for s in Status.values if s in TRANSITIONS[ticket.status]]


def guard(ticket, to_status: str) -> None:
    """Raise a domain error if `ticket` may not move to `to_status`; return None if it may."""
    if to_status not in Status.values:
        raise TransitionNotAllowed(ticket.status, to_status, Status(ticket.status).label, to_status)
    if to_status not in TRANSITIONS[ticket.status]:
        raise TransitionNotAllowed(ticket.status, to_status, Status(ticket.status).label, Status(to_status).label)
    kind = ticket.kind
    if to_status in COMPLETING and ticket.status not in COMPLETING:
        if kind.requires_manager_confirmation and not ticket.manager_confirmed_at:
            raise Conflict("관리자 컨펌을 먼저 기록해야 완료할 수 있습니다.", code="manager_confirmation_required")
        if kind.outcomes and not ticket.outcome:
            raise Conflict("처리 결과를 먼저 기록해야 완료할 수 있습니다.", code="outcome_required")
