"""The configuration an administrator edits and every ticket creation reads -- active kinds with
their current schema and default board, boards, active follow-up policies with their templates --
kept in each process and reloaded when any of it changes.

Why: creating a ticket read all of it from PostgreSQL on every request (five statements and their
ORM work, about a third of the create path's Python time); it changes a few times a month.

How a change reaches every process: a "generation" token in the shared cache (Redis). A save or
delete of any of these models (signals below; `changed()` for the one bulk update, in
tickets/kinds/behaviours.py) sets a new token at once and again when its transaction commits;
a process uses what it holds only while the token is the one it loaded under. So:
- a change is seen by the next request in every process, once committed;
- while this process has an uncommitted change of its own, it reads the database (its own
  transaction sees it; were it rolled back, nothing of it was kept);
- with Redis unreachable there is no token: every call reads the database, as before.
A token set while Redis was briefly down is lost; MAX_AGE_SECONDS bounds how long a process can
then serve the previous configuration.
"""

import contextvars
import time
import uuid
from contextlib import contextmanager

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Q
from django.db.models.signals import post_delete, post_save

GENERATION_KEY = "tickets:configuration:generation"
MAX_AGE_SECONDS = 60


class _Held:
    generation = None
    loaded_at = 0.0
    kinds: dict = {}
    boards: dict = {}
    policies: list = []
    # True from a configuration write in this process until its transaction ends.
    uncommitted_write = False


_held = _Held()


def _current_generation() -> str | None:
    token = cache.get(GENERATION_KEY)
    if token is None:
        cache.add(GENERATION_KEY, uuid.uuid4().hex, timeout=None)
        token = cache.get(GENERATION_KEY)  # None when Redis is unreachable
    return token


def _load(generation) -> None:
    from tickets.models import Board, FollowUpPolicy, TicketKind

    kinds = {}
    for kind in (
        TicketKind.objects.filter(active=True).select_related("default_board").prefetch_related("schema_versions")
    ):
        kind.current_schema  # noqa: B018 - worked out now, from the prefetched versions
        del kind._prefetched_objects_cache["schema_versions"]  # every version's schema: not kept
        kinds[kind.code] = kind
    _held.kinds = kinds
    _held.boards = {board.code: board for board in Board.objects.all()}
    _held.policies = list(FollowUpPolicy.objects.filter(active=True).select_related("template"))
    _held.generation, _held.loaded_at = generation, time.monotonic()


# Inside one_view(): whether the generation has been checked already (True) or not yet (False).
_checked_in_view: contextvars.ContextVar[bool | None] = contextvars.ContextVar("configuration_checked", default=None)


@contextmanager
def one_view():
    """Within it, the generation is checked once: one cache round trip for a whole ticket
    creation (kind, board, policies), which then also reads them from one generation.
    Usable as a decorator (a fresh context per call)."""
    token = _checked_in_view.set(False)
    try:
        yield
    finally:
        _checked_in_view.reset(token)


def _usable() -> bool:
    """Whether the held configuration may answer (loading it first if needed)."""
    if _checked_in_view.get() and _held.generation is not None and not _held.uncommitted_write:
        return True
    if _held.uncommitted_write:
        if connection.in_atomic_block:
            return False
        _held.uncommitted_write = False  # that transaction has ended (committed or rolled back)
    generation = _current_generation()
    if generation is None:
        return False
    if generation != _held.generation or time.monotonic() - _held.loaded_at > MAX_AGE_SECONDS:
        _load(generation)
    if _checked_in_view.get() is False:
        _checked_in_view.set(True)
    return True


def active_kind(code: str):
    """The active kind with this code (default board and current schema attached), or None."""
    from tickets.models import TicketKind

    if _usable():
        return _held.kinds.get(code)
    return TicketKind.objects.select_related("default_board").filter(code=code, active=True).first()


def board(code: str):
    from tickets.models import Board

    if _usable():
        return _held.boards.get(code)
    return Board.objects.filter(code=code).first()


def active_policies(kind, **attributes) -> list:
    """Active follow-up policies for `kind` (or for every kind) whose fields equal `attributes`
    (`template__channel` looks through the template), in the model's order."""
    from tickets.models import FollowUpPolicy

    if not _usable():
        return list(
            FollowUpPolicy.objects.filter(
                Q(kind=kind) | Q(kind__isnull=True), active=True, **attributes
            ).select_related("template")
        )

    def matches(policy) -> bool:
        for name, wanted in attributes.items():
            if name == "template__channel":
                value = policy.template.channel if policy.template_id else None
            else:
                value = getattr(policy, name)
            if value != wanted:
                return False
        return True

    return [p for p in _held.policies if p.kind_id in (None, kind.pk) and matches(p)]


def changed(**_signal_arguments) -> None:
    """Something the held configuration comes from changed: every process reloads."""
    _held.generation = None
    _held.uncommitted_write = True
    cache.set(GENERATION_KEY, uuid.uuid4().hex, timeout=None)
    transaction.on_commit(_committed)


def _committed() -> None:
    _held.uncommitted_write = False
    cache.set(GENERATION_KEY, uuid.uuid4().hex, timeout=None)


def forget() -> None:
    """Drop what this process holds (tests: each starts from the database)."""
    _held.generation = None
    _held.uncommitted_write = False


def connect_signals() -> None:
    from notifications.models import MessageTemplate
    from tickets.models import Board, FollowUpPolicy, TicketKind, TicketKindSchema

    for model in (TicketKind, TicketKindSchema, Board, FollowUpPolicy, MessageTemplate):
        post_save.connect(changed, sender=model, dispatch_uid=f"configuration-{model.__name__}-saved")
        post_delete.connect(changed, sender=model, dispatch_uid=f"configuration-{model.__name__}-deleted")
