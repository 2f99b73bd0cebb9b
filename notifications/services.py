"""Outbox services: enqueue, deliver (in batches), apply provider reports, retry a dead letter, sweep.

The rules live here; tasks and the admin only call these functions. `notifications` knows
nothing of tickets: it delivers what it is handed. See docs/delivery.md for the guarantees.

Delivery in one paragraph: `message_enqueue` writes the row in the caller's transaction and
queues `notifications.deliver_message(id)` after commit if the message is due (a caller writing
many uses `delivery_publish_on_commit(ids)`: one task per batch). `messages_deliver` claims a
batch of rows under one lease (one UPDATE ... RETURNING on PostgreSQL, so a row goes to one
worker only), asks the provider whether it already has a message when a previous attempt's
outcome is unknown, sends the batch (one request where the provider has a batch API), and
records each message's outcome under the same lease. `messages_apply_reports` moves accepted
messages on to delivered, to their AlimTalk fallback, or to the dead letters. `outbox_sweep`
re-queues whatever is due or whose lease expired (lost publish, retry due, worker killed).
"""

from __future__ import annotations

import copy
import logging
import random
import time
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from celery import current_app
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, CharField, F, Q, Value, When

from cstrack import calendar, outbound
from cstrack.errors import Conflict, DomainValidationError, NotFound
from cstrack.logging import scrub
from cstrack.pii import NormalisedPhone, is_mobile, mask_email, mask_phone, normalise_email, normalise_phone
from cstrack.tasks import enqueue_on_commit

from .models import Channel, Message, MessageTemplate, MessageType
from .providers import (
    NotAttempted,
    PermanentProviderError,
    ProviderConfigurationError,
    TemporaryProviderError,
    get_provider,
)
from .templating import (
    PLACEHOLDERS,
    check_sms_subject,
    check_sms_text,
    placeholders_in,
    render,
    sms_type,
    template_validate,
)

DELIVER_TASK = "notifications.deliver_message"


def delivery_task():
    """The deliver task, looked up by its registered name: `notifications.tasks` imports this
    module, never the reverse (NotificationsConfig.ready registers the tasks in every process)."""
    return current_app.tasks[DELIVER_TASK]


def delivery_publish_on_commit(message_ids) -> None:
    """Queue delivery of `message_ids` after commit, `DELIVERY_BATCH_SIZE` ids to a task (what a
    caller writing many messages at once uses: one publish per batch, not per message). If a
    publish fails (broker down) those rows are marked not queued, so the next sweep queues them.
    """
    ids = [int(pk) for pk in message_ids]
    for chunk in _chunks(ids, _batch_size()):
        enqueue_on_commit(
            delivery_task(), chunk,
            on_failure=lambda chunk=chunk: Message.objects.filter(pk__in=chunk).update(queued_at=None),
        )  # fmt: skip


__all__ = [
    "PLACEHOLDERS",
    "delivery_publish_on_commit",
    "message_deliver",
    "message_enqueue",
    "message_retry_dead",
    "messages_apply_reports",
    "messages_deliver",
    "messages_enqueue_many",
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


def _recipient(channel: str, recipient: str | NormalisedPhone) -> tuple[str, str]:
    """Normalise the recipient for its channel; return (value, masked). A `NormalisedPhone`
    (a number a record stores already normalised, with its mask) is taken as it is when it is
    a mobile number with a mask; anything else is normalised here."""
    if isinstance(recipient, NormalisedPhone):
        if channel == Channel.SMS and recipient.masked and is_mobile(recipient.e164):
            return recipient.e164, recipient.masked
        recipient = recipient.e164
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


def _alimtalk_fields(found: MessageTemplate, context: dict | None) -> dict:
    """The AlimTalk part of a message from an AlimTalk template: ids, the values of the
    template's placeholders as Kakao variables (`#{name}`), and the rendered SMS/LMS fallback."""
    fallback = render(found.fallback_body, context, channel=Channel.SMS, field="fallback_body")
    check_sms_text(fallback, "fallback_body")
    names = dict.fromkeys(placeholders_in(found.body) + placeholders_in(found.subject or "", "subject"))
    variables = {f"#{{{name}}}": "" if (context or {}).get(name) is None else str(context[name]) for name in names}
    return {
        "alimtalk_template_id": found.alimtalk_template_id.strip(),
        "alimtalk_pf_id": found.alimtalk_pf_id.strip(),
        "alimtalk_variables": variables,
        "fallback_body": fallback,
        "fallback_type": sms_type(fallback),
    }


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
    * SMS: the recipient is normalised to E.164 (a `pii.NormalisedPhone`, a number a record
      stores normalised with its mask, is taken as it is); the text must be EUC-KR and at most 2,000 bytes;
      the type (SMS/LMS) follows the length.
    * The first attempt is at max(now, not_before), moved to the end of quiet hours when
      `respect_quiet_hours` (customer messages). Only a message due now is queued at commit;
      a later one is picked up by the sweep when due.

    Raises DomainValidationError for bad input (nothing is written then).
    """
    _check_channel(channel)
    key = _check_key(idempotency_key)
    existing = Message.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return existing
    now = calendar.now()
    message = _build(
        now, channel=channel, recipient=recipient, key=key, template=template, context=context,
        subject=subject, body=body, respect_quiet_hours=respect_quiet_hours, not_before=not_before,
    )  # fmt: skip
    with transaction.atomic():  # a savepoint inside the caller's transaction
        try:
            with transaction.atomic():
                message.save(force_insert=True)
        except IntegrityError:
            # Another transaction wrote the same key first (and has committed).
            return Message.objects.get(idempotency_key=key)
        if message.queued_at is not None:
            # If the publish fails (broker down) the queued mark is cleared so the next sweep
            # queues it at once.
            enqueue_on_commit(
                delivery_task(), message.pk,
                on_failure=lambda: Message.objects.filter(pk=message.pk).update(queued_at=None),
            )  # fmt: skip
    logger.info(
        "message %s queued (%s, %s), first attempt at %s",
        message.pk, channel, message.message_type, message.next_attempt_at.isoformat(),
    )  # fmt: skip
    return message


def messages_enqueue_many(specs: list[dict]) -> list[Message]:
    """`message_enqueue` for many messages at once, with a constant number of statements: one
    look-up of the keys that exist, one INSERT ... ON CONFLICT DO NOTHING for the new rows, one
    read of their ids; the deliveries due now are published in batches once the transaction
    commits (`delivery_publish_on_commit`). Each spec holds `message_enqueue`'s keyword arguments; the result is aligned with
    `specs` (a key given twice, or already stored, yields the same row, as one by one).

    The rules are message_enqueue's (key checks, rendering, normalisation, SMS limits, quiet
    hours). Raises DomainValidationError if any spec is invalid: nothing is written then, and
    the caller decides how to isolate the bad one.
    """
    if not specs:
        return []
    keys = []
    for spec in specs:
        _check_channel(spec["channel"])
        keys.append(_check_key(spec["idempotency_key"]))
    found = {m.idempotency_key: m for m in Message.objects.filter(idempotency_key__in=set(keys))}
    now = calendar.now()
    new: dict[str, Message] = {}
    for key, spec in zip(keys, specs, strict=True):
        if key not in found and key not in new:
            fields = {name: value for name, value in spec.items() if name != "idempotency_key"}
            new[key] = _build(now, key=key, **fields)
    if new:
        Message.objects.bulk_create(new.values(), ignore_conflicts=True)
        found.update(_inserted(new))
        due_now = [found[key].pk for key, m in new.items() if m.queued_at is not None]
        delivery_publish_on_commit(due_now)  # one publish per delivery batch, not per message
        logger.info("%s message(s) queued in one insert (%s due now)", len(new), len(due_now))
    return [found[key] for key in keys]


def _inserted(new: dict[str, Message]) -> dict[str, Message]:
    """The stored row of each key just inserted with ON CONFLICT DO NOTHING (which returns no
    ids): our own object with its id where the row is ours, known by the creation time the
    insert gave it; else (a key another transaction wrote between the look-up and the insert)
    that transaction's row, as in message_enqueue. Reading back ids and times only spares
    building and decrypting every row again."""
    stored = Message.objects.filter(idempotency_key__in=list(new)).values_list("idempotency_key", "pk", "created_at")
    rows, theirs = {}, []
    for key, pk, created_at in stored:
        message = new[key]
        if created_at == message.created_at:
            message.pk, message._state.adding, message._state.db = pk, False, Message.objects.db
            rows[key] = message
        else:
            theirs.append(key)
    if theirs:
        rows.update((m.idempotency_key, m) for m in Message.objects.filter(idempotency_key__in=theirs))
    return rows


def _check_channel(channel: str) -> None:
    if channel not in Channel.values:
        raise DomainValidationError({"channel": [f"알 수 없는 채널입니다: {channel}"]})


def _build(
    now: datetime,
    *,
    channel: str,
    recipient: str | NormalisedPhone,
    key: str,
    template: MessageTemplate | str | None = None,
    context: dict | None = None,
    subject: str = "",
    body: str = "",
    respect_quiet_hours: bool = False,
    not_before: datetime | None = None,
) -> Message:
    """The unsaved outbox row: rendered, validated, its first attempt time set (quiet hours)."""
    found = _template(template, channel)
    alimtalk: dict = {}
    if found is not None:
        if subject or body:
            raise DomainValidationError({"body": ["템플릿을 쓸 때는 제목과 본문을 따로 넘기지 않습니다."]})
        subject = render(found.subject, context, channel=channel, field="subject")
        if found.uses_alimtalk:
            alimtalk = _alimtalk_fields(found, context)
            body = render(found.body, context, channel="alimtalk", field="body")
        else:
            body = render(found.body, context, channel=channel, field="body")
    subject = (subject or "").strip()
    if not (body or "").strip():
        raise DomainValidationError({"body": ["보낼 내용이 없습니다."]})
    value, masked = _recipient(channel, recipient)

    if alimtalk:
        check_sms_subject(subject)
        message_type = MessageType.ALIMTALK
    elif channel == Channel.SMS:
        check_sms_text(body, "body")
        check_sms_subject(subject)
        message_type = sms_type(body)
    else:
        message_type = {
            Channel.EMAIL: MessageType.EMAIL,
            Channel.CHAT: MessageType.CHAT,
            Channel.WEBHOOK: MessageType.WEBHOOK,
        }[channel]

    due = max(now, not_before) if not_before else now
    if respect_quiet_hours and calendar.in_quiet_hours(due):
        due = calendar.next_allowed_send_time(due)
    # Marked queued in the row when due now; if the publish fails (broker down) the mark is
    # cleared so the next sweep queues it at once.
    return Message(
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
        **alimtalk,
    )


# --- deliver -----------------------------------------------------------------------------------


def _error_text(exc: Exception) -> str:
    return scrub(str(exc) or type(exc).__name__)[:LAST_ERROR_MAX]


def _batch_size() -> int:
    return max(1, int(getattr(settings, "DELIVERY_BATCH_SIZE", 100)))


def _chunks(ids: list[int], size: int):
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _lease_token(now: datetime) -> datetime:
    """The lease end, which is also the claim's token: every write after the claim is
    conditional on `lease_until` still holding it. A random sub-second offset keeps two claims
    made in the same microsecond from sharing a token."""
    return now + _lease() + timedelta(microseconds=random.randrange(1, 1_000_000))


_CLAIM_SQL = """
WITH named AS (
       SELECT id FROM {table}
        WHERE id = ANY(%(ids)s)
          AND ((state IN (%(pending)s, %(retry)s) AND next_attempt_at <= %(now)s
                AND (lease_until IS NULL OR lease_until < %(now)s))
               OR (state = %(sending)s AND lease_until < %(now)s))
        ORDER BY id
        LIMIT %(limit)s
          FOR UPDATE SKIP LOCKED),
     also_due AS (
       SELECT id FROM {table}
        WHERE state IN (%(pending)s, %(retry)s) AND next_attempt_at <= %(now)s
          AND (lease_until IS NULL OR lease_until < %(now)s) AND NOT (id = ANY(%(ids)s))
        ORDER BY next_attempt_at
        LIMIT %(also_due)s
          FOR UPDATE SKIP LOCKED)
UPDATE {table} AS m
   SET state = %(sending)s, lease_until = %(lease)s, updated_at = %(now)s,
       needs_lookup = (m.needs_lookup OR m.state = %(sending)s)
 WHERE m.id IN (SELECT id FROM named UNION ALL SELECT id FROM also_due)
RETURNING m.*
"""


def _claim(message_ids: list[int], now: datetime, lease_until: datetime, also_due: int = 0) -> list[Message]:
    """Take the rows among `message_ids` that are due (pending/retry, due, lease free) or whose
    worker died mid-send (sending, lease expired: flagged `needs_lookup`, so they are looked up
    before any resend), plus up to `also_due` other rows that are due, oldest first; return
    the rows this worker won, all under the lease `lease_until`.

    PostgreSQL: one `UPDATE ... RETURNING` over `SELECT ... FOR UPDATE SKIP LOCKED`, so
    concurrent workers split the rows and never share one, and the claimed rows come back
    from the same statement. Elsewhere (SQLite, the embedded default, which serialises
    writers): select the candidates, update them conditionally, then read back which rows carry
    this claim's lease.
    """
    if not message_ids and not also_due:
        return []
    if connection.vendor == "postgresql":
        claimed = Message.objects.raw(
            _CLAIM_SQL.format(table=connection.ops.quote_name(Message._meta.db_table)),
            {
                "sending": State.SENDING, "pending": State.PENDING, "retry": State.RETRY, "lease": lease_until,
                "now": now, "ids": list(message_ids), "limit": len(message_ids), "also_due": also_due,
            },
        )  # fmt: skip
        return sorted(claimed, key=lambda m: m.pk)
    waiting = Q(state__in=[State.PENDING, State.RETRY], next_attempt_at__lte=now) & (
        Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    )
    stale = Q(state=State.SENDING, lease_until__lt=now)
    with transaction.atomic():
        candidates = list(Message.objects.filter(waiting | stale, pk__in=message_ids).values_list("pk", flat=True))
        if also_due:
            more = Message.objects.filter(waiting).exclude(pk__in=message_ids).order_by("next_attempt_at")
            candidates += list(more.values_list("pk", flat=True)[:also_due])
        if not candidates:
            return []
        rows = Message.objects.filter(pk__in=candidates)
        rows.filter(stale).update(lease_until=lease_until, needs_lookup=True, updated_at=now)
        rows.filter(waiting).update(state=State.SENDING, lease_until=lease_until, updated_at=now)
    return list(Message.objects.filter(pk__in=candidates, state=State.SENDING, lease_until=lease_until).order_by("pk"))


class _Owned:
    """The row, as long as this claim still holds it (its queryset is built only on a write:
    a batch builds none for the messages that go well)."""

    __slots__ = ("lease_until", "pk")

    def __init__(self, message: Message, lease_until: datetime):
        self.pk, self.lease_until = message.pk, lease_until

    def update(self, **fields) -> int:
        return Message.objects.filter(pk=self.pk, state=State.SENDING, lease_until=self.lease_until).update(**fields)


_owned = _Owned


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


def message_deliver(message_id: int, *, with_due: bool = False) -> str:
    """One delivery attempt for `message_id`; safe to call any number of times, concurrently.

    `with_due` (what the deliver task does for a single id): the same claim also takes up to
    `DELIVERY_BATCH_SIZE` − 1 other messages that are due, oldest first, and sends them in the
    same batch; their own tasks then find them taken and do nothing. So a backlog published one
    id at a time still goes out in batches.

    Returns what happened: "sent", "recovered" (the provider already had it: marked sent, not
    resent), "deferred" (quiet hours), "retry", "dead", "released" (its batch ran out of time
    before its turn: due again, no attempt counted), or "skipped" (not due, already sent, or
    another worker holds it).
    """
    message_id = int(message_id)
    if with_due:
        return _deliver_batch([message_id], also_due=_batch_size() - 1).get(message_id, "skipped")
    return messages_deliver([message_id]).get(message_id, "skipped")


def messages_deliver(message_ids) -> dict[int, str]:
    """One delivery attempt for each of `message_ids`, `DELIVERY_BATCH_SIZE` (100) at a time:
    one claim, one read, the sends (one request per batch where the provider has a batch API),
    one write for every message sent and one per failure. Returns {id: outcome} with the
    outcomes of `message_deliver`; ids not claimed (not due, sent, held elsewhere) are
    "skipped". Safe to call any number of times, concurrently, with overlapping ids."""
    ids = list(dict.fromkeys(int(pk) for pk in message_ids))
    results = dict.fromkeys(ids, "skipped")
    for chunk in _chunks(ids, _batch_size()):
        results.update(_deliver_batch(chunk))
    return results


def _send_deadline() -> float:
    """When a batch stops starting sends or look-ups (time.monotonic()): early enough that the
    last request, even one that times out, ends inside the lease. Past it, the messages left
    go back to waiting (NotAttempted), so another worker never takes over a row this one may
    still send."""
    limit = float(getattr(settings, "PROVIDER_TIMEOUT", 5.0))
    return time.monotonic() + _lease().total_seconds() - 2 * limit - 1


def _deliver_batch(message_ids: list[int], also_due: int = 0) -> dict[int, str]:
    deadline = _send_deadline()
    now = calendar.now()
    lease_until = _lease_token(now)
    messages = _claim(message_ids, now, lease_until, also_due)
    if not messages:
        return {}
    results: dict[int, str] = {}
    unknown = [m.pk for m in messages if m.needs_lookup]
    if unknown:
        logger.warning("message(s) %s: an earlier attempt's outcome is unknown; checking the provider first", unknown)

    # Quiet hours: release the claim until they end (customer messages only).
    quiet = [m for m in messages if m.respect_quiet_hours and calendar.in_quiet_hours(now)]
    if quiet:
        resume = calendar.next_allowed_send_time(now)
        for waiting in (State.PENDING, State.RETRY):
            group = [m.pk for m in quiet if _waiting_state(m) == waiting]
            if group:
                Message.objects.filter(pk__in=group, state=State.SENDING, lease_until=lease_until).update(
                    state=waiting, next_attempt_at=resume, lease_until=None, updated_at=now
                )
        results.update(dict.fromkeys((m.pk for m in quiet), "deferred"))
        logger.info("%s message(s) deferred: quiet hours", len(quiet))

    by_channel: dict[str, list[Message]] = {}
    for message in messages:
        if message.pk not in results:
            by_channel.setdefault(message.channel, []).append(message)
    for channel, group in by_channel.items():
        try:
            provider = get_provider(channel)
        except ProviderConfigurationError as exc:
            for message in group:
                results[message.pk] = _record_failure(
                    _owned(message, lease_until), message, exc, "", permanent=True, needs_lookup=message.needs_lookup
                )
            continue
        to_send = []
        for message in group:
            if message.needs_lookup and time.monotonic() > deadline:
                results[message.pk] = _release(message, lease_until)
                continue
            message = _route(message, provider)
            outcome, needs_lookup = _before_send(message, provider, now, lease_until)
            if outcome:
                results[message.pk] = outcome
            else:
                to_send.append((message, needs_lookup))
        if to_send:
            results.update(_send_and_record(provider, to_send, lease_until, deadline))
    return results


_SENT_SQL = """
UPDATE {table} AS m
   SET state = %(sent)s, attempts = m.attempts + 1, provider = %(provider)s, provider_ref = v.ref,
       sent_as = v.sent_as, report_code = '', reported_at = NULL,
       sent_at = %(at)s, next_attempt_at = NULL, lease_until = NULL, needs_lookup = FALSE,
       last_error = '', updated_at = %(at)s
  FROM (SELECT UNNEST(%(ids)s::bigint[]) AS id, UNNEST(%(refs)s::text[]) AS ref,
               UNNEST(%(types)s::text[]) AS sent_as) AS v
 WHERE m.id = v.id AND m.state = %(sending)s AND m.lease_until = %(lease)s
"""


def _record_sent(sent: list[tuple[Message, str]], provider_name: str, lease_until: datetime, sent_at) -> int:
    """Mark every message of `sent` (message, provider reference) sent, in one statement, as
    long as this claim still holds it. Returns how many rows were marked."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                _SENT_SQL.format(table=connection.ops.quote_name(Message._meta.db_table)),
                {
                    "sent": State.SENT, "sending": State.SENDING, "provider": provider_name, "at": sent_at,
                    "lease": lease_until, "ids": [m.pk for m, _ in sent], "refs": [ref for _, ref in sent],
                    "types": [m.message_type for m, _ in sent],
                },
            )  # fmt: skip
            return cursor.rowcount
    return Message.objects.filter(pk__in=[m.pk for m, _ in sent], state=State.SENDING, lease_until=lease_until).update(
        state=State.SENT,
        attempts=F("attempts") + 1,
        provider=provider_name,
        provider_ref=Case(*(When(pk=m.pk, then=Value(ref)) for m, ref in sent), output_field=CharField()),
        sent_as=Case(*(When(pk=m.pk, then=Value(m.message_type)) for m, _ in sent), output_field=CharField()),
        report_code="",
        reported_at=None,
        sent_at=sent_at,
        next_attempt_at=None,
        lease_until=None,
        needs_lookup=False,
        last_error="",
        updated_at=sent_at,
    )


def _release(message: Message, lease_until: datetime) -> str:
    """Give the row back untouched (no attempt made): due now, not queued, so the next sweep
    publishes it again. Its needs_lookup flag stays."""
    now = calendar.now()
    _owned(message, lease_until).update(
        state=_waiting_state(message), next_attempt_at=now, lease_until=None, queued_at=None, updated_at=now
    )
    return "released"


def _route(message: Message, provider) -> Message:
    """What goes to the provider for this row: the message itself, or, for an AlimTalk whose
    fallback is active (or a provider without AlimTalk), a copy carrying its SMS/LMS fallback
    text and type, marked as the "fallback" route (the look-up tells the two apart)."""
    if message.message_type != MessageType.ALIMTALK or (provider.supports_alimtalk and not message.on_fallback):
        return message
    fallback = copy.copy(message)
    fallback.body, fallback.message_type = message.fallback_body, message.fallback_type
    fallback.delivery_route = "fallback"
    return fallback


def _can_fall_back(message: Message) -> bool:
    return message.message_type == MessageType.ALIMTALK and bool(message.fallback_body)


def _fall_back(rows, message: Message, reason: str, *, count_attempt: bool = True) -> str:
    """The AlimTalk failed for good: the row is due again at once as its SMS/LMS fallback
    (`on_fallback`), and a delivery is published. A refusal at send counts as an attempt; a
    failure reported later does not count again (its send was counted when accepted)."""
    now = calendar.now()
    updated = rows.update(
        state=State.RETRY, on_fallback=True, attempts=F("attempts") + (1 if count_attempt else 0),
        next_attempt_at=now, lease_until=None,
        needs_lookup=False, queued_at=now, last_error=f"{reason} → {outbound.FELL_BACK}"[:LAST_ERROR_MAX], updated_at=now,
    )  # fmt: skip
    if updated:
        delivery_publish_on_commit([message.pk])
        logger.info("message %s: AlimTalk failed, its SMS/LMS fallback goes next", message.pk)
    return "fallback" if updated else "skipped"


def _before_send(message: Message, provider, now: datetime, lease_until: datetime) -> tuple[str | None, bool]:
    """Whatever must happen before `message` may be sent: the look-up at the provider when an
    earlier attempt's outcome is unknown, and the erased-recipient check. Returns (outcome, _)
    when the attempt ends here, else (None, needs_lookup) for the send."""
    owned = _owned(message, lease_until)
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
            ), True  # fmt: skip
        except PermanentProviderError as exc:
            return _record_failure(
                owned, message, exc, provider.name, permanent=True, needs_lookup=True,
                counts_as_attempt=not look_up_only,
            ), True  # fmt: skip
        if ref:
            owned.update(
                state=State.SENT,
                provider=provider.name,
                provider_ref=str(ref)[:200],
                sent_as=message.message_type,
                sent_at=now,
                next_attempt_at=None,
                lease_until=None,
                needs_lookup=False,
                last_error="",
                updated_at=now,
            )
            logger.info("message %s was already at %s (%s): marked sent, not resent", message.pk, provider.name, ref)
            return "recovered", False
        if look_up_only:
            # The provider does not have it and no send attempts are left.
            gone = TemporaryProviderError("not at the provider after the last attempt")
            return _record_failure(
                owned, message, gone, provider.name, permanent=True, needs_lookup=False, counts_as_attempt=False
            ), False
        needs_lookup = False  # the provider does not have it: sending is safe

    if not message.recipient:
        # Erased while a worker held it (see messages_forget_recipient): never send it.
        gone = PermanentProviderError("recipient erased")
        return _record_failure(owned, message, gone, provider.name, permanent=True, needs_lookup=needs_lookup), False
    return None, needs_lookup


def _send_and_record(
    provider, to_send: list[tuple[Message, bool]], lease_until: datetime, deadline: float
) -> dict[int, str]:
    """Send the batch outside any transaction (no lock is held across the network), then
    record every result under the claim's lease: one UPDATE for all messages sent, one per
    failure."""
    batch = [message for message, _ in to_send]
    try:
        outcomes = provider.send_many(batch, deadline=deadline)
        if len(outcomes) != len(batch):
            raise RuntimeError("send_many answered for a different number of messages")
    except Exception as exc:  # a bug in the provider's batch code: we cannot tell what left
        logger.error("provider %s: unexpected %s sending a batch of %s", provider.name, type(exc).__name__, len(batch))
        outcomes = [exc] * len(batch)

    results: dict[int, str] = {}
    sent: list[tuple[Message, str]] = []
    for (message, needs_lookup), outcome in zip(to_send, outcomes, strict=True):
        owned = _owned(message, lease_until)
        if isinstance(outcome, NotAttempted):
            results[message.pk] = _release(message, lease_until)
        elif isinstance(outcome, TemporaryProviderError):
            results[message.pk] = _record_failure(
                owned, message, outcome, provider.name, permanent=False,
                needs_lookup=needs_lookup or outcome.maybe_delivered, lookup_possible=provider.supports_lookup,
            )  # fmt: skip
        elif isinstance(outcome, PermanentProviderError) and _can_fall_back(message):
            results[message.pk] = _fall_back(owned, message, f"알림톡 발송 거절({_error_text(outcome)})")
        elif isinstance(outcome, PermanentProviderError):
            results[message.pk] = _record_failure(
                owned, message, outcome, provider.name, permanent=True, needs_lookup=needs_lookup
            )
        elif isinstance(outcome, Exception) or not outcome:
            # A bug or an unmapped library error (its text may hold personal data), or no
            # reference at all: the message may have left, so look it up before any resend.
            logger.error(
                "message %s: unexpected %s from provider %s", message.pk, type(outcome).__name__, provider.name
            )
            unknown = TemporaryProviderError(f"unexpected error {type(outcome).__name__}", maybe_delivered=True)
            results[message.pk] = _record_failure(
                owned, message, unknown, provider.name, permanent=False, needs_lookup=True,
                lookup_possible=provider.supports_lookup,
            )  # fmt: skip
        else:
            sent.append((message, str(outcome)[:200]))
    if sent:
        sent_at = calendar.now()
        updated = _record_sent(sent, provider.name, lease_until, sent_at)
        if updated < len(sent):
            # The lease ran out while the provider was answering and another worker took some
            # rows; it looks them up before resending (its claim set needs_lookup).
            logger.warning(
                "%s of %s message(s) sent via %s after the lease had expired; left to the new owner",
                len(sent) - updated, len(sent), provider.name,
            )  # fmt: skip
        for message, ref in sent:
            results[message.pk] = "sent"
            logger.debug("message %s sent via %s (%s)", message.pk, provider.name, ref)
        logger.info("%s message(s) sent via %s", len(sent), provider.name)
    return results


# --- provider reports ----------------------------------------------------------------------------


def messages_apply_reports(provider_name: str, reports) -> dict[str, int]:
    """Apply a provider's delivery reports (`DeliveryReport`: its reference, outcome, code).

    Only an accepted row (`sent`, same provider, same reference) moves: "delivered" → delivered;
    "failed" → for an AlimTalk with a fallback, due again at once as its SMS/LMS; otherwise
    dead-lettered with the code. "pending" (not final) changes nothing. Idempotent: a report
    applied twice, or one for a reference that has since been replaced by the fallback's, finds
    no accepted row and is counted as "ignored". Returns counts per outcome.
    """
    counts = dict.fromkeys(("delivered", "fallback", "failed", "pending", "ignored"), 0)
    final = {}
    for report in reports:
        if report.outcome == "pending":
            counts["pending"] += 1
        else:
            final[report.provider_ref] = report
    if not final:
        return counts
    now = calendar.now()
    rows = Message.objects.filter(state=State.SENT, provider=provider_name, provider_ref__in=list(final))
    for message in rows.only("pk", "provider_ref", "message_type", "fallback_body", "sent_as", "attempts"):
        report = final.pop(message.provider_ref)
        accepted = Message.objects.filter(pk=message.pk, state=State.SENT, provider_ref=message.provider_ref)
        if report.outcome == "delivered":
            accepted.update(
                state=State.DELIVERED, delivered_at=now, report_code=report.code, reported_at=now, updated_at=now
            )
            counts["delivered"] += 1
        elif message.sent_as == MessageType.ALIMTALK and _can_fall_back(message):
            accepted.update(report_code=report.code, reported_at=now)
            _fall_back(
                accepted, message, f"알림톡 {outbound.NOT_DELIVERED}(결과 코드 {report.code})", count_attempt=False
            )
            counts["fallback"] += 1
        else:
            accepted.update(
                state=State.DEAD, report_code=report.code, reported_at=now, next_attempt_at=None,
                last_error=f"{outbound.NOT_DELIVERED}(결과 코드 {report.code})", updated_at=now,
            )  # fmt: skip
            logger.error("message %s: provider reported it undelivered (%s)", message.pk, report.code)
            counts["failed"] += 1
    counts["ignored"] += len(final)
    if any(counts.values()):
        logger.info("%s reports applied: %s", provider_name, counts)
    return counts


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
    (the claim lets one attempt through). Ids go out `DELIVERY_BATCH_SIZE` to a task.
    Returns the number of messages queued.
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
    # One task per batch of ids: a worker claims and sends each batch together.
    ids = stale + due
    queued = 0
    for chunk in _chunks(ids, _batch_size()):
        try:
            deliver_message.apply_async(args=(chunk,), retry=False)
        except Exception as exc:  # broker down: the next sweep tries again
            logger.warning("outbox sweep: broker unavailable after %s of %s (%s)", queued, len(ids), type(exc).__name__)
            break
        queued += len(chunk)
    if queued:
        published = ids[:queued]
        Message.objects.filter(pk__in=published, state__in=[State.PENDING, State.RETRY]).update(queued_at=now)
        logger.info("outbox sweep queued %s message(s) (%s stale lease)", queued, len(stale))
    return queued
