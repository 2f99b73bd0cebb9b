"""Demo data for the embedded default: role accounts, tickets of every kind and status, some
overdue, and a short demo policy so a follow-up visibly fires a minute after start-up."""

import random

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from cstrack import calendar, roles
from cstrack.actors import Actor
from cstrack.errors import DomainError
from notifications import services as outbox
from notifications.models import Message, MessageTemplate
from tickets.followups import scheduling
from tickets.followups.messages import message_context
from tickets.lifecycle import services
from tickets.models import (
    OPEN_STATUSES,
    PENDING_FOLLOWUP_STATES,
    Action,
    Board,
    FollowUp,
    FollowUpPolicy,
    FollowUpState,
    Status,
    Ticket,
)

DEMO_PASSWORD = "cstrack-demo"  # noqa: S105 - development demo only; refused in production
ACCOUNTS = [
    ("agent", roles.AGENT, "김상담"),
    ("ops", roles.OPERATIONS, "이운영"),
    ("supervisor", roles.SUPERVISOR, "박관리"),
    ("admin", roles.ADMINISTRATOR, "최관리자"),
]

SAMPLES = [
    (
        "driver-penalty-request",
        dict(driver_id="DRV-2041", call_id="CALL-88120", member_id="M-100231"),
        {
            "penalty_board": "koc",
            "call_type": "own_normal",
            "violation": "no_show",
            "incident_date": None,
            "description": "배정 직후 기사가 연락 없이 취소함",
            "driver_blocked": True,
            "feedback_requested": True,
        },
    ),
    (
        "driver-penalty-request",
        dict(driver_id="DRV-2041", call_id="CALL-88311", member_id="M-100877"),
        {
            "penalty_board": "gwangju_kmcc",
            "call_type": "reservation",
            "violation": "cash_demand",
            "incident_date": None,
            "description": "예약콜 운행 후 현금 결제를 요구함",
            "feedback_requested": True,
        },
    ),
    (
        "driver-penalty-request",
        dict(driver_id="DRV-3310", call_id="CALL-90001", member_id="M-100555"),
        {
            "penalty_board": "koc",
            "call_type": "partner",
            "violation": "reckless_driving",
            "incident_date": None,
            "description": "과속과 급차선 변경으로 불안했다고 함",
            "feedback_requested": False,
        },
    ),
    (
        "driver-compensation-demand",
        dict(member_id="M-100231"),
        {"demand": "취소로 늦어진 택시비를 보상해 달라고 요청", "callback_number": "registered", "incident_date": None},
    ),
    (
        "parking-season-pass-registration",
        dict(member_id="M-200101", vehicle_plate="12가3456", parking_lot="판교 테크원 주차장"),
        {
            "pass_link": "linked",
            "cause": "operator_missing",
            "occurred_on": None,
            "exit_handling": "site_ob",
            "onsite_payment": True,
            "onsite_payment_amount": 6000,
            "receipt_attached": True,
            "payment_cancel_requested": True,
            "pass_paid_amount": 150000,
            "pass_usable_days": 30,
            "pass_used_days": 12,
        },
    ),
    (
        "business-transfer",
        dict(),
        {
            "caller_type": "prospect",
            "transfer_type": "signup",
            "company_name": "한빛물류",
            "contact_person": "정담당",
            "contact_email": "biz.contact@hanbit.example",
            "inquiry": "임직원 업무 이동용 비즈니스 가입 문의",
        },
    ),
    (
        "pet-cs-inquiry",
        dict(member_id="M-300001"),
        {
            "issue_type": "app_error",
            "description": "예약 화면에서 결제 버튼이 동작하지 않음",
            "reboot_tried": True,
            "device_model": "Galaxy S24",
            "os_version": "Android 15",
            "carrier": "SKT",
            "app_version": "6.2.1",
            "network": "5g",
        },
    ),
    (
        "pet-partnership-inquiry",
        dict(),
        {
            "company_name": "멍멍호텔",
            "inquirer_name": "한제휴",
            "contact_email": "partner@mungmung.example",
            "inquiry": "반려동물 호텔 픽업 제휴 제안",
        },
    ),
    (
        "mate-sales-statement",
        dict(driver_id="MATE-0107"),
        {
            "request_detail": "종합소득세 신고용 매출내역",
            "period_start": "2026-01-01",
            "period_end": "2026-06-30",
            "email": "mate0107@example.com",
        },
    ),
    (
        "pet-cancel-penalty-exemption",
        dict(driver_id="MATE-0108", call_id="PET-77001"),
        {
            "request_type": "collect",
            "cancel_requested_on": None,
            "appeal_reason": "보호자 요청으로 일정이 바뀌어 취소함",
        },
    ),
    (
        "pet-mate-membership",
        dict(driver_id="MATE-0109"),
        {
            "topic": "info_change",
            "change_item": "vehicle",
            "procedure_explained": True,
            "description": "차량 교체로 번호 변경 요청",
        },
    ),
    (
        "pet-custom-driver",
        dict(driver_id="MATE-0110"),
        {"request": "join", "team_name": "강남 대형견 예약팀", "description": "비공개 예약팀 가입 희망"},
    ),
    (
        "pet-record-issuance",
        dict(member_id="M-300777", call_id="PET-77100"),
        {
            "requester_role": "passenger",
            "record_type": "usage_record",
            "period_start": "2026-10-01",
            "period_end": "2026-10-31",
            "reason": "지자체 제출용",
            "email": "record.request@example.com",
        },
    ),
]
# Days before today each sample was received (the first penalty request is old enough for its
# D+3 message to be due, so the demo has a dead letter and an overdue queue).
RECEIVED_DAYS_AGO = [5, 4, 6, 1, 3, 0, 2, 1, 0, 3, 2, 4, 1]
PHONES = ["010-2345-6789", "010-3456-7890", "010-4567-8901", "010-5678-9012", "010-6789-0123"]


class Command(BaseCommand):
    help = "데모 계정과 데모 티켓을 만듭니다 (개발 환경 전용)."

    def add_arguments(self, parser):
        parser.add_argument("--demo-delay", type=int, default=60, help="데모 리마인드가 발송될 때까지의 초")

    def handle(self, *args, demo_delay, **options):
        if settings.IS_PRODUCTION:
            raise CommandError("seed_demo는 개발 환경에서만 실행할 수 있습니다.")
        with transaction.atomic():
            users = self._accounts()
            if Ticket.objects.exists():
                self.stdout.write("데모 데이터가 이미 있습니다.")
            else:
                self._tickets(users)
            self._demo_policy(users, demo_delay)
        self.stdout.write(self.style.SUCCESS(f"데모 계정 (비밀번호 모두 '{DEMO_PASSWORD}'):"))
        for username, role, _name in ACCOUNTS:
            self.stdout.write(f"  {username:<11} {roles.ROLE_LABELS[role]}")

    def _accounts(self):
        roles.ensure_roles()
        users = {}
        for username, role, name in ACCOUNTS:
            user, created = User.objects.get_or_create(
                username=username, defaults={"first_name": name, "email": f"{username}@cstrack.local"}
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.is_staff = role == roles.ADMINISTRATOR
                user.is_superuser = role == roles.ADMINISTRATOR
                user.save()
            user.groups.add(Group.objects.get(name=role))
            users[role] = user
        for board in Board.objects.all():
            board.members.add(users[roles.OPERATIONS])
            if not board.supervisor_email:
                board.supervisor_email = "supervisor@cstrack.local"
                board.save(update_fields=["supervisor_email"])
        return users

    def _tickets(self, users):
        """Each ticket is made at its own receipt time (the services run on a clock set back
        with calendar.clock_at), so its history, due times and receipt agree."""
        rng = random.Random(20261122)
        agent = Actor.for_user(users[roles.AGENT])
        ops = Actor.for_user(users[roles.OPERATIONS])
        now = calendar.now()
        for index, (kind, refs, details) in enumerate(SAMPLES):
            received = calendar.after_seconds(calendar.days_ago(now, RECEIVED_DAYS_AGO[index]), -600 * (index + 1))
            details = dict(details)
            for key in ("incident_date", "occurred_on", "cancel_requested_on"):
                if key in details and details[key] is None:
                    details[key] = calendar.kst_date(calendar.days_ago(received, rng.randint(1, 5))).isoformat()
            contact = {}
            if kind not in ("pet-partnership-inquiry", "business-transfer"):
                contact = {
                    "customer_phone": PHONES[index % len(PHONES)],
                    "consent_basis": "existing_member" if refs.get("member_id") else "newly_collected",
                }
            elif kind == "pet-partnership-inquiry":
                contact = {"consent_basis": "newly_collected"}
            else:
                contact = {"consent_basis": "newly_collected", "customer_phone": "02-1234-5678"}
            if kind == "pet-record-issuance" or kind == "mate-sales-statement":
                contact["consent_basis"] = "newly_collected"
            try:
                with calendar.clock_at(received):
                    ticket = services.ticket_create(
                        kind=kind,
                        details=details,
                        actor=agent,
                        identity_verified=True,
                        assignee=users[roles.OPERATIONS],
                        **refs,
                        **contact,
                    )
            except DomainError as exc:
                raise CommandError(f"{kind}: {exc.detail} {exc.field_errors}") from exc
            with calendar.clock_at(min(calendar.after_seconds(received, 2 * 3600), now)):
                self._advance(ticket, index, ops, agent)
        self._agent_callbacks(agent, now)
        self._dead_letter(now)
        self.stdout.write(f"데모 티켓 {Ticket.objects.count()}건을 만들었습니다 (오늘: {calendar.kst_date(now)}).")

    def _agent_callbacks(self, agent, now):
        """Call-backs for the demo agent (the owner of an unassigned ticket they logged): one past
        its due time, one due today when the calendar allows, one due later."""
        plans = [
            (10, 9, "지난주에 접수했는데 아직 연락이 없다고 다시 전화함"),
            (None, None, "앱 결제 오류가 계속된다며 재문의"),
            (0, 0, "오늘 접수 건의 처리 일정을 물어봄"),
        ]
        for received_days, recontact_days, memo in plans:
            if received_days is None:  # due today: a re-contact whose 2nd business day ends today
                moment = next(
                    (
                        calendar.days_ago(now, d)
                        for d in range(1, 8)
                        if calendar.kst_date(calendar.end_of_nth_business_day(calendar.days_ago(now, d), 2))
                        == calendar.kst_date(now)
                        and calendar.end_of_nth_business_day(calendar.days_ago(now, d), 2) > now
                    ),
                    None,
                )
                if moment is None:
                    continue
                received, logged = calendar.after_seconds(moment, -3600), moment
            else:
                received = calendar.after_seconds(calendar.days_ago(now, received_days), -7200)
                logged = calendar.after_seconds(calendar.days_ago(now, recontact_days), -3600)
            with calendar.clock_at(received):
                ticket = services.ticket_create(
                    kind="pet-cs-inquiry",
                    details={"issue_type": "app_error", "description": memo},
                    actor=agent,
                    identity_verified=True,
                    member_id=f"M-4{len(memo):05d}",
                    customer_phone=PHONES[len(memo) % len(PHONES)],
                    consent_basis="existing_member",
                )
            with calendar.clock_at(logged):
                services.ticket_log_recontact(ticket, actor=agent, note=memo)

    def _dead_letter(self, now):
        """One customer SMS that the gateway kept refusing (a dead letter for the supervisor's
        page), written as the dispatcher would have when it fell due."""
        fu = (
            FollowUp.objects.filter(action=Action.CUSTOMER_MESSAGE, due_at__lt=now, state__in=PENDING_FOLLOWUP_STATES)
            .exclude(state=FollowUpState.HELD)
            .select_related("ticket", "policy__template")
            .order_by("due_at")
            .first()
        )
        if fu is None or not fu.ticket.customer_phone:
            return
        with calendar.clock_at(fu.due_at):
            message = outbox.message_enqueue(
                channel="sms",
                recipient=fu.ticket.customer_phone,
                idempotency_key=f"followup:{fu.pk}:customer",
                template=fu.policy.template,
                context=message_context(fu.ticket, fu),
            )
        Message.objects.filter(pk=message.pk).update(
            state=Message.State.DEAD, attempts=6, last_error="발송사 일시 오류 (HTTP 503), 6회 시도 후 보류"
        )
        FollowUp.objects.filter(pk=fu.pk).update(state=FollowUpState.DONE, message=message, completed_at=fu.due_at)
        scheduling.refresh_next_due([fu.ticket_id])

    def _advance(self, ticket, index, ops, agent):
        step = index % 5
        if ticket.kind.code == "driver-penalty-request" and index == 0:
            services.ticket_record_outcome(ticket, outcome="warning", actor=ops)
        elif ticket.kind.code == "driver-compensation-demand":
            services.ticket_log_recontact(ticket, actor=agent, note="회신이 없다며 다시 전화함")
        elif step == 1:
            services.ticket_transition(ticket, to_status=Status.IN_PROGRESS, actor=ops)
        elif step == 2:
            services.ticket_transition(ticket, to_status=Status.WAITING_CUSTOMER, actor=ops, note="영수증 사진 요청")
        elif step == 3 and not ticket.kind.outcomes and not ticket.kind.requires_manager_confirmation:
            services.ticket_transition(ticket, to_status=Status.IN_PROGRESS, actor=ops)
            services.ticket_transition(ticket, to_status=Status.RESOLVED, actor=ops)
            services.ticket_transition(ticket, to_status=Status.CLOSED, actor=ops)
        elif step == 4 and not ticket.kind.outcomes:
            services.ticket_transition(ticket, to_status=Status.CANCELLED, actor=agent, note="고객이 요청 철회")
        elif step == 0 and index and not ticket.kind.outcomes:
            services.ticket_transition(ticket, to_status=Status.IN_PROGRESS, actor=ops)
            services.ticket_transition(ticket, to_status=Status.RESOLVED, actor=ops, note="안내 완료, 종료 대기")

    def _demo_policy(self, users, delay):
        """A reminder to the owner `delay` seconds after any new ticket: shows the
        follow-up engine working in the console e-mail backend right after start-up."""
        template = MessageTemplate.objects.get(code="owner-reminder")
        policy, _created = FollowUpPolicy.objects.update_or_create(
            code="demo-penalty-owner-reminder",
            defaults={
                "name": f"[데모] 접수 {delay}초 후 담당자 리마인드",
                "kind": None,
                "trigger": "ticket_received",
                "action": "remind_owner",
                "template": template,
                "timing": "offset_seconds",
                "timing_n": delay,
                "conditions": {},
                "active": True,
            },
        )
        # One open penalty ticket gets the reminder now. Only this policy's row is made: running the
        # whole "received" trigger again would schedule the kind's own duties a second time.
        demo = (
            Ticket.objects.filter(kind__code="driver-penalty-request", status__in=OPEN_STATUSES, assignee__isnull=False)
            .order_by("id")
            .first()
        )
        if demo:
            now = calendar.now()
            FollowUp.objects.get_or_create(
                dedupe_key=f"{policy.code}:{demo.pk}:demo-{now:%Y%m%d%H%M%S}",
                defaults={
                    "ticket": demo,
                    "policy": policy,
                    "action": policy.action,
                    "due_at": scheduling.due_time(policy, now),
                    "marks_breach": policy.marks_breach,
                    "pauses_when_waiting": policy.pauses_when_waiting,
                    "reason": policy.name,
                },
            )
            scheduling.refresh_next_due([demo])
