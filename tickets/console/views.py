"""The Korean web console. Views read through selectors, change through services, and show a
DomainError's messages next to the fields it names. No rules live here."""

import csv

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from cstrack import calendar
from cstrack.actors import Actor
from cstrack.errors import DomainError, DomainValidationError, NotFound
from notifications import services as outbox
from notifications.models import Message
from tickets.followups import changes as followup_changes
from tickets.kinds import panels
from tickets.lifecycle import macros as macro_services
from tickets.lifecycle import services, workflow
from tickets.privacy import attachments as attachment_services
from tickets.privacy import consent, contact
from tickets.privacy import delegation as delegation_services

from .. import selectors
from ..access import policy as access
from ..models import (
    Board,
    Channel,
    ConsentBasis,
    DelegationCase,
    DelegationRelation,
    EventType,
    FollowUp,
    Priority,
    RequesterType,
    Status,
    TicketKind,
)
from . import forms, present, queries
from .access import capabilities, requires

COMMON_LABELS = {
    "title": _lazy("제목 (비우면 유형 이름)"),
    "channel": _lazy("인입 채널"),
    "requester_type": _lazy("요청자 구분"),
    "priority": _lazy("중요도"),
    "member_id": _lazy("회원 ID"),
    "driver_id": _lazy("기사 ID"),
    "call_id": _lazy("콜 ID"),
    "vehicle_plate": _lazy("차량 번호"),
    "parking_lot": _lazy("주차장"),
    "customer_phone": _lazy("고객 연락처"),
    "customer_email": _lazy("고객 이메일"),
    "identity_verified": _lazy("본인 확인 완료"),
    "consent_basis": _lazy("개인정보 근거"),
    "delegation_caller": _lazy("위임한 호출자"),
    "delegation_relation": _lazy("제3자와의 관계"),
    "assignee": _lazy("담당자 지정"),
}
COMMON_FIELDS = set(COMMON_LABELS)


def page(request, template, context=None, status=200):
    return render(request, template, {"caps": capabilities(request), **(context or {})}, status=status)


def _actor(request):
    return Actor.for_user(request.user)


def _safe_next(request, fallback):
    """A local path from ?next= / next=, else `fallback`. Only "/..." paths: anything else
    (another host, "//host", or a bare word that redirect() would try to reverse as a view
    name) falls back."""
    target = request.POST.get("next") or request.GET.get("next")
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure())
    ):
        return target
    return fallback


def _ticket_or_404(request, reference):
    """The ticket, if the access policy lets this user see it; anything else is a 404, so its
    existence does not leak."""
    try:
        return access.ensure_visible(request.user, services.ticket_get(reference))
    except NotFound:
        raise Http404(_("티켓을 찾을 수 없습니다.")) from None


def _error_bag(exc: DomainError) -> dict:
    return {"fields": exc.field_errors, "detail": "" if exc.field_errors else exc.detail}


# --- Home ---------------------------------------------------------------------------------------


@login_required
def home(request):
    caps = capabilities(request)
    if caps.manage_followups:
        return redirect("console:supervisor")
    if caps.record_outcome:
        return redirect("console:ops_queue")
    if caps.log_tickets or caps.log_recontact:
        return redirect("console:agent_home")
    return page(request, "console/no_role.html")


# --- New ticket ---------------------------------------------------------------------------------


@requires("create_ticket")
def ticket_new(request):
    kinds = list(
        access.visible_kinds(request.user, TicketKind.objects.filter(active=True)).select_related("default_board")
    )
    code = request.POST.get("kind") or request.GET.get("kind") or ""
    kind = next((k for k in kinds if k.code == code), None)
    values = request.POST if request.method == "POST" else request.GET
    errors, top_errors = {}, []
    schema = kind.schema if kind else {}
    staff = list(queries.staff_users()) if kind else []

    # Switching the kind re-opens the form with what was already typed: a POST, so a phone
    # number typed so far never goes into a URL.
    switching = request.method == "POST" and bool(request.POST.get("switch_kind"))
    if request.method == "POST" and not switching:
        if kind is None:
            top_errors.append(_("티켓 유형을 선택해 주세요."))
        else:
            kwargs = forms.create_kwargs(request.POST)
            assignee_id = request.POST.get("assignee") or ""
            assignee = next((u for u in staff if str(u.pk) == assignee_id), None)
            try:
                if assignee_id and assignee is None:
                    raise DomainValidationError({"assignee": [_("담당자를 목록에서 골라 주세요.")]})
                ticket = services.ticket_create(
                    kind=kind,
                    details=forms.details_from_post(schema, request.POST),
                    actor=_actor(request),
                    assignee=assignee,
                    created_via="console",
                    **kwargs,
                )
            except DomainError as exc:
                errors = exc.field_errors
                if not errors:
                    top_errors.append(exc.detail)
            else:
                messages.success(request, _("%(reference)s 티켓을 접수했습니다.") % {"reference": ticket.reference})
                return redirect("console:ticket_detail", reference=ticket.reference)

    fields = present.form_fields(schema, values, errors) if kind else []
    known = {f["name"] for f in fields} | COMMON_FIELDS
    top_errors += [f"{msg}" for key, msgs in errors.items() if key not in known for msg in msgs]
    common = {
        name: {
            "name": name,
            "id": f"f-{name}",
            "label": label,
            "value": values.get(name, ""),
            "errors": errors.get(name, []),
            "required": name in schema.get("required_refs", []),
        }
        for name, label in COMMON_LABELS.items()
    }
    context = {
        "common": common,
        "kinds": kinds,
        "kind": kind,
        "fields": fields,
        "values": values,
        "errors": errors,
        "top_errors": top_errors,
        "required_refs": set(schema.get("required_refs", [])),
        "channels": [c for c in Channel.choices if c[0] != Channel.API],
        "requester_types": RequesterType.choices,
        "priorities": Priority.choices,
        "consent_bases": ConsentBasis.choices,
        "default_requester": kind.default_requester_type if kind else RequesterType.CUSTOMER,
        "staff": staff,
    }
    context["switching"] = switching
    return page(request, "console/tickets/new.html", context, status=400 if errors or top_errors else 200)


# --- Ticket page --------------------------------------------------------------------------------


def _ticket_page(
    request, ticket, *, errors=None, revealed=None, status=200, form_values=None, revealed_delegation=None
):
    caps = capabilities(request)
    now = calendar.now()
    ticket.outcome_text = ticket.kind.outcome_label(ticket.outcome)
    events = list(ticket.events.all())
    followups = present.followup_rows(list(ticket.followups.select_related("message").defer("message__recipient")), now)
    context = {
        "recontacts": present.recontact_rows(events),
        "ticket": ticket,
        "received_label": present.when(ticket.received_at),
        "details": present.detail_rows(ticket),
        "timeline": present.timeline(ticket, events, followups),
        "followups": followups,
        "errors": errors or {},
        "form_values": form_values or {},
        "revealed": present.revealed_rows(ticket, revealed) if revealed is not None else None,
        "route_label": panels.route(ticket),
        "targets": [(s, Status(s).label) for s in workflow.allowed_targets(ticket)],
        "channels": [c for c in Channel.choices if c[0] != Channel.API],
        "consent_bases": ConsentBasis.choices,
        # Where a form on this page returns to. A page rendered for a failed POST answers at the
        # action's URL, which only takes POST: return to where the form came from instead.
        "here": _safe_next(request, reverse("console:ticket_detail", args=[ticket.reference]))
        if request.method == "POST"
        else request.path,
    }
    context.update(_penalty_panel(ticket, caps))
    context.update(_season_pass_panel(ticket))
    context["delegations"] = list(ticket.delegations.order_by("recorded_at", "pk"))
    context["revealed_delegation"] = revealed_delegation
    context["delegation_relations"] = DelegationRelation.choices
    context["delegation_cases"] = DelegationCase.choices
    context["attachments"] = [present.attachment_row(a) for a in ticket.attachments.order_by("uploaded_at", "pk")]
    # Listed by the role's permissions (no query); applying checks the user's own (the service).
    context["macros"] = macro_services.macros_usable(ticket, caps.can) if ticket.is_open else []
    response = page(request, "console/tickets/detail.html", context, status=status)
    if revealed is not None or revealed_delegation is not None:
        response["Cache-Control"] = "no-store"
    return response


def _penalty_panel(ticket, caps):
    found = panels.penalty_history(ticket) if caps.record_outcome else None
    if found is None:
        return {"penalty_history": None}
    history, counts = found
    for t in history:
        t.received_label = present.when(t.received_at)
        t.outcome_text = t.kind.outcome_label(t.outcome)
    return {"penalty_history": history, "penalty_counts": counts}


def _season_pass_panel(ticket):
    return {"season_pass": panels.season_pass(ticket)}


@never_cache
@requires("reveal_delegation_contact")
@require_POST
def delegation_reveal(request, reference, pk):
    """The third party's number, once, through an active delegation record; audited."""
    ticket = _ticket_or_404(request, reference)
    try:
        delegation = delegation_services.delegation_get(ticket, pk)
        number = delegation_services.delegation_contact_number(
            ticket, delegation, actor=_actor(request), reason=request.POST.get("reason", "")
        )
    except NotFound:
        raise Http404(_("위임 기록을 찾을 수 없습니다.")) from None
    except DomainError as exc:
        return _ticket_page(request, ticket, errors={"delegation_reveal": _error_bag(exc)}, status=exc.status)
    shown = {"pk": delegation.pk, "number": present.phone_display(number)}
    return _ticket_page(request, ticket, revealed_delegation=shown)


@never_cache
@requires("download_attachment")
def attachment_download(request, pk):
    """The decrypted file for a permitted role on a ticket they may see; audited by the service."""
    try:
        attachment = access.ensure_visible(request.user, attachment_services.attachment_get(pk))
    except NotFound:
        raise Http404(_("첨부파일을 찾을 수 없습니다.")) from None
    try:
        return attachment_services.attachment_open(attachment, actor=_actor(request)).as_download()
    except DomainError as exc:
        messages.error(request, exc.detail)
        return redirect("console:ticket_detail", attachment.ticket.reference)


@requires("view_ticket")
def ticket_detail(request, reference):
    return _ticket_page(request, _ticket_or_404(request, reference))


def _do_recontact(request, ticket, actor):
    recontact = services.ticket_log_recontact(
        ticket, actor=actor, channel=request.POST.get("channel") or Channel.PHONE, note=request.POST.get("note", "")
    )
    if recontact.merged:
        messages.info(
            request, _("방금 기록한 재인입과 같은 건으로 보고 메모만 덧붙였습니다. 회신 전화는 한 번만 잡힙니다.")
        )
    messages.success(request, services.recontact_promise_text(recontact), extra_tags="promise")


def _do_outcome(request, ticket, actor):
    blocked = None
    if request.POST.get("driver_blocked_shown"):
        blocked = bool(request.POST.get("driver_blocked"))
    services.ticket_record_outcome(
        ticket,
        outcome=request.POST.get("outcome", ""),
        actor=actor,
        reason=request.POST.get("reason", ""),
        driver_blocked=blocked,
    )
    messages.success(request, _("%(reference)s 처리 결과를 기록했습니다.") % {"reference": ticket.reference})


def _do_confirm(request, ticket, actor):
    services.ticket_confirm_manager(ticket, manager_name=request.POST.get("manager_name", ""), actor=actor)
    messages.success(request, _("관리자 컨펌을 기록했습니다."))


def _do_coupon(request, ticket, actor):
    services.ticket_grant_coupon(ticket, actor=actor)
    messages.success(request, _("주차 쿠폰 지급을 기록했습니다."))


def _do_attach(request, ticket, actor):
    upload = request.FILES.get("file")
    if upload is None:
        raise DomainValidationError({"file": [_("첨부할 파일을 골라 주세요.")]})
    attachment_services.attachment_add(ticket, actor=actor, name=upload.name, content=upload)
    messages.success(request, _("파일을 암호화해 첨부했습니다."))


def _do_consent(request, ticket, actor):
    consent.ticket_record_consent(
        ticket,
        actor=actor,
        basis=request.POST.get("consent_basis", ""),
        customer_phone=request.POST.get("customer_phone", ""),
        customer_email=request.POST.get("customer_email", ""),
        delegation_caller=request.POST.get("delegation_caller", ""),
        delegation_relation=request.POST.get("delegation_relation", ""),
    )
    messages.success(request, _("개인정보 근거를 기록했습니다."))


def _do_delegate(request, ticket, actor):
    delegation_services.delegation_record(
        ticket,
        actor=actor,
        relation=request.POST.get("relation", ""),
        case=request.POST.get("case", ""),
        caller=request.POST.get("caller", ""),
        third_party_phone=request.POST.get("third_party_phone", ""),
        third_party_is_member=bool(request.POST.get("third_party_is_member")),
        third_party_consented=bool(request.POST.get("third_party_consented")),
    )
    messages.success(request, _("제3자 위임을 기록했습니다."))


def _do_revoke_delegation(request, ticket, actor):
    delegation = delegation_services.delegation_get(ticket, request.POST.get("delegation", ""))
    delegation_services.delegation_revoke(delegation, actor=actor, note=request.POST.get("note", ""))
    messages.success(request, _("위임 철회를 기록했습니다. 이 번호로는 더 연락하지 않습니다."))


def _do_transition(request, ticket, actor):
    services.ticket_transition(
        ticket, to_status=request.POST.get("to_status", ""), actor=actor, note=request.POST.get("note", "")
    )
    messages.success(request, _("상태를 변경했습니다."))


# The form posted -> (the access policy's action, the handler).
TICKET_ACTIONS = {
    "recontact": ("log_recontact", _do_recontact),
    "outcome": ("record_outcome", _do_outcome),
    "confirm": ("confirm_manager", _do_confirm),
    "coupon": ("grant_coupon", _do_coupon),
    "attach": ("add_attachment", _do_attach),
    "delegate": ("record_delegation", _do_delegate),
    "revoke-delegation": ("revoke_delegation", _do_revoke_delegation),
    "consent": ("record_consent", _do_consent),
    "transition": ("transition_ticket", _do_transition),
}


@login_required
@require_POST
def ticket_action(request, reference, action):
    if action not in TICKET_ACTIONS:
        raise Http404
    policy_action, handler = TICKET_ACTIONS[action]
    if not access.may(request.user, policy_action):
        raise PermissionDenied
    ticket = _ticket_or_404(request, reference)
    try:
        handler(request, ticket, _actor(request))
    except DomainError as exc:
        return _ticket_page(
            request, ticket, errors={action: _error_bag(exc)}, status=exc.status, form_values={action: request.POST}
        )
    fallback = reverse("console:ticket_detail", args=[ticket.reference])
    return redirect(_safe_next(request, fallback))


@never_cache
@requires("reveal_contact")
@require_POST
def ticket_reveal(request, reference):
    """Show the unmasked contact once, to a permitted role, with a reason; the service audits it."""
    ticket = _ticket_or_404(request, reference)
    try:
        data = contact.ticket_reveal_contact(ticket, actor=_actor(request), reason=request.POST.get("reason", ""))
    except DomainError as exc:
        return _ticket_page(request, ticket, errors={"reveal": _error_bag(exc)}, status=exc.status)
    return _ticket_page(request, _ticket_or_404(request, reference), revealed=data)


# --- Follow-ups ---------------------------------------------------------------------------------


class _ConfirmFirst(Exception):
    """The change is allowed but deserves a second look: show the warnings and ask again."""

    def __init__(self, warnings):
        super().__init__()
        self.warnings = warnings


def _do_reschedule(request, fu, actor):
    due_at = forms.parse_local_datetime(request.POST.get("due_at", ""), "due_at")
    warnings = followup_changes.reschedule_warnings([fu], due_at)
    if warnings and not request.POST.get("confirmed"):
        raise _ConfirmFirst(warnings)
    followup_changes.followup_reschedule(
        fu, due_at=due_at, reason=request.POST.get("reason", ""), actor=actor, acknowledged=warnings
    )
    messages.success(request, _("후속 조치 기한을 %(when)s(으)로 변경했습니다.") % {"when": present.when(due_at)})


def _do_cancel(request, fu, actor):
    followup_changes.followup_cancel(fu, reason=request.POST.get("reason", ""), actor=actor)
    messages.success(request, _("후속 조치를 취소했습니다."))


def _do_complete(request, fu, actor):
    followup_changes.followup_complete(fu, actor=actor, note=request.POST.get("note", ""))
    messages.success(request, _("회신 전화를 완료로 기록했습니다."))


FOLLOWUP_ACTIONS = {
    "reschedule": ("reschedule_followup", _do_reschedule),
    "cancel": ("cancel_followup", _do_cancel),
    "complete": ("complete_followup", _do_complete),
}


@login_required
@require_POST
def followup_action(request, pk, action):
    if action not in FOLLOWUP_ACTIONS:
        raise Http404
    policy_action, handler = FOLLOWUP_ACTIONS[action]
    if not access.may(request.user, policy_action):
        raise PermissionDenied
    # Only a follow-up of a ticket this user may see: anything else is a 404, as in the API.
    # (A morning digest has no ticket: it is changed on its recipient's profile page.)
    ticket_duties = FollowUp.objects.select_related("ticket").filter(ticket__isnull=False)
    fu = access.visible_followups(request.user, ticket_duties).filter(pk=pk).first()
    if fu is None:
        raise Http404
    try:
        handler(request, fu, _actor(request))
    except _ConfirmFirst as ask:
        ticket = _ticket_or_404(request, fu.ticket.reference)
        bag = {"id": fu.pk, "action": action, "warnings": ask.warnings, "values": request.POST}
        return _ticket_page(request, ticket, errors={"followup": bag})
    except DomainError as exc:
        ticket = _ticket_or_404(request, fu.ticket.reference)
        bag = {**_error_bag(exc), "id": fu.pk, "action": action, "values": request.POST}
        return _ticket_page(request, ticket, errors={"followup": bag}, status=exc.status)
    fallback = reverse("console:ticket_detail", args=[fu.ticket.reference])
    return redirect(_safe_next(request, fallback))


# --- Operations ---------------------------------------------------------------------------------


@requires("record_outcome")
def ops_queue(request):
    boards = list(
        access.visible_boards(request.user, Board.objects.all()).annotate(
            open_count=Count("tickets", filter=Q(tickets__status__in=queries.TO_DO_STATUSES))
        )
    )
    # The board asked for, else the user's busiest board (first by name on a tie).
    code = request.GET.get("board", "")
    board = next((b for b in boards if b.code == code), None) or max(boards, key=lambda b: b.open_count, default=None)
    rows = list(queries.board_queue(board)) if board else []
    for t in rows:
        t.received_label = present.when(t.received_at)
    selected_ref = request.GET.get("ticket", "")
    selected = next((t for t in rows if t.reference == selected_ref), None)
    if selected_ref and selected is None:
        selected = _ticket_or_404(request, selected_ref)
    context = {"boards": boards, "board": board, "rows": rows, "selected": selected, "errors": {}}
    if selected is not None:
        selected.received_label = present.when(selected.received_at)
        selected.outcome_text = selected.kind.outcome_label(selected.outcome)
        context["details"] = present.detail_rows(selected)
        context["recontacts"] = present.recontact_rows(selected.events.filter(type=EventType.RECONTACT))
        context.update(_penalty_panel(selected, capabilities(request)))
        context["here"] = f"{request.path}?board={board.code if board else ''}&ticket={selected.reference}"
    # Operations staff move tickets among the boards they work (the others' names stay hidden).
    context.update(queries.bulk_choices(request.user, boards=boards))
    return page(request, "console/ops/queue.html", context)


# --- Supervisor ---------------------------------------------------------------------------------


def _supervisor_filters(request, now=None):
    f = {k: request.GET.get(k, "").strip() for k in ("kind", "board", "agent", "breached", "age")}
    now = now or calendar.now()
    qs = access.visible_tickets(request.user, selectors.overdue_tickets(now))
    if f["age"] in calendar.AGE_BUCKETS:
        qs = qs.filter(selectors.age_condition(f["age"], now))
    else:
        f["age"] = ""
    if f["kind"]:
        qs = qs.filter(kind__code=f["kind"])
    if f["board"]:
        qs = qs.filter(board__code=f["board"])
    if f["agent"].isdigit():
        qs = qs.filter(Q(assignee_id=int(f["agent"])) | Q(created_by_id=int(f["agent"])))
    if f["breached"] == "1":
        qs = qs.filter(breached_at__isnull=False)
    return qs.select_related("created_by"), f


# What the supervisor's queue table shows (no contact data to decrypt, no kind schemas to parse).
QUEUE_COLUMNS = (
    "reference", "received_at", "next_due_at", "breached_at", "customer_phone_masked",
    "kind__name", "board__name", "assignee__username", "created_by__username",
)  # fmt: skip


def _queue_rows(qs, now, limit=queries.QUEUE_LIMIT, *, rows=None, total=None):
    rows = selectors.overdue_head(qs, now, limit, rows=rows, total=total) if limit else list(qs)
    for t in rows:
        since = t.oldest_due or t.received_at
        t.age_label = present.age_label(calendar.age_bucket(since, now))
        # A breached ticket whose duties are all settled has no due time left: say so, not "—".
        t.oldest_due_label = present.when(t.oldest_due) if t.oldest_due else _("남은 후속 조치 없음")
        t.received_label = present.when(t.received_at)
        t.breached_label = present.when(t.breached_at) if t.breached_at else ""
    return rows


def _shown_rows(request) -> int:
    """How many rows the queue table shows: one page, and a page more for each "더 보기", up to
    QUEUE_LIMIT. Anything else asked for shows the first page."""
    raw = request.GET.get("rows", "")
    pages = int(raw) // queries.QUEUE_PAGE if raw.isdigit() else 1
    return min(max(pages, 1) * queries.QUEUE_PAGE, queries.QUEUE_LIMIT)


@requires("view_followup_queues")
def supervisor_queue(request):
    now = calendar.now()
    qs, filters = _supervisor_filters(request, now)
    summary, live_total = None, None
    if not filters["agent"] and not filters["age"]:  # kind, board and breached narrow the shared rollup
        summary = selectors.overdue_summary_shared(
            now, kind=filters["kind"], board=filters["board"], breached_only=filters["breached"] == "1"
        )
    if summary is None:
        summary = selectors.overdue_summary(qs, now)
        live_total = summary["total"]
    shown = _shown_rows(request)
    page_rows = selectors.ticket_list().select_related("created_by").only(*QUEUE_COLUMNS)
    rows = _queue_rows(qs, now, shown + 1, rows=page_rows, total=live_total)  # one more: is there more?
    base = request.GET.copy()
    base.pop("rows", None)  # another filter or age starts again at the first page
    filter_query = base.urlencode()
    base.pop("age", None)
    chips = []
    for bucket, n in summary["by_age"].items():
        base["age"] = bucket
        chips.append(
            {"label": present.age_label(bucket), "n": n, "query": base.urlencode(), "on": filters["age"] == bucket}
        )
    base.pop("age", None)
    summary["by_age"] = chips
    summary["all_ages_query"] = base.urlencode()
    more = request.GET.copy()
    more["rows"] = shown + queries.QUEUE_PAGE
    agents = list(queries.staff_users().only("id", "username"))
    boards = list(access.visible_boards(request.user).only("id", "code", "name"))
    context = {
        "rows": rows[:shown],
        "more_query": more.urlencode() if len(rows) > shown and shown < queries.QUEUE_LIMIT else "",
        "capped": len(rows) > shown and shown >= queries.QUEUE_LIMIT,
        # "더 보기" lands on the first row it added (that row carries the anchor).
        "added_from": shown - queries.QUEUE_PAGE + 1 if shown > queries.QUEUE_PAGE else 0,
        "next_added_from": shown + 1,
        "summary": summary,
        # How old the counts are: the shared rollup is up to a minute old, a live count is not.
        "summary_as_of": present.when(summary["as_of"]),
        "summary_shared": live_total is None,
        "summary_age_seconds": int(calendar.elapsed(summary["as_of"], now).total_seconds()),
        "filters": filters,
        "query": filter_query,
        "kinds": list(access.visible_kinds(request.user).only("id", "code", "name")),
        "boards": boards,
        "agents": agents,
        "chart": queries.chart_geometry(queries.breaches_per_day(14, now)),
        "limit": queries.QUEUE_LIMIT,
        "page_rows": queries.QUEUE_PAGE,
    }
    context.update(queries.bulk_choices(request.user, staff=agents, boards=boards))
    return page(request, "console/supervisor/queue.html", context)


@requires("view_followup_queues")
def supervisor_export(request):
    now = calendar.now()
    qs, _filters = _supervisor_filters(request, now)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    stamp = calendar.to_kst(now).strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="overdue-{stamp}.csv"'
    response.write("\ufeff")  # so spreadsheet programs read the Korean text as UTF-8
    writer = csv.writer(response)
    writer.writerow(
        [
            _("접수 번호"),
            _("유형"),
            _("게시판"),
            _("상태"),
            _("중요도"),
            _("담당자"),
            _("접수자"),
            _("접수 시각 (KST)"),
            _("가장 오래된 기한 (KST)"),
            _("경과"),
            _("기한 위반 시각 (KST)"),
            _("고객 연락처 (가림)"),
        ]
    )
    for t in _queue_rows(qs, now, limit=None):
        writer.writerow(
            [
                t.reference,
                t.kind.name,
                t.board.name,
                t.get_status_display(),
                t.get_priority_display(),
                t.assignee.get_username() if t.assignee else "",
                t.created_by.get_username() if t.created_by else "",
                t.received_label,
                t.oldest_due_label if t.oldest_due else "",
                t.age_label,
                t.breached_label,
                t.customer_phone_masked,
            ]
        )
    return response


@requires("view_followup_queues")
def supervisor_chart(request):
    chart = queries.chart_geometry(queries.breaches_per_day(14))
    response = render(request, "console/supervisor/breaches.svg", {"chart": chart}, content_type="image/svg+xml")
    return response


@requires("retry_message")
def dead_messages(request):
    dead = Message.objects.filter(state=Message.State.DEAD).select_related("template").defer("recipient")
    rows = list(access.visible_messages(request.user, dead.order_by("-updated_at"))[:200])
    references = selectors.tickets_for_messages(rows)
    for m in rows:
        m.updated_label = present.when(m.updated_at)
        m.ticket_reference = references.get(m.pk, "")
        m.route_label = present.message_channel_label(m)
    return page(request, "console/supervisor/messages.html", {"rows": rows})


@requires("retry_message")
@require_POST
def dead_message_retry(request, pk):
    # The outbox knows nothing of actors: the policy is asked here, before the retry.
    message = access.visible_messages(request.user, Message.objects.filter(pk=pk)).first()
    if message is None:
        raise Http404
    try:
        access.ensure(request.user, "retry_message", message)
        outbox.message_retry_dead(pk, request.user.get_username())
    except DomainError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, _("메시지 #%(id)s을(를) 다시 발송 대기열에 넣었습니다.") % {"id": pk})
    return redirect("console:dead_messages")


# Shared with the console's other view modules (bulk.py, macros.py), which keep this module
# small (they import this one; this one never imports them).
safe_next = _safe_next
ticket_or_404 = _ticket_or_404
ticket_page = _ticket_page
error_bag = _error_bag
