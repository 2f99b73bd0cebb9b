"""Prometheus figures about the work, read from the database on each scrape, so every web
process reports the same numbers whatever process did the work. Registered with
cstrack.observability at start-up (see TicketsConfig.ready)."""

from django.db.models import Count, Min
from prometheus_client.core import GaugeMetricFamily

from cstrack import calendar
from notifications.models import Message
from tickets.followups.dispatcher import due_queryset

from .models import OPEN_STATUSES, Ticket


class WorkCollector:
    """Reads the backlog figures from the database on each scrape."""

    def collect(self):

        now = calendar.now()
        due = due_queryset(now).aggregate(n=Count("id"), oldest=Min("due_at"))
        yield GaugeMetricFamily("cstrack_followups_due", "Follow-ups due and not yet carried out", value=due["n"])
        age = calendar.elapsed(due["oldest"], now).total_seconds() if due["oldest"] else 0
        yield GaugeMetricFamily(
            "cstrack_followups_oldest_due_age_seconds", "Age of the oldest due follow-up", value=age
        )

        messages = GaugeMetricFamily(
            "cstrack_messages", "Outbox messages by state and provider", labels=["state", "provider"]
        )
        for row in Message.objects.values("state", "provider").annotate(n=Count("id")):
            messages.add_metric([row["state"], row["provider"] or "-"], row["n"])
        yield messages
        unsent = Message.objects.filter(state__in=["pending", "retry"], next_attempt_at__lte=now).aggregate(
            oldest=Min("next_attempt_at")
        )
        yield GaugeMetricFamily(
            "cstrack_messages_oldest_unsent_age_seconds",
            "Age of the oldest message due and not sent",
            value=calendar.elapsed(unsent["oldest"], now).total_seconds() if unsent["oldest"] else 0,
        )
        breaches = GaugeMetricFamily(
            "cstrack_open_breached_tickets", "Open tickets past a promise, by board", labels=["board"]
        )
        for row in (
            Ticket.objects.filter(status__in=OPEN_STATUSES, breached_at__isnull=False)
            .values("board__code")
            .annotate(n=Count("id"))
        ):
            breaches.add_metric([row["board__code"]], row["n"])
        yield breaches
