"""Applying a macro from the ticket page (the page lists the usable ones).
The rules (permissions per change, one transaction, the audit) are in tickets/lifecycle/macros.py."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from cstrack.actors import Actor
from cstrack.errors import DomainError, NotFound
from tickets.lifecycle import macros as macro_services

from .views import error_bag, safe_next, ticket_or_404, ticket_page


@login_required
@require_POST
def macro_apply(request, reference):
    ticket = ticket_or_404(request, reference)
    try:
        macro = macro_services.macro_get(request.POST.get("macro", ""))
        done = macro_services.macro_apply(ticket, macro, actor=Actor.for_user(request.user))
    except NotFound as exc:
        return ticket_page(request, ticket, errors={"macro": error_bag(exc)}, status=400)
    except DomainError as exc:
        return ticket_page(request, ticket, errors={"macro": error_bag(exc)}, status=exc.status)
    messages.success(
        request, _("'%(name)s' 매크로를 적용했습니다: %(changes)s") % {"name": macro.name, "changes": " · ".join(done)}
    )
    return redirect(safe_next(request, reverse("console:ticket_detail", args=[ticket.reference])))
