"""API keys: issue, verify, revoke. Only a SHA-256 of a key is stored; the key is shown once.

A key looks like `cst_<prefix>_<secret>`: the prefix (8 hex characters) finds the row, the
hash of the whole key proves it. Keys carry 256 bits of randomness, so a fast hash is enough
(no password-style stretching needed)."""

import hashlib
import hmac
import secrets

from django.db import transaction
from django.utils import timezone

from cstrack.errors import DomainValidationError
from cstrack.models import ApiKey

KEY_PREFIX = "cst"
SCOPES = ("read", "write", "followups")
LAST_USED_RESOLUTION_SECONDS = 60


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def apikey_create(
    *, name: str, scopes=("read",), kinds=(), rate_per_minute: int = 600, created_by=None
) -> tuple[ApiKey, str]:
    """Create a key; returns (row, plain key). The plain key is never stored or shown again."""
    from tickets.models import TicketKind

    name = (name or "").strip()
    errors = {}
    if not name:
        errors["name"] = ["이름을 입력해 주세요."]
    elif ApiKey.objects.filter(name=name).exists():
        errors["name"] = ["같은 이름의 키가 이미 있습니다."]
    unknown_scopes = sorted(set(scopes) - set(SCOPES))
    if unknown_scopes:
        errors["scope"] = [f"알 수 없는 권한 범위: {', '.join(unknown_scopes)} (선택지: {', '.join(SCOPES)})"]
    kinds = sorted(set(kinds or ()))
    unknown_kinds = sorted(set(kinds) - set(TicketKind.objects.filter(code__in=kinds).values_list("code", flat=True)))
    if unknown_kinds:
        errors["kinds"] = [f"알 수 없는 티켓 유형: {', '.join(unknown_kinds)}"]
    if errors:
        raise DomainValidationError(errors)
    prefix = secrets.token_hex(4)
    while ApiKey.objects.filter(prefix=prefix).exists():  # pragma: no cover - 1 in 4 billion
        prefix = secrets.token_hex(4)
    plain = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        name=name,
        prefix=prefix,
        key_hash=_hash(plain),
        can_read="read" in scopes,
        can_write="write" in scopes,
        can_manage_followups="followups" in scopes,
        kinds=kinds,
        rate_per_minute=rate_per_minute,
        created_by=created_by if getattr(created_by, "pk", None) else None,
    )
    return key, plain


def apikey_revoke(key: ApiKey) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=key.revoked_at)
    return key


def apikey_verify(presented: str) -> ApiKey | None:
    """The active key matching `presented`, or None. Records the last use (at most once a minute)."""
    parts = (presented or "").strip().split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    key = ApiKey.objects.filter(prefix=parts[1]).first()
    if key is None or not hmac.compare_digest(key.key_hash, _hash(presented.strip())):
        return None
    if key.revoked_at is not None:
        return None
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() >= LAST_USED_RESOLUTION_SECONDS:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key
