"""Bulk work from the queues: tick tickets (or dead-lettered messages), pick one change and one
reason, apply. The service (tickets.bulk) checks and audits each item; this view only reads the
form, asks for a confirmation when a warning applies, and reports back what was done and what
was refused and why."""

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from cstrack.actors import Actor
from cstrack.errors import DomainError, DomainValidationError
from tickets import bulk
from tickets.followups.changes import reschedule_warnings
from tickets.models import PENDING_FOLLOWUP_STATES, FollowUp

from . import forms, queries
from .access import capabilities, requires
from .views import page, safe_next

SHOWN_REFERENCES = 10


def _report(request, result: bulk.BulkResult, done_text: str):
    if result.done:
        shown = ", ".join(result.done[:SHOWN_REFERENCES])
        more = len(result.done) - SHOWN_REFERENCES
        suffix = _(" 외 %(n)s건") % {"n": more} if more > 0 else ""
        messages.success(request, done_text % {"n": len(result.done)} + f" ({shown}{suffix})")
    for why, items in result.refused_by_reason().items():
        messages.error(
            request,
            _("%(n)s건은 처리하지 못했습니다: %(why)s — %(items)s")
            % {"n": len(items), "why": why, "items": ", ".join(items)},
        )


def _review(request, *, items, errors, warnings, template_context):
    """The selection again, with the form, its errors or the warnings to confirm."""
    context = {
        "items": items,
        "errors": errors,
        "warnings": warnings,
        "values": request.POST,
        "next": safe_next(request, reverse("console:home")),
        **template_context,
    }
    return page(request, "console/bulk/review.html", context, status=400 if errors else 200)


def _pick(options, value):
    return next((o for o in options if str(o.pk) == str(value)), None)


@requires("update_ticket")
@require_POST
def bulk_tickets(request):
    post = request.POST
    references = post.getlist("ticket")
    operation = post.get("operation", "")
    context = queries.bulk_choices(request.user)
    errors = {}
    assignee = board = due_at = None
    try:
        if operation == "assign" and post.get("assignee"):
            assignee = _pick(context["bulk_staff"], post["assignee"])
            if assignee is None:
                raise DomainValidationError({"assignee": [_("담당자를 목록에서 골라 주세요.")]})
        if operation == "board":
            board = _pick(context["bulk_boards"], post.get("board"))
        if operation == "reschedule":
            due_at = forms.parse_local_datetime(post.get("due_at", ""), "due_at")
    except DomainValidationError as exc:
        errors = exc.field_errors
    items = [{"value": r, "label": r} for r in dict.fromkeys(references)]
    review = {"kind": "tickets", "caps": capabilities(request), **context}
    if errors:
        return _review(request, items=items, errors=errors, warnings=[], template_context=review)

    acknowledged = []
    if operation == "reschedule":
        pending = FollowUp.objects.filter(
            ticket__reference__in=references[: bulk.MAX_ITEMS], state__in=PENDING_FOLLOWUP_STATES
        ).only("action")
        acknowledged = reschedule_warnings(list(pending), due_at)
        if acknowledged and not post.get("confirmed"):
            return _review(request, items=items, errors={}, warnings=acknowledged, template_context=review)
    try:
        result = bulk.bulk_change_tickets(
            references,
            operation=operation,
            actor=Actor.for_user(request.user),
            reason=post.get("reason", ""),
            assignee=assignee,
            board=board,
            due_at=due_at,
            acknowledged=acknowledged,
        )
    except DomainError as exc:
        return _review(
            request,
            items=items,
            errors=exc.field_errors or {"selection": [exc.detail]},
            warnings=[],
            template_context=review,
        )
    _report(request, result, _("%(n)s건을 처리했습니다."))
    return redirect(safe_next(request, reverse("console:home")))


@requires("retry_message")
@require_POST
def bulk_retry_messages(request):
    ids = request.POST.getlist("message")
    try:
        result = bulk.bulk_retry_messages(
            ids, actor=Actor.for_user(request.user), reason=request.POST.get("reason", "")
        )
    except DomainError as exc:
        items = [{"value": i, "label": f"#{i}"} for i in dict.fromkeys(ids)]
        return _review(
            request,
            items=items,
            errors=exc.field_errors or {"selection": [exc.detail]},
            warnings=[],
            template_context={"kind": "messages"},
        )
    _report(request, result, _("%(n)s건을 다시 발송 대기열에 넣었습니다."))
    return redirect(safe_next(request, reverse("console:dead_messages")))
