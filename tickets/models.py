"""Escalation tickets, their kinds, audit events and follow-up duties.

Rules that change these rows live in tickets/services.py (and tickets/followups.py for the
follow-up engine); models hold structure, choices and small derived read-only helpers.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from cstrack.models import TimeStampedModel
from cstrack.pii import EncryptedJSONField, EncryptedTextField


class ServiceLine(models.TextChoices):
    DRIVER = "driver", _("대리")
    PET = "pet", _("펫")
    PARKING = "parking", _("주차")
    BUSINESS = "business", _("비즈니스")


class Channel(models.TextChoices):
    PHONE = "phone", _("전화")
    CHAT = "chat", _("채팅")
    EMAIL = "email", _("이메일")
    APP = "app", _("앱 문의")
    API = "api", _("외부 시스템")


class RequesterType(models.TextChoices):
    CUSTOMER = "customer", _("고객")
    DRIVER = "driver", _("기사")
    MATE = "mate", _("펫 메이트")
    PASSENGER = "passenger", _("탑승자")
    BUSINESS = "business", _("기업 고객")
    THIRD_PARTY = "third_party", _("제3자")
    OTHER = "other", _("기타")


class Priority(models.TextChoices):
    NORMAL = "normal", _("일반")
    URGENT = "urgent", _("긴급")


class Status(models.TextChoices):
    RECEIVED = "received", _("접수")
    IN_PROGRESS = "in_progress", _("처리 중")
    WAITING_CUSTOMER = "waiting_customer", _("고객 응답 대기")
    ACTION_TAKEN = "action_taken", _("조치 완료")
    RESOLVED = "resolved", _("해결")
    CLOSED = "closed", _("종료")
    CANCELLED = "cancelled", _("취소")


OPEN_STATUSES = (Status.RECEIVED, Status.IN_PROGRESS, Status.WAITING_CUSTOMER, Status.ACTION_TAKEN)
FINAL_STATUSES = (Status.CLOSED, Status.CANCELLED)


class ConsentBasis(models.TextChoices):
    EXISTING_MEMBER = "existing_member", _("기존 회원 정보 (동의 불필요)")
    VERIFY_ONLY = "verify_only", _("본인 확인만 하고 저장하지 않음 (동의 불필요)")
    NEWLY_COLLECTED = "newly_collected", _("신규 수집 (동의 받음)")
    THIRD_PARTY_DELEGATED = "third_party_delegated", _("호출자 위임에 따른 제3자")


class Board(models.Model):
    """A board / team that acts on tickets (e.g. KOC penalty requests) and hears its alerts."""

    code = models.SlugField(_("코드"), max_length=50, unique=True)
    name = models.CharField(_("이름"), max_length=100)
    team = models.CharField(_("담당 팀"), max_length=100, blank=True)
    supervisor_email = models.EmailField(_("관리자 이메일"), blank=True)
    escalation_email = models.EmailField(
        _("상위 단계 이메일"),
        blank=True,
        help_text=_("'상위 단계 에스컬레이션' 조치가 가는 곳 (예: 센터장). 비우면 관리자 이메일로 보냅니다."),
    )
    chat_webhook_url = models.URLField(_("채팅 웹훅 URL"), blank=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="boards", verbose_name=_("구성원")
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("게시판/팀")
        verbose_name_plural = _("게시판/팀")

    def __str__(self):
        return self.name


class TicketKind(TimeStampedModel):
    """One escalation form. Its field schema lives only in TicketKindSchema versions (the
    current one is the latest), so tickets stored under an older version stay valid."""

    code = models.SlugField(_("코드"), max_length=60, unique=True)
    name = models.CharField(_("이름"), max_length=100)
    description = models.TextField(_("설명"), blank=True)
    service_line = models.CharField(_("서비스"), max_length=20, choices=ServiceLine.choices)
    default_board = models.ForeignKey(
        Board, on_delete=models.PROTECT, related_name="kinds", verbose_name=_("기본 게시판")
    )
    category_path = models.CharField(_("상담 유형 경로"), max_length=200)
    # Outcomes as [[value, label], ...]; empty means the kind records no outcome.
    outcomes = models.JSONField(_("처리 결과 선택지"), default=list, blank=True)
    outcomes_needing_reason = models.JSONField(_("사유가 필요한 결과"), default=list, blank=True)
    requires_manager_confirmation = models.BooleanField(_("완료 전 관리자 컨펌 필요"), default=False)
    retention_days = models.PositiveIntegerField(_("상담 기록 보관 일수"), default=365 * 3)
    purge_contact_on_close = models.BooleanField(_("종료 시 연락처 삭제"), default=False)
    # Record issuance, sales statements: the attached files are deleted once the ticket is
    # completed (action taken, resolved or closed); the row and its audit stay.
    delete_attachments_on_completion = models.BooleanField(_("완료 시 첨부파일 삭제"), default=False)
    default_requester_type = models.CharField(
        _("기본 요청자 구분"), max_length=20, choices=RequesterType.choices, default=RequesterType.CUSTOMER
    )
    # The behaviours this kind uses, {name: config}, from the registry in
    # tickets/kinds/behaviours.py (checked when an administrator saves the kind).
    behaviours = models.JSONField(
        _("동작"),
        default=dict,
        blank=True,
        help_text=_(
            '이 유형이 쓰는 동작과 설정. 예: {"driver_block": {}, "registration_message": {"outcomes": ["registered"]}}'
        ),
    )
    active = models.BooleanField(_("사용"), default=True)
    sort_order = models.PositiveSmallIntegerField(_("정렬 순서"), default=0)

    class Meta:
        ordering = ["sort_order", "code"]
        verbose_name = _("티켓 유형")
        verbose_name_plural = _("티켓 유형")

    def __str__(self):
        return self.name

    def outcome_label(self, value):
        return dict((v, label) for v, label in self.outcomes).get(value, value or "")

    @property
    def current_schema(self) -> "TicketKindSchema | None":
        """The latest schema version (None for a kind that has none yet). Uses prefetched
        `schema_versions` when the queryset has them."""
        if "_current_schema" not in self.__dict__:
            prefetched = getattr(self, "_prefetched_objects_cache", {}).get("schema_versions")
            if prefetched is not None:
                latest = max(prefetched, key=lambda v: v.version, default=None)
            else:
                latest = self.schema_versions.order_by("-version").first() if self.pk else None
            self.__dict__["_current_schema"] = latest
        return self.__dict__["_current_schema"]

    @property
    def schema(self) -> dict:
        """The current field schema ({} if the kind has none yet); read-only: a change is a new
        version through tickets.kinds.services.kind_save_schema."""
        current = self.current_schema
        return current.schema if current else {}

    def refresh_from_db(self, *args, **kwargs):
        self.__dict__.pop("_current_schema", None)
        super().refresh_from_db(*args, **kwargs)


class TicketKindSchema(models.Model):
    kind = models.ForeignKey(TicketKind, on_delete=models.CASCADE, related_name="schema_versions")
    version = models.PositiveIntegerField(_("버전"))
    schema = models.JSONField(_("필드 스키마"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "-version"]
        constraints = [models.UniqueConstraint(fields=["kind", "version"], name="kind_schema_version_unique")]
        verbose_name = _("유형 스키마 버전")
        verbose_name_plural = _("유형 스키마 버전")

    def __str__(self):
        return f"{self.kind.code} v{self.version}"


class DailySequence(models.Model):
    """Counter behind readable references (CS-20261122-0001), one row per KST day."""

    day = models.DateField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.day}: {self.last}"


class Ticket(TimeStampedModel):
    reference = models.CharField(_("접수 번호"), max_length=20, unique=True)
    # Indexed by `ticket_kind_status` (Meta), whose first column it is.
    kind = models.ForeignKey(
        TicketKind, on_delete=models.PROTECT, related_name="tickets", verbose_name=_("유형"), db_index=False
    )
    schema_version = models.ForeignKey(TicketKindSchema, on_delete=models.PROTECT, related_name="+")
    service_line = models.CharField(_("서비스"), max_length=20, choices=ServiceLine.choices)
    category_path = models.CharField(_("상담 유형"), max_length=200)
    channel = models.CharField(_("인입 채널"), max_length=20, choices=Channel.choices, default=Channel.PHONE)
    requester_type = models.CharField(
        _("요청자 구분"), max_length=20, choices=RequesterType.choices, default=RequesterType.CUSTOMER
    )
    status = models.CharField(_("상태"), max_length=20, choices=Status.choices, default=Status.RECEIVED)
    priority = models.CharField(_("중요도"), max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    title = models.CharField(_("제목"), max_length=200, blank=True)
    board = models.ForeignKey(Board, on_delete=models.PROTECT, related_name="tickets", verbose_name=_("게시판"))
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_tickets",
        verbose_name=_("담당자"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="created_tickets",
        verbose_name=_("작성자"),
    )
    created_via = models.CharField(_("작성 경로"), max_length=100, blank=True)
    # Indexed by `ticket_received_groups` (Meta), whose first column it is.
    received_at = models.DateTimeField(_("접수 시각"))

    # References to other systems (indexed in Meta: exact look-ups only).
    member_id = models.CharField(_("회원 ID"), max_length=64, blank=True)
    driver_id = models.CharField(_("기사 ID"), max_length=64, blank=True)
    call_id = models.CharField(_("콜 ID"), max_length=64, blank=True)
    vehicle_plate = models.CharField(_("차량 번호"), max_length=20, blank=True)
    parking_lot = models.CharField(_("주차장"), max_length=100, blank=True)

    # Customer contact: personal data, encrypted; found through the keyed hash; shown masked.
    customer_phone = EncryptedTextField(_("고객 연락처"), null=True, blank=True)
    customer_phone_hash = models.CharField(max_length=64, blank=True)
    customer_phone_masked = models.CharField(_("고객 연락처"), max_length=20, blank=True)
    customer_email = EncryptedTextField(_("고객 이메일"), null=True, blank=True)
    customer_email_masked = models.CharField(_("고객 이메일"), max_length=120, blank=True)
    identity_verified = models.BooleanField(_("본인 확인"), default=False)

    consent_basis = models.CharField(_("개인정보 근거"), max_length=30, choices=ConsentBasis.choices, blank=True)
    consent_recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    consent_recorded_at = models.DateTimeField(_("동의 기록 시각"), null=True, blank=True)
    consent_withdrawn_at = models.DateTimeField(_("동의 철회 시각"), null=True, blank=True)
    delegation_caller = models.CharField(_("위임한 호출자"), max_length=100, blank=True)
    delegation_relation = models.CharField(_("제3자 관계"), max_length=30, blank=True)

    details = models.JSONField(_("상세"), default=dict, blank=True)
    sensitive_details = EncryptedJSONField(_("개인정보 상세"), blank=True, default=dict)

    outcome = models.CharField(_("처리 결과"), max_length=40, blank=True)
    outcome_reason = models.TextField(_("결과 사유"), blank=True)
    outcome_recorded_at = models.DateTimeField(_("결과 기록 시각"), null=True, blank=True)
    outcome_recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    driver_blocked = models.BooleanField(_("기사 차단"), default=False)
    manager_confirmed_by = models.CharField(_("컨펌한 관리자"), max_length=100, blank=True)
    manager_confirmed_at = models.DateTimeField(_("관리자 컨펌 시각"), null=True, blank=True)
    routed_to = models.CharField(_("이관 경로"), max_length=30, blank=True)
    compensation_krw = models.PositiveIntegerField(_("보상 쿠폰(원)"), default=0)

    breached_at = models.DateTimeField(_("기한 위반 시각"), null=True, blank=True)
    # The earliest due time among the ticket's pending follow-ups, written only by
    # tickets.followups.refresh_next_due (never by Ticket.save): the overdue queue is a range
    # scan of this column instead of a probe into every open ticket's follow-ups.
    next_due_at = models.DateTimeField(_("가장 이른 후속 기한"), null=True, blank=True, editable=False)
    paused_at = models.DateTimeField(_("대기 시작 시각"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("해결 시각"), null=True, blank=True)
    closed_at = models.DateTimeField(_("종료 시각"), null=True, blank=True)
    contact_purged_at = models.DateTimeField(_("연락처 삭제 시각"), null=True, blank=True)
    version = models.PositiveIntegerField(_("버전"), default=1)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = _("티켓")
        verbose_name_plural = _("티켓")
        # Every index is paid for on each insert and on each update that changes an indexed
        # column (the dispatcher's next-due refresh rewrites a ticket's entry in all of them), so
        # there is none twice: no single-column index where a wider one starts with the column
        # (kind, received_at), and the references are searched by equality only, so they get a
        # plain index, not `db_index=True`'s second LIKE-pattern index on PostgreSQL.
        indexes = [
            models.Index(fields=["member_id"], name="ticket_member"),
            models.Index(fields=["driver_id"], name="ticket_driver"),
            models.Index(fields=["call_id"], name="ticket_call"),
            models.Index(fields=["vehicle_plate"], name="ticket_plate"),
            models.Index(fields=["customer_phone_hash"], name="ticket_phone_hash"),
            models.Index(fields=["status", "board", "-received_at"], name="ticket_status_board"),
            models.Index(fields=["kind", "status"], name="ticket_kind_status"),
            models.Index(fields=["breached_at"], condition=Q(breached_at__isnull=False), name="ticket_breached"),
            # Covering (PostgreSQL): the queue's counts by kind, board, assignee and age are
            # read from the index alone, not from one heap page per overdue ticket.
            # Keyed in the queue's order (next due, received, id), so the first page of overdue
            # tickets is an ordered index-only read that stops after the page.
            models.Index(
                fields=["next_due_at", "received_at", "id"],
                include=["kind", "board", "assignee", "breached_at"],
                condition=Q(status__in=OPEN_STATUSES),
                name="ticket_open_next_due",
            ),
            # Covering (PostgreSQL): the promise report's groups (kind, board, owner) and its
            # first-contact counts by receipt date come from this index, not the wide rows.
            models.Index(
                fields=["received_at"], include=["id", "kind", "board", "assignee"], name="ticket_received_groups"
            ),
            # The overdue queue's API pages (ordered by receipt, stable cursor): an ordered
            # index-only read that stops after a page of overdue tickets (see OverdueQueueViewSet).
            models.Index(
                fields=["received_at", "id"],
                include=["next_due_at", "breached_at"],
                condition=Q(status__in=OPEN_STATUSES),
                name="ticket_open_received",
            ),
        ]

        permissions = [
            ("reveal_contact", _("연락처 원문 보기")),
            ("record_outcome", _("처리 결과 기록")),
            ("manage_followups", _("후속 조치 변경")),
            ("download_attachment", _("첨부파일 내려받기")),
            ("view_all_boards", _("모든 게시판의 티켓 보기")),
        ]

    def save(self, *args, **kwargs):
        # next_due_at belongs to the follow-up engine: a save from a copy loaded earlier must not
        # put back the value it loaded.
        if kwargs.get("update_fields") is None and not self._state.adding and self.pk:
            skip = {"next_due_at", *self.get_deferred_fields()}
            kwargs["update_fields"] = [
                f.attname for f in self._meta.concrete_fields if not f.primary_key and f.attname not in skip
            ]
        super().save(*args, **kwargs)

    def __str__(self):
        return self.reference

    @property
    def is_open(self):
        return self.status in OPEN_STATUSES


class EventType(models.TextChoices):
    CREATED = "created", _("접수")
    UPDATED = "updated", _("항목 변경")
    TRANSITIONED = "transitioned", _("상태 변경")
    OUTCOME = "outcome", _("처리 결과")
    MANAGER_CONFIRMED = "manager_confirmed", _("관리자 컨펌")
    ASSIGNED = "assigned", _("담당 지정")
    CONSENT = "consent", _("개인정보 동의")
    CONSENT_WITHDRAWN = "consent_withdrawn", _("동의 철회")
    CONTACT_REVEALED = "contact_revealed", _("연락처 원문 조회")
    RECONTACT = "recontact", _("재인입")
    FOLLOWUP = "followup", _("후속 조치")
    BREACHED = "breached", _("기한 위반")
    PURGED = "purged", _("개인정보 삭제")
    ATTACHMENT_ADDED = "attachment_added", _("첨부파일 등록")
    ATTACHMENT_DOWNLOADED = "attachment_downloaded", _("첨부파일 내려받기")
    ATTACHMENT_DELETED = "attachment_deleted", _("첨부파일 삭제")
    MACRO = "macro", _("매크로 적용")


class AppendOnlyQuerySet(models.QuerySet):
    """Audit rows are never changed or removed, not even in bulk (PostgreSQL also refuses it
    with a trigger, see migration 0004)."""

    def update(self, **kwargs):
        raise ValueError("ticket events are append-only")

    def delete(self):
        raise ValueError("ticket events are append-only")


class TicketEvent(models.Model):
    """Append-only audit row. Personal data in `data` is always masked."""

    ticket = models.ForeignKey(Ticket, on_delete=models.PROTECT, related_name="events")
    type = models.CharField(_("종류"), max_length=30, choices=EventType.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(_("처리자"), max_length=100)
    at = models.DateTimeField(_("시각"), db_index=True)
    data = models.JSONField(_("내용"), default=dict)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["at", "id"]
        verbose_name = _("감사 기록")
        verbose_name_plural = _("감사 기록")

    def __str__(self):
        return f"{self.get_type_display()} {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("ticket events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("ticket events are append-only")


class ReContact(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="recontacts")
    channel = models.CharField(_("채널"), max_length=20, choices=Channel.choices, default=Channel.PHONE)
    note = models.TextField(_("메모"), blank=True)
    logged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    logged_at = models.DateTimeField(_("기록 시각"))
    promised_by = models.DateTimeField(_("회신 약속 기한"), null=True, blank=True)

    class Meta:
        ordering = ["logged_at"]
        verbose_name = _("재인입")
        verbose_name_plural = _("재인입")

    def __str__(self):
        return f"{self.ticket_id} @ {self.logged_at:%Y-%m-%d %H:%M}"


class Trigger(models.TextChoices):
    TICKET_RECEIVED = "ticket_received", _("티켓 접수")
    OUTCOME_RECORDED = "outcome_recorded", _("처리 결과 기록")
    RECONTACT_LOGGED = "recontact_logged", _("재인입 기록")
    REGISTRATION_CONFIRMED = "registration_confirmed", _("등록 확인")
    STATUS_ENTERED = "status_entered", _("상태 진입")


class Action(models.TextChoices):
    CUSTOMER_MESSAGE = "customer_message", _("고객 메시지")
    CALL_BACK = "call_back", _("회신 전화")
    REMIND_OWNER = "remind_owner", _("담당자 리마인드")
    ALERT_SUPERVISOR = "alert_supervisor", _("관리자 알림")
    ESCALATE = "escalate", _("상위 단계 에스컬레이션")
    MORNING_DIGEST = "morning_digest", _("아침 요약 메일")


class Timing(models.TextChoices):
    IMMEDIATE = "immediate", _("즉시")
    OFFSET_SECONDS = "offset_seconds", _("N초 후 (시연/시험용)")
    D_PLUS = "d_plus", _("D+N일 지정 시각")
    BUSINESS_DAYS = "business_days", _("N영업일 후 같은 시각")
    START_OF_BUSINESS_DAY = "start_of_business_day", _("N번째 영업일 시작")
    END_OF_BUSINESS_DAY = "end_of_business_day", _("N번째 영업일 종료")
    NEXT_BUSINESS_MOMENT = "next_business_moment", _("다음 영업 시간")


class FollowUpPolicy(TimeStampedModel):
    """When a trigger happens on a ticket of `kind` (or any kind if empty), schedule `action`."""

    code = models.SlugField(_("코드"), max_length=80, unique=True)
    name = models.CharField(_("이름"), max_length=150)
    kind = models.ForeignKey(
        TicketKind,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="policies",
        verbose_name=_("유형 (비우면 전체)"),
    )
    trigger = models.CharField(_("계기"), max_length=30, choices=Trigger.choices)
    trigger_status = models.CharField(_("진입 상태"), max_length=20, choices=Status.choices, blank=True)
    action = models.CharField(_("조치"), max_length=30, choices=Action.choices)
    template = models.ForeignKey(
        "notifications.MessageTemplate",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        verbose_name=_("메시지 템플릿"),
    )
    timing = models.CharField(_("시점"), max_length=30, choices=Timing.choices)
    timing_n = models.IntegerField(_("N"), default=0)
    timing_time = models.TimeField(_("지정 시각"), null=True, blank=True)
    # Conditions (all optional): {"details": {field: value}} checked when scheduling;
    # {"hold_until_outcome_in": [...], "skip_if_outcome": true, "skip_if_status": [...],
    #  "skip_if_callbacks_done": true} checked when due.
    conditions = models.JSONField(_("조건"), default=dict, blank=True)
    marks_breach = models.BooleanField(_("기한 위반으로 기록"), default=False)
    pauses_when_waiting = models.BooleanField(_("고객 대기 중 멈춤"), default=True)
    active = models.BooleanField(_("사용"), default=True)

    class Meta:
        ordering = ["kind__sort_order", "code"]
        verbose_name = _("후속 조치 규칙")
        verbose_name_plural = _("후속 조치 규칙")

    def __str__(self):
        return self.name

    CONDITION_KEYS = {"details", "hold_until_outcome_in", "skip_if_outcome", "skip_if_status", "skip_if_callbacks_done"}

    def clean(self):
        """A rule that cannot be carried out is refused when an administrator saves it, not
        discovered as an error on every ticket it applies to."""
        errors = {}
        if self.timing == Timing.D_PLUS and self.timing_time is None:
            errors["timing_time"] = _("D+N일 규칙에는 지정 시각이 필요합니다 (예: 10:00).")
        if self.timing_n is not None and self.timing_n < 0:
            errors["timing_n"] = _("N은 0 이상이어야 합니다.")
        if self.trigger == Trigger.STATUS_ENTERED and not self.trigger_status:
            errors["trigger_status"] = _("'상태 진입' 계기에는 진입 상태를 골라 주세요.")
        if self.action == Action.MORNING_DIGEST:
            errors["action"] = _("아침 요약 메일은 규칙이 아니라 직원 설정으로 정합니다.")
        if self.action == Action.CUSTOMER_MESSAGE and self.template_id is None:
            errors["template"] = _("고객 메시지에는 메시지 템플릿이 필요합니다.")
        if not isinstance(self.conditions, dict):
            errors["conditions"] = _("조건은 JSON 객체여야 합니다.")
        else:
            unknown = sorted(set(self.conditions) - self.CONDITION_KEYS)
            if unknown:
                errors["conditions"] = _("알 수 없는 조건: %(keys)s (가능: %(known)s)") % {
                    "keys": ", ".join(unknown),
                    "known": ", ".join(sorted(self.CONDITION_KEYS)),
                }
            elif not isinstance(self.conditions.get("details", {}), dict):
                errors["conditions"] = _("details 조건은 {필드: 값} 객체여야 합니다.")
        if errors:
            raise ValidationError(errors)


class FollowUpState(models.TextChoices):
    SCHEDULED = "scheduled", _("예정")
    HELD = "held", _("조건 대기")
    PAUSED = "paused", _("일시 정지")
    DONE = "done", _("완료")
    SKIPPED = "skipped", _("생략")
    CANCELLED = "cancelled", _("취소")
    FAILED = "failed", _("실패")


PENDING_FOLLOWUP_STATES = (FollowUpState.SCHEDULED, FollowUpState.HELD, FollowUpState.PAUSED)


class CallResult(models.TextChoices):
    """How a call-back went. Only "no answer" leaves the duty pending (the call is tried again);
    each result is recorded in the ticket's audit."""

    REACHED = "reached", _("통화함")
    NO_ANSWER = "no_answer", _("받지 않음 (다시 걸기)")
    WRONG_NUMBER = "wrong_number", _("잘못된 번호")
    DECLINED = "declined", _("고객이 통화를 원하지 않음")


class FollowUp(TimeStampedModel):
    """A promised duty on a ticket. Automatic actions are carried out by the dispatcher when
    due; a call back is a duty for a person, due by `due_at`, done when they mark it.

    A morning digest (tickets.reports.digest) is a follow-up for a member of staff rather than
    a ticket: no ticket, a `recipient`, one row per person per business day."""

    # Indexed by `followup_ticket_state` (Meta), whose first column it is.
    ticket = models.ForeignKey(
        Ticket, null=True, blank=True, on_delete=models.CASCADE, related_name="followups", db_index=False
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="digests",
        verbose_name=_("받는 사람"),
    )
    policy = models.ForeignKey(
        FollowUpPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="followups"
    )
    action = models.CharField(_("조치"), max_length=30, choices=Action.choices)
    due_at = models.DateTimeField(_("기한"))
    window_end = models.DateTimeField(_("허용 종료"), null=True, blank=True)
    state = models.CharField(_("상태"), max_length=20, choices=FollowUpState.choices, default=FollowUpState.SCHEDULED)
    reason = models.CharField(_("사유"), max_length=300, blank=True)
    marks_breach = models.BooleanField(default=False)
    pauses_when_waiting = models.BooleanField(default=True)
    # One row per (policy, trigger occurrence): a re-run trigger never schedules twice (unique
    # in Meta: a constraint, so PostgreSQL keeps one index, not a second LIKE-pattern one).
    dedupe_key = models.CharField(max_length=120)
    message = models.ForeignKey(
        "notifications.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    completed_at = models.DateTimeField(_("완료 시각"), null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["due_at", "id"]
        verbose_name = _("후속 조치")
        verbose_name_plural = _("후속 조치")
        indexes = [
            # The dispatcher's only query: cost follows the rows due, not the rows stored.
            models.Index(
                fields=["due_at"],
                condition=Q(state="scheduled") & ~Q(action="call_back"),
                name="followup_due_dispatch",
            ),
            models.Index(fields=["ticket", "state"], name="followup_ticket_state"),
            models.Index(fields=["state", "action", "due_at"], name="followup_state_action_due"),
            # Covering (PostgreSQL): the promise report reads promises by deadline from the index
            # alone (tickets.reports.promises; a digest or a deadline check is not a promise).
            models.Index(
                fields=["due_at"],
                include=["ticket", "policy", "action", "state", "completed_at", "updated_at"],
                condition=Q(marks_breach=False, ticket__isnull=False),
                name="followup_promise_due",
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["dedupe_key"], name="followup_dedupe_key"),
            models.CheckConstraint(
                condition=Q(ticket__isnull=False) | Q(action="morning_digest", recipient__isnull=False),
                name="followup_ticket_or_digest",
            ),
        ]

    def __str__(self):
        return f"{self.get_action_display()} @ {self.due_at:%Y-%m-%d %H:%M}"


class WebhookSubscription(models.Model):
    """A system's subscription to ticket events. Each delivery goes through the outbox (channel
    "webhook"), signed with `secret`; after a rotation `previous_secret` stays valid for a grace
    period so the receiver can switch over."""

    name = models.CharField(_("이름"), max_length=100)
    target_url = models.URLField(_("수신 URL"), max_length=500)
    # TicketEvent types (EventType values); empty means every event.
    event_types = models.JSONField(_("이벤트 종류"), default=list, blank=True)
    secret = EncryptedTextField(_("서명 비밀값"))
    previous_secret = EncryptedTextField(_("이전 서명 비밀값"), null=True, blank=True)
    secret_rotated_at = models.DateTimeField(_("비밀값 교체 시각"), null=True, blank=True)
    # The integration that owns it: deliveries follow that key's kinds scope.
    api_key = models.ForeignKey(
        "cstrack.ApiKey",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="webhook_subscriptions",
        verbose_name=_("API 키"),
    )
    active = models.BooleanField(_("사용"), default=True)
    created_at = models.DateTimeField(_("생성 시각"), auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("웹훅 구독")
        verbose_name_plural = _("웹훅 구독")

    def __str__(self):
        return self.name


# --- Third-party delegation (seed 004) ---------------------------------------------------------


class DelegationRelation(models.TextChoices):
    PASSENGER = "passenger", _("탑승자")
    SPOUSE = "spouse", _("배우자")
    CAR_OWNER = "car_owner", _("차주")
    FAMILY = "family", _("가족")
    OTHER = "other", _("기타")


class DelegationCase(models.TextChoices):
    CALLER_NOT_PASSENGER_FARE = "caller_not_passenger_fare", _("호출자≠탑승자: 요금 조정 등으로 탑승자와 상담")
    CAR_OWNER_AFTER_ACCIDENT = "car_owner_after_accident", _("사고 후 차주 인입")
    SPOUSE_ACCIDENT_OR_RM = "spouse_accident_or_rm", _("사고·RM 이슈로 호출자가 배우자 등과 상담 요청")
    CALL_ON_BEHALF = "call_on_behalf", _("대신 불러주기 (어드민에 탑승자 번호 있음)")


class ThirdPartyDelegation(models.Model):
    """The caller's recorded consent that we talk to a third party about their case. The third
    party's number may be used only through an active record (tickets.delegation); a third party
    who is not a member must also have consented to the collection of their number."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="delegations")
    caller = models.CharField(_("위임한 호출자"), max_length=100, help_text=_("최소한으로: 예) 호출자 본인(회원)"))
    relation = models.CharField(_("제3자 관계"), max_length=20, choices=DelegationRelation.choices)
    case = models.CharField(_("상황"), max_length=40, choices=DelegationCase.choices)
    third_party_is_member = models.BooleanField(_("제3자 회원 여부"), default=False)
    third_party_consent_at = models.DateTimeField(_("제3자 개인정보 수집 동의 시각"), null=True, blank=True)
    third_party_phone = EncryptedTextField(_("제3자 연락처"), null=True, blank=True)
    third_party_phone_hash = models.CharField(max_length=64, blank=True, db_index=True)
    third_party_phone_masked = models.CharField(_("제3자 연락처"), max_length=20, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_by_label = models.CharField(_("기록자"), max_length=100)
    recorded_at = models.DateTimeField(_("기록 시각"))
    revoked_at = models.DateTimeField(_("철회 시각"), null=True, blank=True)

    class Meta:
        ordering = ["recorded_at", "id"]
        verbose_name = _("제3자 상담 위임")
        verbose_name_plural = _("제3자 상담 위임")
        constraints = [
            models.CheckConstraint(
                condition=Q(third_party_is_member=True) | Q(third_party_consent_at__isnull=False),
                name="delegation_non_member_needs_consent",
            )
        ]

    def __str__(self):
        return f"{self.ticket_id}: {self.get_relation_display()} {self.third_party_phone_masked}"

    @property
    def is_active(self):
        return self.revoked_at is None and bool(self.third_party_phone_hash)


# --- Attachments ---------------------------------------------------------------------------------


class Attachment(models.Model):
    """A file on a ticket (on-site payment receipt, record PDF, encrypted archive). The bytes are
    stored Fernet-encrypted under MEDIA_ROOT/attachments/<random name>; the original name is kept
    only sanitised (personal data masked) and never used on disk. Deleting removes the file and
    keeps this row, with deleted_at, as the proof."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="attachments")
    original_name = models.CharField(_("파일 이름"), max_length=150)
    content_type = models.CharField(_("형식"), max_length=60)
    size = models.PositiveIntegerField(_("크기(바이트)"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    storage_name = models.CharField(max_length=120, unique=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_by_label = models.CharField(_("등록자"), max_length=100)
    uploaded_at = models.DateTimeField(_("등록 시각"))
    deleted_at = models.DateTimeField(_("삭제 시각"), null=True, blank=True)
    deleted_reason = models.CharField(_("삭제 사유"), max_length=200, blank=True)

    class Meta:
        ordering = ["uploaded_at", "id"]
        verbose_name = _("첨부파일")
        verbose_name_plural = _("첨부파일")
        indexes = [
            models.Index(fields=["ticket"], condition=Q(deleted_at__isnull=True), name="attachment_live"),
        ]

    def __str__(self):
        return f"{self.original_name} ({self.content_type})"

    @property
    def is_deleted(self):
        return self.deleted_at is not None


# --- Staff preferences ---------------------------------------------------------------------------


class StaffProfile(models.Model):
    """A member of staff's own settings (the console's profile page)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_profile")
    morning_digest = models.BooleanField(
        _("아침 요약 메일 받기"),
        default=True,
        help_text=_("영업일 아침 08:30에 전날 약속 이행, 밤사이 기한 위반, 오늘 기한인 약속을 메일로 받습니다."),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("직원 설정")
        verbose_name_plural = _("직원 설정")

    def __str__(self):
        return str(self.user)


class MacroFollowUpChange(models.TextChoices):
    NONE = "", _("바꾸지 않음")
    CANCEL = "cancel", _("예정된 후속 조치 모두 취소")
    POSTPONE = "postpone", _("예정된 후속 조치를 N영업일 뒤로")


class Macro(TimeStampedModel):
    """A saved reply: a named set of changes an administrator prepares for a kind and/or board,
    applied to a ticket in one step (tickets/lifecycle/macros.py). Empty kind or board: any."""

    name = models.CharField(_("이름"), max_length=80)
    description = models.CharField(_("설명"), max_length=200, blank=True)
    kind = models.ForeignKey(
        TicketKind, null=True, blank=True, on_delete=models.CASCADE, related_name="macros", verbose_name=_("유형")
    )
    board = models.ForeignKey(
        Board, null=True, blank=True, on_delete=models.CASCADE, related_name="macros", verbose_name=_("게시판")
    )
    active = models.BooleanField(_("사용"), default=True)
    position = models.PositiveSmallIntegerField(_("순서"), default=0)
    outcome = models.CharField(_("처리 결과"), max_length=40, blank=True, help_text=_("유형의 결과 값 중 하나"))
    to_status = models.CharField(_("바꿀 상태"), max_length=20, choices=Status.choices, blank=True)
    note = models.TextField(
        _("메모 문구"),
        max_length=1000,
        blank=True,
        help_text=_("처리 결과 사유, 상태 변경 메모, 후속 조치 변경 사유로 남습니다."),
    )
    followup_change = models.CharField(
        _("후속 조치 변경"), max_length=10, choices=MacroFollowUpChange.choices, blank=True, default=""
    )
    postpone_business_days = models.PositiveSmallIntegerField(_("미룰 영업일 수"), default=0)

    class Meta:
        ordering = ["position", "name", "id"]
        verbose_name = _("매크로")
        verbose_name_plural = _("매크로")
        indexes = [models.Index(fields=["active", "kind", "board"], name="macro_lookup")]

    def __str__(self):
        return self.name

    def clean(self):
        errors = {}
        if self.outcome:
            if self.kind_id is None:
                errors["outcome"] = _("처리 결과는 유형마다 다르니 유형을 지정해 주세요.")
            elif self.outcome not in [value for value, _label in self.kind.outcomes]:
                errors["outcome"] = _("이 유형의 결과 값이 아닙니다: %(choices)s") % {
                    "choices": ", ".join(f"{v} ({label})" for v, label in self.kind.outcomes) or "—"
                }
        if self.followup_change == MacroFollowUpChange.POSTPONE and not self.postpone_business_days:
            errors["postpone_business_days"] = _("미룰 영업일 수를 1 이상으로 정해 주세요.")
        if not (self.outcome or self.to_status or self.note.strip() or self.followup_change):
            errors["note"] = _("바꿀 내용이 하나도 없습니다.")
        if errors:
            raise ValidationError(errors)

    def applies_to(self, ticket) -> bool:
        return (self.kind_id is None or self.kind_id == ticket.kind_id) and (
            self.board_id is None or self.board_id == ticket.board_id
        )
