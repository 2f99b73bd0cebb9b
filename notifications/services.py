"""Outbox services: enqueue, deliver, retry a dead letter, sweep.

The rules live here; tasks and the admin only call these functions. `notifications` knows
nothing of tickets: it delivers what it is handed. See docs/delivery.md for the guarantees.

Delivery in one paragraph: `message_enqueue` writes the row in the caller's transaction and
queues `notifications.deliver_message(id)` after commit if the message is due. `message_deliver`
claims the row with a lease (one conditional UPDATE, so only one worker wins), asks the provider
whether it already has the message when a previous attempt's outcome is unknown, sends, and
records the outcome under the same lease. `outbox_sweep` re-queues whatever is due or whose
lease expired (lost publish, retry due, worker killed).
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from celery import current_app
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.db.models import F, Q

from cstrack import calendar
from cstrack.errors import Conflict, DomainValidationError, NotFound
from cstrack.logging import scrub
from cstrack.pii import mask_email, mask_phone, normalise_email, normalise_phone
from cstrack.tasks import enqueue_on_commit

from .models import Channel, Message, MessageTemplate, MessageType
from .providers import (
    PermanentProviderError,
    ProviderConfigurationError,
    TemporaryProviderError,
    get_provider,
)
from .templating import PLACEHOLDERS, check_sms_subject, check_sms_text, render, sms_type, template_validate

DELIVER_TASK = "notifications.deliver_message"


def delivery_task():
    """The deliver task, looked up by its registered name: `notifications.tasks` imports this
    module, never the reverse (NotificationsConfig.ready registers the tasks in every process)."""
    return current_app.tasks[DELIVER_TASK]


__all__ = [
    "PLACEHOLDERS",
    "message_deliver",
    "message_enqueue",
    "message_retry_dead",
    "outbox_sweep",
    "retry_delay",
    "sms_type",
    "template_validate",
]

logger = logging.getLogger(__name__)

State = Message.State
IDEMPOTENCY_KEY_MAX = Message._meta.get_field("idempotency_key").max_length
LAST_ERROR_MAX = Message._meta.get_field("last_error").max_length


# --- settings ----------------------------------------------------------------------------------


def _max_attempts() -> int:
    return max(1, int(getattr(settings, "MESSAGE_MAX_ATTEMPTS", 6)))


def _lease() -> timedelta:
    return timedelta(seconds=int(getattr(settings, "MESSAGE_LEASE_SECONDS", 120)))


def retry_delay(attempts: int, *, rng: random.Random | None = None) -> timedelta:
    """Back-off after the `attempts`-th failed attempt: base·2^(n-1) capped, with jitter.

    Defaults: 30 s, 60 s, 120 s, ... capped at 1 h; the delay is drawn uniformly from
    [d/2, d] ("equal jitter") so that messages failing together do not retry together.
    """
    base = float(getattr(settings, "MESSAGE_RETRY_BASE_SECONDS", 30))
    cap = float(getattr(settings, "MESSAGE_RETRY_MAX_SECONDS", 3600))
    delay = min(cap, base * (2 ** max(0, attempts - 1)))
    return timedelta(seconds=(rng or random).uniform(delay / 2, delay))


# --- enqueue -----------------------------------------------------------------------------------


def _recipient(channel: str, recipient: str) -> tuple[str, str]:
    """Normalise the recipient for its channel; return (value, masked)."""
    if channel == Channel.SMS:
        value = normalise_phone(recipient, field="recipient")
        return value, mask_phone(value)
    if channel == Channel.EMAIL:
        value = normalise_email(recipient, field="recipient")
        return value, mask_email(value)
    value = (recipient or "").strip()
    try:
        URLValidator(schemes=["http", "https"])(value)
    except DjangoValidationError:
        raise DomainValidationError({"recipient": ["올바른 웹훅 주소(http/https)가 아닙니다."]}) from None
    parts = urlsplit(value)
    # The path of a chat webhook is its secret: show the host only.
    return value, f"{parts.scheme}://{parts.hostname}/***"


def _template(template, channel: str) -> MessageTemplate | None:
    if template is None or isinstance(template, MessageTemplate):
        found = template
    else:
        found = MessageTemplate.objects.filter(code=str(template)).first()
        if found is None:
            raise DomainValidationError({"template": [f"'{template}' 코드의 메시지 템플릿이 없습니다."]})
    if found is not None:
        if not found.active:
            raise DomainValidationError({"template": [f"'{found.code}' 템플릿은 사용 중지되어 있습니다."]})
        if found.channel != channel:
            raise DomainValidationError(
                {"template": [f"'{found.code}' 템플릿은 {found.get_channel_display()} 채널용입니다."]}
            )
    return found


def _check_key(key: str) -> str:
    key = (key or "").strip()
    if not key:
        raise DomainValidationError({"idempotency_key": ["중복 방지 키가 필요합니다."]})
    if len(key) > IDEMPOTENCY_KEY_MAX:
        raise DomainValidationError({"idempotency_key": [f"중복 방지 키는 {IDEMPOTENCY_KEY_MAX}자까지입니다."]})
    if scrub(key) != key:
        raise DomainValidationError({"idempotency_key": ["중복 방지 키에 전화번호나 이메일 주소를 넣을 수 없습니다."]})
    return key


def message_enqueue(
    *,
    channel: str,
    recipient: str,
    idempotency_key: str,
    template: MessageTemplate | str | None = None,
    context: dict | None = None,
    subject: str = "",
    body: str = "",
    respect_quiet_hours: bool = False,
    not_before: datetime | None = None,
) -> Message:
    """Write one outbox row (call it inside the transaction of the change that causes it).

    * Idempotent on `idempotency_key`: the same key returns the existing row, whatever else is
      passed. Keys are at most 100 characters and must not contain personal data.
    * With `template` (an instance or its code) the subject and body are rendered from it with
      `context` (see notifications.templating); `subject`/`body` must then be empty. Without a
      template, `body` (and `subject`) are used as they are, not rendered.
    * SMS: the recipient is normalised to E.164; the text must be EUC-KR and at most 2,000 bytes;
      the type (SMS/LMS) follows the length.
    * The first attempt is at max(now, not_before), moved to the end of quiet hours when
      `respect_quiet_hours` (customer messages). Only a message due now is queued at commit;
      a later one is picked up by the sweep when due.

    Raises DomainValidationError for bad input (nothing is written then).
    """
    if channel not in Channel.values:
        raise DomainValidationError({"channel": [f"알 수 없는 채널입니다: {channel}"]})
    key = _check_key(idempotency_key)
    existing = Message.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return existing

    found = _template(template, channel)
    if found is not None:
        if subject or body:
            raise DomainValidationError({"body": ["템플릿을 쓸 때는 제목과 본문을 따로 넘기지 않습니다."]})
        subject = render(found.subject, context, channel=channel, field="subject")
        body = render(found.body, context, channel=channel, field="body")
    subject = (subject or "").strip()
    if not (body or "").strip():
        raise DomainValidationError({"body": ["보낼 내용이 없습니다."]})
    value, masked = _recipient(channel, recipient)

    if channel == Channel.SMS:
        check_sms_text(body, "body")
        check_sms_subject(subject)
        message_type = sms_type(body)
    else:
        message_type = {
            Channel.EMAIL: MessageType.EMAIL,
            Channel.CHAT: MessageType.CHAT,
            Channel.WEBHOOK: MessageType.WEBHOOK,
        }[channel]

    now = calendar.now()
    due = max(now, not_before) if not_before else now
    if respect_quiet_hours and calendar.in_quiet_hours(due):
        due = calendar.next_allowed_send_time(due)

    with transaction.atomic():  # a savepoint inside the caller's transaction
        try:
            with transaction.atomic():
                message = Message.objects.create(
                    idempotency_key=key,
                    channel=channel,
                    template=found,
                    subject=subject[:200],
                    body=body,
                    message_type=message_type,
                    recipient=value,
                    recipient_masked=masked,
                    respect_quiet_hours=respect_quiet_hours,
                    state=State.PENDING,
                    not_before=not_before,
                    next_attempt_at=due,
                    queued_at=now if due <= now else None,
                )
        except IntegrityError:
            # Another transaction wrote the same key first (and has committed).
            return Message.objects.get(idempotency_key=key)
        if due <= now:
            # Marked queued in the same row; if the publish fails (broker down) the mark is
            # cleared so the next sweep queues it at once.
            enqueue_on_commit(
                delivery_task(), message.pk,
                on_failure=lambda: Message.objects.filter(pk=message.pk).update(queued_at=None),
            )  # fmt: skip
    logger.info("message %s queued (%s, %s), first attempt at %s", message.pk, channel, message_type, due.isoformat())
    return message


# --- deliver -----------------------------------------------------------------------------------


def _error_text(exc: Exception) -> str:
    return scrub(str(exc) or type(exc).__name__)[:LAST_ERROR_MAX]


def _claim(message_id: int, now: datetime, lease_until: datetime) -> bool:
    """Take the row for one attempt; True if this worker won it. Two conditional UPDATEs, each
    atomic on its own: the first takes over a row whose worker died mid-send (it must be looked
    up before any resend), the second a row that is due."""
    rows = Message.objects.filter(pk=message_id)
    if rows.filter(state=State.SENDING, lease_until__lt=now).update(
        lease_until=lease_until, needs_lookup=True, updated_at=now
    ):
        logger.warning("message %s: previous attempt did not finish (lease expired); checking the provider", message_id)
        return True
    return bool(
        rows.filter(state__in=[State.PENDING, State.RETRY], next_attempt_at__lte=now)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(state=State.SENDING, lease_until=lease_until, updated_at=now)
    )


def _waiting_state(message: Message) -> str:
    return State.PENDING if message.attempts == 0 else State.RETRY


def _record_failure(
    owned,
    message: Message,
    exc,
    provider_name: str,
    *,
    permanent: bool,
    needs_lookup: bool,
    lookup_possible=False,
    counts_as_attempt=True,
) -> str:
    now = calendar.now()
    # The look-up-only attempt after the last one sends nothing, so it does not count: a dead
    # row shows the MESSAGE_MAX_ATTEMPTS sends it was allowed, never one more.
    attempts = message.attempts + (1 if counts_as_attempt else 0)
    error = _error_text(exc)
    if not permanent and attempts >= _max_attempts() and needs_lookup and lookup_possible:
        # Out of attempts but the provider may have taken it (a timeout): one more attempt that
        # only asks the provider, so a delivered message is not reported as failed.
        owned.update(
            state=State.RETRY, attempts=attempts, provider=provider_name, last_error=error,
            next_attempt_at=now + retry_delay(1), lease_until=None, needs_lookup=True, updated_at=now,
        )  # fmt: skip
        logger.warning("message %s out of attempts with an unknown outcome: one look-up left", message.pk)
        return "retry"
    if permanent or attempts >= _max_attempts():
        if needs_lookup:
            error = f"{error} (발송 여부 불확실)"[:LAST_ERROR_MAX]
        owned.update(
            state=State.DEAD,
            attempts=attempts,
            provider=provider_name,
            last_error=error,
            next_attempt_at=None,
            lease_until=None,
            needs_lookup=needs_lookup,
            updated_at=now,
        )
        logger.error(
            "message %s dead-lettered after %s attempt(s) via %s: %s", message.pk, attempts, provider_name, error
        )
        return "dead"
    next_at = now + retry_delay(attempts)
    if message.respect_quiet_hours and calendar.in_quiet_hours(next_at):
        next_at = calendar.next_allowed_send_time(next_at)
    owned.update(
        state=State.RETRY,
        attempts=attempts,
        provider=provider_name,
        last_error=error,
        next_attempt_at=next_at,
        lease_until=None,
        needs_lookup=needs_lookup,
        updated_at=now,
    )
    logger.warning(
        "message %s attempt %s via %s failed, retry at %s: %s",
        message.pk,
        attempts,
        provider_name,
        next_at.isoformat(),
        error,
    )
    return "retry"


def message_deliver(message_id: int) -> str:
    """One delivery attempt for `message_id`; safe to call any number of times, concurrently.

    Returns what happened: "sent", "recovered" (the provider already had it: marked sent, not
    resent), "deferred" (quiet hours), "retry", "dead", or "skipped" (not due, already sent,
    or another worker holds it).
    """
    now = calendar.now()
    lease_until = now + _lease()
    if not _claim(message_id, now, lease_until):
        return "skipped"
    message = Message.objects.get(pk=message_id)
    # Every write below is conditional on still holding this lease.
    owned = Message.objects.filter(pk=message_id, state=State.SENDING, lease_until=lease_until)

    if message.respect_quiet_hours and calendar.in_quiet_hours(now):
        owned.update(
            state=_waiting_state(message),
            next_attempt_at=calendar.next_allowed_send_time(now),
            lease_until=None,
            updated_at=now,
        )
        logger.info("message %s deferred: quiet hours", message_id)
        return "deferred"

    try:
        provider = get_provider(message.channel)
    except ProviderConfigurationError as exc:
        return _record_failure(owned, message, exc, "", permanent=True, needs_lookup=message.needs_lookup)

    needs_lookup = message.needs_lookup
    if needs_lookup and provider.supports_lookup:
        look_up_only = message.attempts >= _max_attempts()
        try:
            ref = provider.lookup(message.idempotency_key, message=message)
        except TemporaryProviderError as exc:
            # Cannot tell whether it went out: do not resend blind; try again later.
            return _record_failure(
                owned, message, exc, provider.name, permanent=False, needs_lookup=True,
                counts_as_attempt=not look_up_only,
            )  # fmt: skip
        except PermanentProviderError as exc:
            return _record_failure(
                owned, message, exc, provider.name, permanent=True, needs_lookup=True,
                counts_as_attempt=not look_up_only,
            )  # fmt: skip
        if ref:
            owned.update(
                state=State.SENT,
                provider=provider.name,
                provider_ref=str(ref)[:200],
                sent_at=now,
                next_attempt_at=None,
                lease_until=None,
                needs_lookup=False,
                last_error="",
                updated_at=now,
            )
            logger.info("message %s was already at %s (%s): marked sent, not resent", message_id, provider.name, ref)
            return "recovered"
        if look_up_only:
            # The provider does not have it and no send attempts are left.
            gone = TemporaryProviderError("not at the provider after the last attempt")
            return _record_failure(
                owned, message, gone, provider.name, permanent=True, needs_lookup=False, counts_as_attempt=False
            )
        needs_lookup = False  # the provider does not have it: sending is safe

    if not message.recipient:
        # Erased while a worker held it (see messages_forget_recipient): never send it.
        gone = PermanentProviderError("recipient erased")
        return _record_failure(owned, message, gone, provider.name, permanent=True, needs_lookup=needs_lookup)

    try:
        ref = provider.send(message)
    except TemporaryProviderError as exc:
        return _record_failure(
            owned, message, exc, provider.name, permanent=False, needs_lookup=needs_lookup or exc.maybe_delivered,
            lookup_possible=provider.supports_lookup,
        )  # fmt: skip
    except PermanentProviderError as exc:
        return _record_failure(owned, message, exc, provider.name, permanent=True, needs_lookup=needs_lookup)
    except Exception as exc:  # a bug or an unmapped library error: its text may hold personal data
        logger.error("message %s: unexpected %s from provider %s", message_id, type(exc).__name__, provider.name)
        unknown = TemporaryProviderError(f"unexpected error {type(exc).__name__}", maybe_delivered=True)
        return _record_failure(
            owned, message, unknown, provider.name, permanent=False, needs_lookup=True,
            lookup_possible=provider.supports_lookup,
        )  # fmt: skip

    sent_at = calendar.now()
    updated = owned.update(
        state=State.SENT,
        attempts=message.attempts + 1,
        provider=provider.name,
        provider_ref=str(ref)[:200],
        sent_at=sent_at,
        next_attempt_at=None,
        lease_until=None,
        needs_lookup=False,
        last_error="",
        updated_at=sent_at,
    )
    if not updated:
        # Our lease ran out while the provider was answering and another worker took the row;
        # it looks the message up before resending (needs_lookup was set by its claim).
        logger.warning(
            "message %s sent via %s but the lease had expired; left to the new owner", message_id, provider.name
        )
    else:
        logger.info("message %s sent via %s (%s)", message_id, provider.name, ref)
    return "sent"


# --- supervisor and sweep ----------------------------------------------------------------------


def message_retry_dead(message_id: int, actor_label: str) -> Message:
    """Put a dead-lettered message back in the queue (attempts reset, due now).

    If its last outcome was unknown (needs_lookup), the provider is still asked first.
    Raises NotFound or Conflict (not dead-lettered).
    """
    now = calendar.now()
    with transaction.atomic():
        updated = Message.objects.filter(pk=message_id, state=State.DEAD).update(
            state=State.PENDING, attempts=0, next_attempt_at=now, lease_until=None, updated_at=now
        )
        if not updated:
            if not Message.objects.filter(pk=message_id).exists():
                raise NotFound("메시지를 찾을 수 없습니다.")
            raise Conflict("발송 실패(보류) 상태의 메시지만 다시 보낼 수 있습니다.")
        enqueue_on_commit(delivery_task(), message_id)
    logger.info("message %s re-queued from the dead letters by %s", message_id, actor_label)
    return Message.objects.get(pk=message_id)


def messages_cancel(message_ids, *, reason: str) -> int:
    """Stop messages that have not left (waiting, retrying or dead-lettered): they become
    `cancelled` and are never sent. A message a worker is sending at this moment cannot be
    called back; it is left alone. Returns how many were cancelled."""
    now = calendar.now()
    cancelled = Message.objects.filter(pk__in=message_ids, state__in=[State.PENDING, State.RETRY, State.DEAD]).update(
        state=State.CANCELLED, next_attempt_at=None, last_error=reason[:LAST_ERROR_MAX], updated_at=now
    )
    if cancelled:
        logger.info("%s message(s) cancelled: %s", cancelled, reason)
    return cancelled


def messages_forget_recipient(message_ids) -> int:
    """Erase the recipient of these messages (retention / erasure): the encrypted address and
    its masked form. Unsent ones are cancelled first, so nothing can go to a forgotten address."""
    messages_cancel(message_ids, reason="수신처 삭제로 발송 취소")
    return Message.objects.filter(pk__in=message_ids).update(
        recipient="", recipient_masked="", updated_at=calendar.now()
    )


def outbox_sweep(limit: int | None = None) -> int:
    """Queue a delivery for every due pending/retry row and every row whose lease expired.

    The broker may have lost the first publish, retries are rows (not ETA tasks), and a worker
    may have died mid-send: this is what catches all three up. Queuing a row twice is harmless
    (the claim lets one attempt through). Returns the number of tasks queued.
    """
    deliver_message = delivery_task()
    limit = limit or int(getattr(settings, "OUTBOX_SWEEP_BATCH_SIZE", 500))
    now = calendar.now()
    # A row already queued for its current attempt is left alone (a backlog must not be
    # queued again every tick); one queued so long ago that the broker must have lost it is
    # queued again.
    lost_before = now - timedelta(seconds=float(getattr(settings, "OUTBOX_REQUEUE_AFTER_SECONDS", 300)))
    not_queued = Q(queued_at__isnull=True) | Q(queued_at__lt=F("next_attempt_at")) | Q(queued_at__lt=lost_before)
    due = list(
        Message.objects.filter(not_queued, state__in=[State.PENDING, State.RETRY], next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    stale = list(
        Message.objects.filter(state=State.SENDING, lease_until__lt=now)
        .order_by("lease_until")
        .values_list("pk", flat=True)[: max(0, limit - len(due))]
    )
    queued = 0
    for pk in stale + due:
        try:
            deliver_message.apply_async(args=(pk,), retry=False)
        except Exception as exc:  # broker down: the next sweep tries again
            logger.warning(
                "outbox sweep: broker unavailable after %s of %s (%s)",
                queued,
                len(stale) + len(due),
                type(exc).__name__,
            )
            break
        queued += 1
    if queued:
        published = (stale + due)[:queued]
        Message.objects.filter(pk__in=published, state__in=[State.PENDING, State.RETRY]).update(queued_at=now)
        logger.info("outbox sweep queued %s message(s) (%s stale lease)", queued, len(stale))
    return queued
