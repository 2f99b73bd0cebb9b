"""Webhooks: systems subscribe to ticket events; every delivery is an outbox message.

`publish(event)` runs inside the transaction that wrote the event (called by
`tickets.audit.record`) and enqueues one message per matching subscription with
the idempotency key `webhook:<subscription id>:<event id>` — so a re-run never sends twice, and
retries and the dead-letter state come from the outbox. The body is JSON without personal data
(event data is masked by the services; the ticket part carries no contact fields).

Signing: the webhook provider signs `f"{timestamp}.{body}"` with HMAC-SHA256. Each subscription
has its own secret (encrypted at rest); `webhook_signing_secrets(message)` resolves it from the
message's idempotency key, so no secret is ever put in a task argument or a message row.
"""

import json
import secrets
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta

from django.db import transaction

from cstrack import calendar, outbound
from cstrack.errors import DomainValidationError
from notifications import services as outbox
from tickets.models import EventType, TicketEvent, WebhookSubscription

KEY_PREFIX = "webhook"
ROTATION_GRACE = timedelta(hours=24)


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def event_payload(event: TicketEvent) -> dict:
    ticket = event.ticket
    return {
        "id": event.pk,
        "type": f"ticket.{event.type}",
        "at": event.at.isoformat(),
        "actor": event.actor_label,
        "data": event.data,
        "ticket": {
            "id": ticket.pk,
            "reference": ticket.reference,
            "kind": ticket.kind.code,
            "status": ticket.status,
            "board": ticket.board.code,
            "priority": ticket.priority,
            "version": ticket.version,
        },
    }


def _matches(sub: WebhookSubscription, event: TicketEvent) -> bool:
    if sub.event_types and event.type not in sub.event_types:
        return False
    key = sub.api_key
    if key is not None:
        if key.revoked_at is not None or not key.can_read:
            return False
        if key.kinds and event.ticket.kind.code not in key.kinds:
            return False
    return True


# The active subscriptions, read once per request (see `subscriptions_read_once`); None outside.
_request_cache: ContextVar[dict | None] = ContextVar("webhook_subscriptions", default=None)


@contextmanager
def subscriptions_read_once():
    """Within this block the active subscriptions are read from the database once (the first
    event published) and reused; the subscription services below forget them when they change
    one. Entered for every HTTP request by `SubscriptionsPerRequestMiddleware`."""
    token = _request_cache.set({})
    try:
        yield
    finally:
        _request_cache.reset(token)


class SubscriptionsPerRequestMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with subscriptions_read_once():
            return self.get_response(request)


def active_subscriptions() -> list[WebhookSubscription]:
    cache = _request_cache.get()
    if cache is not None and "active" in cache:
        return cache["active"]
    found = list(WebhookSubscription.objects.filter(active=True).select_related("api_key"))
    if cache is not None:
        cache["active"] = found
    return found


def _forget_subscriptions() -> None:
    cache = _request_cache.get()
    if cache is not None:
        cache.clear()


def publish(event: TicketEvent) -> list:
    """Enqueue one outbox message per active subscription that wants this event."""
    return publish_many([event])


def publish_many(events: list[TicketEvent]) -> list:
    """`publish` for several events: the subscriptions are read once, the messages written in
    one bulk enqueue."""
    subs = active_subscriptions()
    if not subs:
        return []
    specs = []
    for event in events:
        wanted = [sub for sub in subs if _matches(sub, event)]
        if not wanted:
            continue
        body = json.dumps(event_payload(event), ensure_ascii=False, separators=(",", ":"), default=str)
        specs += [
            {
                "channel": "webhook",
                "recipient": sub.target_url,
                "idempotency_key": f"{KEY_PREFIX}:{sub.pk}:{event.pk}",
                "subject": f"ticket.{event.type}",
                "body": body,
            }
            for sub in wanted
        ]
    return outbox.messages_enqueue_many(specs)


def subscription_for_message(message) -> WebhookSubscription | None:
    parts = (message.idempotency_key or "").split(":")
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1].isdigit():
        return None
    return WebhookSubscription.objects.filter(pk=int(parts[1])).first()


def webhook_signing_secrets(message) -> list[str]:
    """Secrets to sign `message` with: the subscription's current secret, plus the previous one
    during the rotation grace period (a receiver accepts either signature). Empty if the message
    is not a subscription delivery."""
    sub = subscription_for_message(message)
    if sub is None:
        return []
    found = [sub.secret]
    if sub.previous_secret and sub.secret_rotated_at and calendar.now() - sub.secret_rotated_at < ROTATION_GRACE:
        found.append(sub.previous_secret)
    return found


# --- Subscriptions ------------------------------------------------------------------------------


def subscription_create(*, name: str, target_url: str, event_types=(), api_key=None) -> WebhookSubscription:
    errors = {}
    unknown = sorted(set(event_types or ()) - set(EventType.values))
    if unknown:
        errors["event_types"] = [f"알 수 없는 이벤트: {', '.join(unknown)}"]
    try:
        target_url = outbound.check_url(target_url)  # checked again before every delivery
    except outbound.OutboundRefused as exc:
        errors["target_url"] = [exc.reason]
    if errors:
        raise DomainValidationError(errors)
    _forget_subscriptions()
    return WebhookSubscription.objects.create(
        name=name.strip()[:100],
        target_url=target_url,
        event_types=sorted(set(event_types or ())),
        secret=new_secret(),
        api_key=api_key,
    )


@transaction.atomic
def subscription_rotate_secret(sub: WebhookSubscription) -> WebhookSubscription:
    _forget_subscriptions()
    sub = WebhookSubscription.objects.select_for_update().get(pk=sub.pk)
    sub.previous_secret, sub.secret, sub.secret_rotated_at = sub.secret, new_secret(), calendar.now()
    sub.save(update_fields=["previous_secret", "secret", "secret_rotated_at"])
    return sub


def subscription_deactivate(sub: WebhookSubscription) -> WebhookSubscription:
    _forget_subscriptions()
    WebhookSubscription.objects.filter(pk=sub.pk).update(active=False)
    sub.active = False
    return sub
