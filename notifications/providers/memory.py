"""In-memory provider for tests: a module-level outbox with failure injection.

    from notifications.providers import memory
    memory.reset()
    memory.inject("temporary", "timeout", "permanent")  # consumed one per send, in order
    ...
    memory.outbox()       # list of dicts, one per *actual* send (duplicates included)
    memory.sent_count(key)

Failure kinds:
    "temporary"  TemporaryProviderError, nothing recorded (a 503 before processing)
    "timeout"    the message IS recorded, then TemporaryProviderError(maybe_delivered=True)
                 (the provider took it but the answer never arrived)
    "permanent"  PermanentProviderError, nothing recorded
    "lookup_error" makes the next lookup() raise TemporaryProviderError
`set_delay(seconds)` makes every send sleep first (to widen race windows in tests).
The same store serves every channel when settings route a channel to "memory".
"""

from __future__ import annotations

import copy
import itertools
import threading
import time

from .base import PermanentProviderError, Provider, TemporaryProviderError

_lock = threading.Lock()
_outbox: list[dict] = []
_failures: list[str] = []
_lookup_failures: list[str] = []
_delay = 0.0
_counter = itertools.count(1)

KINDS = {"temporary", "timeout", "permanent", "lookup_error"}


def reset() -> None:
    global _delay
    with _lock:
        _outbox.clear()
        _failures.clear()
        _lookup_failures.clear()
        _delay = 0.0


def outbox() -> list[dict]:
    with _lock:
        return copy.deepcopy(_outbox)


def sent_count(idempotency_key: str) -> int:
    with _lock:
        return sum(1 for row in _outbox if row["idempotency_key"] == idempotency_key)


def inject(*kinds: str) -> None:
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"unknown failure kind {kind!r}; expected one of {sorted(KINDS)}")
    with _lock:
        for kind in kinds:
            (_lookup_failures if kind == "lookup_error" else _failures).append(kind)


def set_delay(seconds: float) -> None:
    global _delay
    _delay = seconds


def record(idempotency_key: str, **fields) -> str:
    """Put a message in the outbox as if the provider had received it (crash-recovery tests)."""
    with _lock:
        ref = f"mem-{next(_counter)}"
        _outbox.append({"idempotency_key": idempotency_key, "provider_ref": ref, **fields})
        return ref


class MemoryProvider(Provider):
    name = "memory"
    supports_lookup = True

    def send(self, message) -> str:
        if _delay:
            time.sleep(_delay)
        with _lock:
            failure = _failures.pop(0) if _failures else None
        if failure == "temporary":
            raise TemporaryProviderError("memory: injected temporary failure")
        if failure == "permanent":
            raise PermanentProviderError("memory: injected permanent failure")
        ref = record(
            message.idempotency_key,
            message_id=message.pk,
            channel=message.channel,
            type=message.message_type,
            to=message.recipient,
            subject=message.subject,
            text=message.body,
        )
        if failure == "timeout":
            raise TemporaryProviderError("memory: injected timeout", maybe_delivered=True)
        return ref

    def lookup(self, idempotency_key, *, message=None):
        with _lock:
            if _lookup_failures:
                _lookup_failures.pop(0)
                raise TemporaryProviderError("memory: injected lookup failure")
            for row in _outbox:
                if row["idempotency_key"] == idempotency_key:
                    return row["provider_ref"]
        return None
