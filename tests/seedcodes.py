"""Seed kind and board codes as the tests name them, and the codes they have in the database.

Normally the same. Under the `seed_codes` fixture's "renamed" parameter every seed kind and
board gets a new code after seeding, the way an administrator would rename them in the admin
(kinds' behaviour settings and API-key scopes follow), and `seed(code)` answers the new code.
Tests written with `seed(...)` at the places they name a code then run unchanged under both."""

from __future__ import annotations

_renamed: dict[str, str] = {}


def seed(code: str) -> str:
    """The code the seed kind or board that ships as `code` has now."""
    return _renamed.get(code, code)


def rename_every_seed_code() -> dict[str, str]:
    from django.db import transaction

    from tickets.kinds import services as kind_services
    from tickets.models import Board, TicketKind

    mapping = {}
    with transaction.atomic():
        for model, rename in ((Board, kind_services.board_renamed), (TicketKind, kind_services.kind_renamed)):
            for obj in model.objects.all():
                old, new = obj.code, f"renamed-{obj.code[::-1]}"
                obj.code = new
                obj.save(update_fields=["code"])
                rename(old, new)
                mapping[old] = new
    _renamed.update(mapping)
    return mapping


def restore() -> None:
    _renamed.clear()
