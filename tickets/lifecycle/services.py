"""Ticket services: every change to a ticket goes through one of these verbs.

Each verb runs in one transaction, checks the rules, writes the audit event and schedules
follow-ups; API views, console views, admin and tasks call these and hold no rules.
"""

from django.db import transaction

from cstrack import calendar
from cstrack.actors import SYSTEM, Actor
from cstrack.errors import Conflict, DomainValidationError, NotFound, StaleVersion
from cstrack.logging import scrub
from tickets import audit, configuration
from tickets.access.policy import ensure
from tickets.followups import scheduling as followups
from tickets.kinds import behaviours, parking
from tickets.kinds.schema import REFERENCE_FIELDS, validate_details
from tickets.kinds.services import kind_get
from tickets.lifecycle import workflow
from tickets.lifecycle.references import next_reference
from tickets.locking import locked_ticket
from tickets.models import (
    Board,
    Channel,
    EventType,
    ReContact,
    Status,
    Ticket,
    TicketKind,
    Trigger,
)
from tickets.privacy import attachments
from tickets.privacy.consent import apply_contact
from tickets.privacy.contact import ticket_purge_contact
from tickets.validation import contact_errors, length_errors, not_a_choice, refuse_contact_in_text, refuse_nul

EDITABLE_FIELDS = {"title", "priority", "channel", "requester_type", *REFERENCE_FIELDS, "identity_verified", "details"}


# --- Create --------------------------------------------------------------------------------------


@transaction.atomic
@configuration.one_view()
def ticket_create(
    *,
    kind: str | TicketKind,
    details: dict,
    actor: Actor = SYSTEM,
    channel: str = "phone",
    requester_type: str | None = None,
    priority: str = "normal",
    title: str = "",
    member_id: str = "",
    driver_id: str = "",
    call_id: str = "",
    vehicle_plate: str = "",
    parking_lot: str = "",
    customer_phone: str = "",
    customer_email: str = "",
    identity_verified: bool = False,
    consent_basis: str = "",
    delegation_caller: str = "",
    delegation_relation: str = "",
    assignee=None,
    created_via: str = "",
) -> Ticket:
    from tickets.models import Priority, RequesterType

    arguments = {k: v for k, v in locals().items() if isinstance(v, str)}
    ensure(actor, "create_ticket")
    refuse_nul({"details": details if isinstance(details, dict) else {}, **arguments})
    kind = ensure(actor, "create_ticket", kind if isinstance(kind, TicketKind) else kind_get(kind))
    refs = {
        "member_id": member_id,
        "driver_id": driver_id,
        "call_id": call_id,
        "vehicle_plate": vehicle_plate,
        "parking_lot": parking_lot,
    }
    refs = {k: (v or "").strip() for k, v in refs.items()}
    errors = {}
    requester_type = requester_type or kind.default_requester_type
    for field, value, choices in (
        ("channel", channel, Channel),
        ("priority", priority, Priority),
        ("requester_type", requester_type, RequesterType),
    ):
        if value not in choices.values:
            errors[field] = not_a_choice(value, choices)
    errors.update(length_errors(Ticket, refs))
    errors.update(contact_errors({"title": title}))
    schema_version = kind.current_schema
    plain, personal = {}, {}
    if schema_version is None:
        errors["kind"] = [
            f"'{kind.name}' 유형에는 아직 입력 양식(필드 스키마)이 없어 접수할 수 없습니다. 관리자에게 문의해 주세요."
        ]
    else:
        try:
            plain, personal = validate_details(schema_version.schema, details, refs)
        except DomainValidationError as exc:
            errors.update(exc.field_errors)

    received_at = calendar.now()
    ticket = Ticket(
        kind=kind,
        schema_version=schema_version,
        service_line=kind.service_line,
        category_path=kind.category_path,
        channel=channel,
        requester_type=requester_type,
        priority=priority,
        title=(title or "").strip()[:200] or kind.name,
        board=kind.default_board,
        received_at=received_at,
        created_by=actor.user if getattr(actor.user, "pk", None) else None,
        created_via=created_via or actor.label,
        identity_verified=bool(identity_verified),
        details=plain,
        sensitive_details=personal,
        **refs,
    )
    # Every problem in one answer: the contact and consent are checked even when the details
    # are wrong, so the agent fixes the form in one pass (the ticket object is not saved yet).
    try:
        if not errors:
            behaviours.on_create(
                behaviours.Creation(
                    ticket, plain, assignee=assignee, customer_phone=customer_phone, consent_basis=consent_basis
                )
            )
    except DomainValidationError as exc:
        errors.update(exc.field_errors)
    try:
        apply_contact(
            ticket,
            phone=customer_phone,
            email=customer_email,
            basis=consent_basis,
            actor=actor,
            delegation_caller=delegation_caller,
            delegation_relation=delegation_relation,
            has_personal_details=bool(personal),
        )
    except DomainValidationError as exc:
        errors.update(exc.field_errors)
    if errors:
        raise DomainValidationError(errors)
    planned_followups = followups.plan_for_new_ticket(ticket, Trigger.TICKET_RECEIVED, anchor=received_at)
    ticket.reference = next_reference(received_at)
    ticket.save()
    events = [
        audit.event(
            ticket,
            EventType.CREATED,
            actor,
            kind=kind.code,
            status=ticket.status,
            board=ticket.board.code,
            schema_version=schema_version.version,
            customer_phone=ticket.customer_phone_masked,
            consent_basis=ticket.consent_basis,
            routed_to=ticket.routed_to,
        )
    ]
    if ticket.consent_basis:
        events.append(
            audit.event(
                ticket, EventType.CONSENT, actor, basis=ticket.consent_basis, relation=ticket.delegation_relation
            )
        )
    audit.record_many(events)
    followups.insert_for_new_ticket(ticket, planned_followups, occurrence="created")
    return ticket


# --- Update --------------------------------------------------------------------------------------


@transaction.atomic
def ticket_update(ticket: Ticket, *, actor: Actor, changes: dict, expected_version: int | None = None) -> Ticket:
    ticket = locked_ticket(ensure(actor, "update_ticket", ticket))
    if expected_version is not None and ticket.version != expected_version:
        raise StaleVersion()
    if not ticket.is_open:
        raise Conflict("종료되거나 취소된 티켓은 수정할 수 없습니다.")
    refuse_nul(changes)
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise DomainValidationError({name: ["수정할 수 없는 항목입니다."] for name in sorted(unknown)})
    changes, errors = dict(changes), {}
    for field in sorted(REFERENCE_FIELDS | {"title"}):
        if field in changes:
            value = "" if changes[field] is None else changes[field]
            limit = Ticket._meta.get_field(field).max_length
            if not isinstance(value, str):
                errors[field] = ["문자열이어야 합니다."]
            elif len(value.strip()) > limit:
                errors[field] = [f"{limit}자 이하로 입력해 주세요."]
            else:
                changes[field] = value.strip()
    if isinstance(changes.get("title"), str):
        errors.update(contact_errors({"title": changes["title"]}))
    if errors:
        raise DomainValidationError(errors)
    before, after = {}, {}
    # A changed reference is checked against the schema too (a required one cannot be blanked).
    if "details" in changes or REFERENCE_FIELDS & set(changes):
        merged = {**ticket.details, **ticket.sensitive_details, **(changes.get("details") or {})}
        merged = {k: v for k, v in merged.items() if v is not None}
        refs = {f: changes.get(f, getattr(ticket, f)) for f in REFERENCE_FIELDS}
        plain, personal = validate_details(ticket.schema_version.schema, merged, refs)
        if personal and not ticket.consent_basis:
            raise DomainValidationError({"consent_basis": ["개인정보를 저장하려면 근거(동의)를 먼저 기록해 주세요."]})
        for key in sorted(set(plain) | set(ticket.details)):
            if ticket.details.get(key) != plain.get(key):
                before[f"details.{key}"], after[f"details.{key}"] = ticket.details.get(key), plain.get(key)
        for key in sorted(set(personal) | set(ticket.sensitive_details)):
            if ticket.sensitive_details.get(key) != personal.get(key):
                before[f"details.{key}"], after[f"details.{key}"] = "***", "***"
        ticket.details, ticket.sensitive_details = plain, personal
        # The kind's behaviours keep what follows from the details (board, driver block).
        behaviours.on_update(ticket, before, after)
    for field in EDITABLE_FIELDS - {"details"}:
        if field in changes and changes[field] != getattr(ticket, field):
            value = changes[field]
            model_field = Ticket._meta.get_field(field)
            if model_field.choices and value not in dict(model_field.choices):
                raise DomainValidationError({field: ["허용되지 않는 값입니다."]})
            before[field], after[field] = getattr(ticket, field), value
            setattr(ticket, field, value)
    if not after:
        return ticket
    ticket.version += 1
    ticket.save()
    audit.record(ticket, EventType.UPDATED, actor, before=before, after=after)
    return ticket


# --- Workflow ------------------------------------------------------------------------------------


@transaction.atomic
def ticket_transition(ticket: Ticket, *, to_status: str, actor: Actor, note: str = "") -> Ticket:
    ticket = locked_ticket(ensure(actor, "transition_ticket", ticket))
    refuse_contact_in_text({"note": note})
    workflow.guard(ticket, to_status)
    return _move(ticket, to_status, actor, note)


def _move(ticket: Ticket, to_status: str, actor: Actor, note: str = "") -> Ticket:
    from_status = ticket.status
    now = calendar.now()
    ticket.status = to_status
    if to_status == Status.WAITING_CUSTOMER:
        ticket.paused_at = now
    if to_status == Status.RESOLVED:
        ticket.resolved_at = now
    if to_status in (Status.CLOSED, Status.CANCELLED):
        ticket.closed_at = now
    paused_at = ticket.paused_at if from_status == Status.WAITING_CUSTOMER else None
    if paused_at:
        ticket.paused_at = None
    ticket.version += 1
    ticket.save()
    audit.record(ticket, EventType.TRANSITIONED, actor, **{"from": from_status, "to": to_status, "note": note})
    followups.on_status_change(ticket, from_status, to_status, paused_at=paused_at, actor=actor)
    attachments.on_status_change(ticket, to_status, actor)
    if to_status in (Status.CLOSED, Status.CANCELLED) and ticket.kind.purge_contact_on_close:
        ticket_purge_contact(ticket, actor=SYSTEM, reason="종료 시 연락처 삭제 (유형 정책)")
    return ticket


@transaction.atomic
def ticket_record_outcome(
    ticket: Ticket, *, outcome: str, actor: Actor, reason: str = "", driver_blocked: bool | None = None
) -> Ticket:
    ticket = locked_ticket(ensure(actor, "record_outcome", ticket))
    refuse_contact_in_text({"reason": reason})
    kind = ticket.kind
    if not kind.outcomes:
        raise Conflict(f"'{kind.name}' 유형은 처리 결과를 기록하지 않습니다.", code="no_outcome_for_kind")
    allowed = [value for value, _label in kind.outcomes]
    if outcome not in allowed:
        raise DomainValidationError({"outcome": not_a_choice(outcome, kind.outcomes)})
    if outcome in kind.outcomes_needing_reason and not (reason or "").strip():
        raise DomainValidationError(
            {"reason": ["이 결과는 관리자 컨펌 사유를 남겨야 합니다. 예: 관리자 컨펌 후 페널티 미작성"]}
        )
    if ticket.outcome:
        raise Conflict("처리 결과가 이미 기록되었습니다.", code="outcome_already_recorded")
    if not ticket.is_open:
        raise Conflict("종료되거나 취소된 티켓에는 결과를 기록할 수 없습니다.")
    if kind.requires_manager_confirmation and not ticket.manager_confirmed_at:
        raise Conflict("관리자 컨펌을 먼저 기록해야 완료할 수 있습니다.", code="manager_confirmation_required")
    now = calendar.now()
    ticket.outcome, ticket.outcome_reason, ticket.outcome_recorded_at = outcome, (reason or "").strip(), now
    ticket.outcome_recorded_by = actor.user if getattr(actor.user, "pk", None) else None
    if driver_blocked is not None:
        ticket.driver_blocked = bool(driver_blocked)
    ticket.version += 1
    ticket.save()
    audit.record(
        ticket,
        EventType.OUTCOME,
        actor,
        outcome=outcome,
        reason=ticket.outcome_reason,
        driver_blocked=ticket.driver_blocked,
    )
    if ticket.status == Status.RECEIVED:
        _move(ticket, Status.IN_PROGRESS, actor, note="결과 기록")
    if ticket.status in (Status.IN_PROGRESS,):
        _move(ticket, Status.ACTION_TAKEN, actor, note="결과 기록")
    followups.on_outcome(ticket)
    followups.schedule(ticket, Trigger.OUTCOME_RECORDED, anchor=now, occurrence="outcome")
    for trigger, occurrence in behaviours.outcome_triggers(ticket, outcome):
        followups.schedule(ticket, trigger, anchor=now, occurrence=occurrence)
    return ticket


@transaction.atomic
def ticket_confirm_manager(ticket: Ticket, *, manager_name: str, actor: Actor) -> Ticket:
    ticket = locked_ticket(ensure(actor, "confirm_manager", ticket))
    refuse_contact_in_text({"manager_name": manager_name})
    if not (manager_name or "").strip():
        raise DomainValidationError({"manager_name": ["컨펌한 관리자 이름을 입력해 주세요."]})
    ticket.manager_confirmed_by, ticket.manager_confirmed_at = manager_name.strip()[:100], calendar.now()
    ticket.version += 1
    ticket.save()
    audit.record(ticket, EventType.MANAGER_CONFIRMED, actor, manager=ticket.manager_confirmed_by)
    return ticket


@transaction.atomic
def ticket_assign(ticket: Ticket, *, actor: Actor, assignee=None, board: Board | None = None, note: str = "") -> Ticket:
    ticket = locked_ticket(ensure(actor, "assign_ticket", ticket))
    before = {"assignee": ticket.assignee.get_username() if ticket.assignee else None, "board": ticket.board.code}
    if board is not None:
        ticket.board = board
    ticket.assignee = assignee
    ticket.version += 1
    ticket.save()
    after = {"assignee": assignee.get_username() if assignee else None, "board": ticket.board.code}
    extra = {"note": note.strip()[:300]} if (note or "").strip() else {}
    audit.record(ticket, EventType.ASSIGNED, actor, before=before, after=after, **extra)
    return ticket


# A second re-contact on the same ticket this soon is the same call logged twice (a double
# submit, or two agents on one call): it is merged into the first, not scheduled again.
RECONTACT_MERGE_SECONDS = 10 * 60
RECONTACT_NOTE_REQUIRED = "고객이 무엇을 다시 문의했는지 메모를 남겨 주세요."


@transaction.atomic
def ticket_log_recontact(ticket: Ticket, *, actor: Actor, channel: str = "phone", note: str = "") -> ReContact:
    """A customer called again about this ticket: record it and schedule the call-back duties.

    The memo is required (the call back is made from it). Within RECONTACT_MERGE_SECONDS of the
    previous re-contact the memo is appended to that one instead, audited as a merge, and no
    second set of call-backs and alerts is scheduled. The returned row has `merged` set."""
    ensure(actor, "log_recontact", ticket)
    if channel not in Channel.values:
        raise DomainValidationError({"channel": not_a_choice(channel, Channel)})
    refuse_contact_in_text({"note": note})
    ticket = locked_ticket(ticket)
    if not ticket.is_open:
        raise Conflict("종료되거나 취소된 티켓입니다. 새 티켓을 접수해 주세요.")
    note = (note or "").strip()
    if not note:
        raise DomainValidationError({"note": [RECONTACT_NOTE_REQUIRED]})
    refuse_nul({"note": note})
    now = calendar.now()
    recent = (
        ticket.recontacts.filter(logged_at__gte=calendar.after_seconds(now, -RECONTACT_MERGE_SECONDS))
        .order_by("-logged_at", "-pk")
        .first()
    )
    if recent is not None:
        if note not in recent.note.split("\n"):
            recent.note = f"{recent.note}\n{note}"[:2000] if recent.note else note[:2000]
            recent.save(update_fields=["note"])
        audit.record(
            ticket, EventType.RECONTACT, actor, channel=channel, recontact=recent.pk, merged=True, note=scrub(note)
        )
        recent.merged = True
        return recent
    recontact = ReContact.objects.create(
        ticket=ticket,
        channel=channel,
        note=note[:2000],
        logged_by=actor.user if getattr(actor.user, "pk", None) else None,
        logged_at=now,
        promised_by=calendar.end_of_nth_business_day(now, 2),
    )
    audit.record(
        ticket,
        EventType.RECONTACT,
        actor,
        channel=channel,
        recontact=recontact.pk,
        promised_by=recontact.promised_by.isoformat(),
        note=scrub(note),  # events hold masked values only
    )
    followups.schedule(ticket, Trigger.RECONTACT_LOGGED, anchor=now, occurrence=f"recontact-{recontact.pk}")
    recontact.merged = False
    return recontact


def recontact_promise_text(recontact: ReContact) -> str:
    label = calendar.business_time_label(recontact.promised_by)
    return f"1~2영업일 안에 연락드리겠다고 안내해 주세요. 늦어도 {label}까지 담당자가 회신해야 합니다."


# --- Parking compensation ----------------------------------------------------------------------


@transaction.atomic
def ticket_grant_coupon(ticket: Ticket, *, actor: Actor) -> Ticket:
    from tickets.selectors import season_pass_coupon_status, season_pass_month_tickets

    ensure(actor, "grant_coupon", ticket)
    # Lock the customer's season-pass tickets of the month (this one included) in id order, so
    # two operators granting at the same moment cannot both see "no coupon yet", nor deadlock.
    fresh = Ticket.objects.get(pk=ticket.pk)
    list(season_pass_month_tickets(fresh).select_for_update(of=("self",)).order_by("pk").values_list("pk", flat=True))
    ticket = locked_ticket(ticket)
    if not behaviours.uses(ticket.kind, behaviours.SEASON_PASS):
        raise Conflict("이 유형은 주차 정기권 쿠폰 대상이 아닙니다.", code="coupon_not_eligible")
    status = season_pass_coupon_status(ticket)
    if not status.eligible:
        raise Conflict(status.reason, code="coupon_not_eligible")
    ticket.compensation_krw = parking.COUPON_KRW
    ticket.version += 1
    ticket.save()
    audit.record(ticket, EventType.OUTCOME, actor, coupon_krw=parking.COUPON_KRW)
    return ticket


def ticket_get(reference_or_id) -> Ticket:
    qs = Ticket.objects.select_related("kind", "board", "assignee", "schema_version")
    try:
        if str(reference_or_id).isdigit():
            return qs.get(pk=int(reference_or_id))
        return qs.get(reference=reference_or_id)
    except Ticket.DoesNotExist:
        raise NotFound("티켓을 찾을 수 없습니다.") from None
