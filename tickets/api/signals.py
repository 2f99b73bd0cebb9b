"""Connect webhook fan-out to the audit trail: every new TicketEvent is offered to the
subscriptions. Call `connect()` once at start-up (TicketsConfig.ready)."""

from django.db.models.signals import post_save

from tickets.models import TicketEvent

DISPATCH_UID = "tickets.api.webhooks.publish"


def _on_event_saved(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        from .webhooks import webhooks_publish

        webhooks_publish(instance)


def connect():
    post_save.connect(_on_event_saved, sender=TicketEvent, dispatch_uid=DISPATCH_UID)


def disconnect():
    post_save.disconnect(sender=TicketEvent, dispatch_uid=DISPATCH_UID)
