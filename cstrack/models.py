from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(_("생성 시각"), auto_now_add=True)
    updated_at = models.DateTimeField(_("수정 시각"), auto_now=True)

    class Meta:
        abstract = True


class Closure(models.Model):
    """A day the contact centre treats as a holiday on top of the public holidays
    (a company holiday, a system closure). Read by cstrack.calendar only."""

    date = models.DateField(_("날짜"), unique=True)
    name = models.CharField(_("사유"), max_length=100)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("등록자")
    )
    created_at = models.DateTimeField(_("등록 시각"), auto_now_add=True)

    class Meta:
        ordering = ["date"]
        verbose_name = _("추가 휴무일")
        verbose_name_plural = _("추가 휴무일")

    def __str__(self):
        return f"{self.date} {self.name}"


# --- REST API: integration keys and idempotency (used by tickets/api) ----------------------


class ApiKey(models.Model):
    """One key per integration. Only a SHA-256 of the secret is stored (keys are 256-bit random,
    so a plain hash is enough); `prefix` finds the row, the hash proves the key."""

    name = models.CharField(_("이름"), max_length=100, unique=True)
    prefix = models.CharField(_("키 앞부분"), max_length=16, unique=True)
    key_hash = models.CharField(max_length=64, unique=True)
    can_read = models.BooleanField(_("읽기"), default=True)
    can_write = models.BooleanField(_("쓰기"), default=False)
    can_manage_followups = models.BooleanField(_("후속 조치 변경"), default=False)
    # Ticket kind codes this key may see and write; empty means every kind.
    kinds = models.JSONField(_("허용 유형"), default=list, blank=True)
    rate_per_minute = models.PositiveIntegerField(_("분당 요청 한도"), default=600)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("생성 시각"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("폐기 시각"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("마지막 사용 시각"), null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("API 키")
        verbose_name_plural = _("API 키")

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class IdempotencyRecord(models.Model):
    """The stored outcome of a POST sent with an Idempotency-Key, per client, kept 24 hours."""

    class State(models.TextChoices):
        IN_PROGRESS = "in_progress", _("처리 중")
        DONE = "done", _("완료")

    client = models.CharField(max_length=80)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    state = models.CharField(max_length=12, choices=State.choices, default=State.IN_PROGRESS)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "key"], name="idempotency_client_key_unique")]
        verbose_name = _("중복 요청 방지 기록")
        verbose_name_plural = _("중복 요청 방지 기록")

    def __str__(self):
        return f"{self.client}:{self.key} ({self.state})"


IDEMPOTENCY_TTL_HOURS = 24


def idempotency_purge_expired(now=None) -> int:
    """Delete idempotency records older than 24 hours; returns how many went. Run from beat."""
    from datetime import timedelta

    from django.utils import timezone

    cutoff = (now or timezone.now()) - timedelta(hours=IDEMPOTENCY_TTL_HOURS)
    deleted, _by_model = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted


class LoginFailure(models.Model):
    """Failed-login counters for the lock-out (cstrack/auth.py), in the database so that the
    lock-out holds with Redis down: it fails closed, not open. `key` is a hash of the username
    or the client address, never the username itself."""

    key = models.CharField(max_length=80, unique=True)
    count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = _("로그인 실패 기록")
        verbose_name_plural = _("로그인 실패 기록")

    def __str__(self):
        return f"{self.key[:12]}… ({self.count})"
