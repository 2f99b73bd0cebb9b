"""How often one person may see unmasked contact data: one rule for the customer's contact and
a third party's number alike (both are audited as `contact_revealed`)."""

from cstrack import calendar
from cstrack.actors import Actor
from cstrack.errors import Conflict
from tickets.models import EventType, TicketEvent

REVEALS_PER_HOUR = 30


def check_reveal_rate(actor: Actor) -> None:
    """Refuse a reveal once the actor has seen REVEALS_PER_HOUR contacts in the last hour."""
    since = calendar.after_seconds(calendar.now(), -3600)
    recent = TicketEvent.objects.filter(type=EventType.CONTACT_REVEALED, actor=actor.user, at__gte=since).count()
    if recent >= REVEALS_PER_HOUR:
        raise Conflict(
            "한 시간에 확인할 수 있는 연락처 수를 넘었습니다. 잠시 후 다시 시도해 주세요.", code="reveal_rate_limited"
        )
