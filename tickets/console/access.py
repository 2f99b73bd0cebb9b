"""Who may see which console page. Roles come from `cstrack.roles` (one query for the groups);
what a role may do comes from its permission list there. Services still check permissions
themselves on every change (reveal, follow-up edits); this only decides what the console shows."""

from dataclasses import dataclass, field
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

from cstrack import roles


@dataclass(frozen=True)
class Capabilities:
    roles: frozenset = field(default_factory=frozenset)
    perms: frozenset = field(default_factory=frozenset)

    def can(self, perm: str) -> bool:
        return "*" in self.perms or perm in self.perms

    @property
    def view_tickets(self):
        return self.can("tickets.view_ticket")

    @property
    def download_attachments(self):
        return self.can("tickets.download_attachment")

    @property
    def log_tickets(self):
        return self.can("tickets.add_ticket")

    @property
    def log_recontact(self):
        return self.can("tickets.add_recontact") or self.can("tickets.add_ticket")

    @property
    def record_outcome(self):
        return self.can("tickets.record_outcome")

    @property
    def change_ticket(self):
        return self.can("tickets.change_ticket")

    @property
    def reveal_contact(self):
        return self.can("tickets.reveal_contact")

    @property
    def manage_followups(self):
        return self.can("tickets.manage_followups")

    @property
    def retry_messages(self):
        return self.can("notifications.change_message")

    @property
    def role_labels(self):
        return [roles.ROLE_LABELS[r] for r in roles.ROLE_LABELS if r in self.roles]


def capabilities(request) -> Capabilities:
    cached = getattr(request, "_console_caps", None)
    if cached is None:
        names = roles.user_roles(request.user)
        perms = set()
        for name in names:
            perms.update(roles.ROLE_PERMISSIONS.get(name, []))
        cached = Capabilities(roles=frozenset(names), perms=frozenset(perms))
        request._console_caps = cached
    return cached


def requires(capability: str):
    """Login required, and the user's role must grant `capability` (a Capabilities property)."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(request, *args, **kwargs):
            if not getattr(capabilities(request), capability):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
