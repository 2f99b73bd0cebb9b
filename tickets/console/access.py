"""What the console shows each user: a thin adapter over the access policy
(`tickets.access.policy`), which reads the user's real group permissions. The console only
asks; the services enforce the same policy on every change."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

from cstrack import roles
from tickets.access import policy


class Capabilities:
    """`caps` in the templates: one property per thing a page may offer, each a policy action."""

    def __init__(self, user):
        self.user = user

    def may(self, action: str, obj=None) -> bool:
        return policy.may(self.user, action, obj)

    def can(self, perm: str) -> bool:
        """Whether the user holds a Django permission (e.g. what a macro needs)."""
        return policy.has_perm(self.user, perm)

    view_tickets = property(lambda self: self.may("view_ticket"))
    download_attachments = property(lambda self: self.may("download_attachment"))
    log_tickets = property(lambda self: self.may("create_ticket"))
    log_recontact = property(lambda self: self.may("log_recontact"))
    record_outcome = property(lambda self: self.may("record_outcome"))
    change_ticket = property(lambda self: self.may("update_ticket"))
    reveal_contact = property(lambda self: self.may("reveal_contact"))
    manage_followups = property(lambda self: self.may("view_followup_queues"))
    retry_messages = property(lambda self: self.may("retry_message"))

    @property
    def role_labels(self):
        names = roles.user_roles(self.user)
        return [label for role, label in roles.ROLE_LABELS.items() if role in names]


def capabilities(request) -> Capabilities:
    cached = getattr(request, "_console_caps", None)
    if cached is None:
        cached = request._console_caps = Capabilities(request.user)
    return cached


def requires(action: str):
    """Login required, and the policy must let the user do `action` (to some object)."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(request, *args, **kwargs):
            if not policy.may(request.user, action):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        wrapped.policy_action = action
        return wrapped

    return decorator
