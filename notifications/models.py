"""Message templates (data an administrator edits) and the outbox (one row per message).

The outbox row is written in the same transaction as the change that caused it; delivery reads
it by id. See docs/delivery.md for the states and guarantees.
"""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from cstrack.errors import DomainValidationError
from cstrack.models import TimeStampedModel
from cstrack.pii import EncryptedTextField

from .templating import PLACEHOLDERS, template_validate


class Channel(models.TextChoices):
    SMS = "sms", _("문자(SMS/LMS)")
    EMAIL = "email", _("이메일")
    CHAT = "chat", _("메신저(채팅 웹훅)")
    WEBHOOK = "webhook", _("웹훅")


class MessageType(models.TextChoices):
    SMS = "SMS", _("단문(SMS)")
    LMS = "LMS", _("장문(LMS)")
    ALIMTALK = "ATA", _("카카오 알림톡")
    EMAIL = "EMAIL", _("이메일")
    CHAT = "CHAT", _("메신저")
    WEBHOOK = "WEBHOOK", _("웹훅")


class MessageTemplate(TimeStampedModel):
    code = models.SlugField(_("코드"), max_length=60, unique=True)
    name = models.CharField(_("이름"), max_length=100)
    channel = models.CharField(_("채널"), max_length=10, choices=Channel.choices, default=Channel.SMS)
    subject = models.CharField(
        _("제목"), max_length=200, blank=True, help_text=_("이메일 제목 또는 장문 문자(LMS) 제목. 비워 둘 수 있습니다.")
    )
    body = models.TextField(
        _("본문"),
        help_text=_(
            "{reference} 처럼 중괄호로 감싼 자리표시자를 쓸 수 있습니다. 허용 목록 밖의 이름은 저장되지 않습니다."
        ),
    )
    active = models.BooleanField(_("사용"), default=True)
    # Kakao AlimTalk (문자 채널 템플릿만): the body is then the approved AlimTalk text, and
    # `fallback_body` the SMS/LMS sent when AlimTalk cannot reach the customer.
    alimtalk_template_id = models.CharField(
        _("알림톡 템플릿 ID"),
        max_length=100,
        blank=True,
        help_text=_("카카오 검수를 통과한 알림톡 템플릿의 ID. 비워 두면 문자로만 보냅니다."),
    )
    alimtalk_pf_id = models.CharField(
        _("카카오 채널 ID(pfId)"), max_length=100, blank=True, help_text=_("알림톡을 보내는 카카오 비즈니스 채널.")
    )
    fallback_body = models.TextField(
        _("대체 문자 본문"),
        blank=True,
        help_text=_("알림톡을 받을 수 없을 때 대신 보내는 문자(SMS/LMS) 본문. 알림톡 템플릿에는 꼭 필요합니다."),
    )

    class Meta:
        ordering = ["code"]
        verbose_name = _("메시지 템플릿")
        verbose_name_plural = _("메시지 템플릿")

    def __str__(self):
        return f"{self.code} ({self.get_channel_display()})"

    @property
    def uses_alimtalk(self) -> bool:
        return bool(self.alimtalk_template_id)

    def clean(self):
        super().clean()
        try:
            template_validate(
                self.body,
                self.channel,
                self.subject,
                alimtalk=(self.alimtalk_template_id, self.alimtalk_pf_id),
                fallback_body=self.fallback_body,
            )
        except DomainValidationError as exc:
            raise ValidationError(exc.field_errors or exc.detail) from None

    @staticmethod
    def placeholder_help() -> str:
        return ", ".join(f"{{{name}}} {label}" for name, label in PLACEHOLDERS.items())


class Message(TimeStampedModel):
    """One outbound message. Never shows or logs `recipient`; listings use `recipient_masked`."""

    class State(models.TextChoices):
        PENDING = "pending", _("발송 대기")
        SENDING = "sending", _("발송 중")
        # "sent" is the provider's acceptance, not the customer's phone: its report moves the
        # row on to "delivered", or back to a retry by fallback, or to the dead letters.
        SENT = "sent", _("발송사 접수")
        DELIVERED = "delivered", _("수신 확인")
        RETRY = "retry", _("재시도 대기")
        DEAD = "dead", _("발송 실패(보류)")
        CANCELLED = "cancelled", _("발송 취소")

    idempotency_key = models.CharField(
        _("중복 방지 키"),
        max_length=100,  # Solapi customFields values are limited to 100 characters
    )  # unique in Meta: a constraint, so PostgreSQL keeps one index, not a second LIKE-pattern one
    channel = models.CharField(_("채널"), max_length=10, choices=Channel.choices)
    template = models.ForeignKey(
        MessageTemplate,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="messages",
        verbose_name=_("템플릿"),
    )
    subject = models.CharField(_("제목"), max_length=200, blank=True)
    body = models.TextField(_("본문"))
    message_type = models.CharField(_("메시지 종류"), max_length=10, choices=MessageType.choices)
    recipient = EncryptedTextField(_("수신처"))
    recipient_masked = models.CharField(_("수신처(가림)"), max_length=120)
    respect_quiet_hours = models.BooleanField(
        _("야간 발송 제한 적용"),
        default=False,
        help_text=_("고객에게 가는 메시지는 야간 발송 제한 시간(기본 21시~8시)에 보내지 않습니다."),
    )
    state = models.CharField(_("상태"), max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(_("시도 횟수"), default=0)
    not_before = models.DateTimeField(_("발송 가능 시작 시각"), null=True, blank=True)
    next_attempt_at = models.DateTimeField(_("다음 시도 시각"), null=True, blank=True)
    lease_until = models.DateTimeField(_("처리 점유 만료 시각"), null=True, blank=True)
    # When a delivery task was last published for this row: the sweep re-queues only rows not
    # queued for their current attempt (or queued so long ago that the broker lost the task).
    queued_at = models.DateTimeField(_("발송 작업 등록 시각"), null=True, blank=True)
    needs_lookup = models.BooleanField(
        _("발송 여부 확인 필요"),
        default=False,
        help_text=_("이전 시도의 결과를 알 수 없어(시간 초과, 작업자 중단) 다시 보내기 전에 발송사에 먼저 확인합니다."),
    )
    provider = models.CharField(_("발송사"), max_length=30, blank=True)
    provider_ref = models.CharField(_("발송사 참조 번호"), max_length=200, blank=True)
    last_error = models.CharField(_("마지막 오류"), max_length=300, blank=True)
    sent_at = models.DateTimeField(_("발송 시각"), null=True, blank=True)
    # AlimTalk with an SMS/LMS fallback (copied from the template at enqueue).
    alimtalk_template_id = models.CharField(_("알림톡 템플릿 ID"), max_length=100, blank=True)
    alimtalk_pf_id = models.CharField(_("카카오 채널 ID(pfId)"), max_length=100, blank=True)
    alimtalk_variables = models.JSONField(_("알림톡 변수"), default=dict, blank=True)
    fallback_body = models.TextField(_("대체 문자 본문"), blank=True)
    fallback_type = models.CharField(_("대체 문자 종류"), max_length=10, choices=MessageType.choices, blank=True)
    on_fallback = models.BooleanField(
        _("대체 문자로 전환"),
        default=False,
        help_text=_("알림톡이 실패해 다음 시도부터 대체 문자(SMS/LMS)로 보냅니다."),
    )
    sent_as = models.CharField(
        _("실제 발송 경로"), max_length=10, choices=MessageType.choices, blank=True
    )  # what the provider accepted: ATA, or SMS/LMS (a plain SMS, or an AlimTalk's fallback)
    report_code = models.CharField(_("발송사 결과 코드"), max_length=20, blank=True)
    reported_at = models.DateTimeField(_("결과 수신 시각"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("수신 확인 시각"), null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("발송 메시지")
        verbose_name_plural = _("발송 메시지")
        indexes = [
            # The sweep: rows due for an attempt. Small, whatever the size of the table.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(state__in=["pending", "retry"]),
                name="notif_msg_due_idx",
            ),
            # The sweep: rows whose worker may have died mid-send.
            models.Index(
                fields=["lease_until"],
                condition=Q(state="sending"),
                name="notif_msg_sending_idx",
            ),
            # Provider reports name the provider's reference of an accepted message.
            models.Index(
                fields=["provider_ref"],
                condition=Q(state="sent"),
                name="notif_msg_accepted_ref_idx",
            ),
        ]
        constraints = [models.UniqueConstraint(fields=["idempotency_key"], name="message_idempotency_key")]

    # accepted / delivered / failed, as the API and console show them.
    DELIVERY_STATUS = {"sent": "accepted", "delivered": "delivered", "dead": "failed"}
    DELIVERY_STATUS_LABELS = {"accepted": _("발송사 접수"), "delivered": _("수신 확인"), "failed": _("발송 실패")}

    @property
    def delivery_status(self) -> str | None:
        return self.DELIVERY_STATUS.get(self.state)

    @property
    def delivery_status_label(self) -> str:
        status = self.delivery_status
        return str(self.DELIVERY_STATUS_LABELS[status]) if status else self.get_state_display()

    def __str__(self):
        return f"#{self.pk} {self.get_channel_display()} → {self.recipient_masked} ({self.get_state_display()})"
