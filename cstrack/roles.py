"""Roles are Django groups with permissions; this module names them and what each may do.
`ensure_roles()` (run by a migration and by the demo command) keeps the groups in step."""

AGENT = "agent"
OPERATIONS = "operations"
SUPERVISOR = "supervisor"
ADMINISTRATOR = "administrator"

ROLE_LABELS = {AGENT: "상담사", OPERATIONS: "운영 관리자", SUPERVISOR: "슈퍼바이저", ADMINISTRATOR: "시스템 관리자"}

_TICKET_VIEW = ["tickets.view_ticket", "tickets.view_ticketkind", "tickets.view_followup", "tickets.view_ticketevent"]
ROLE_PERMISSIONS = {
    AGENT: [*_TICKET_VIEW, "tickets.add_ticket", "tickets.change_ticket", "tickets.add_recontact"],
    OPERATIONS: [
        *_TICKET_VIEW,
        "tickets.change_ticket",
        "tickets.record_outcome",
        "tickets.reveal_contact",
        "tickets.download_attachment",
    ],
    SUPERVISOR: [
        *_TICKET_VIEW,
        "tickets.add_ticket",
        "tickets.change_ticket",
        "tickets.record_outcome",
        "tickets.reveal_contact",
        "tickets.download_attachment",
        "tickets.manage_followups",
        "notifications.view_message",
        "notifications.change_message",
    ],
    ADMINISTRATOR: ["*"],
}


def ensure_roles(apps=None):
    from django.apps import apps as global_apps

    registry = apps or global_apps
    Group = registry.get_model("auth", "Group")
    Permission = registry.get_model("auth", "Permission")
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        if perms == ["*"]:
            wanted = Permission.objects.filter(content_type__app_label__in=["tickets", "notifications", "cstrack"])
        else:
            wanted = []
            for p in perms:
                found = Permission.objects.filter(content_type__app_label=p.split(".")[0], codename=p.split(".")[1])
                if apps is not None and not found.exists():
                    continue  # an early migration: a later one adds this permission and runs this again
                wanted.append(found.get())
        group.permissions.set(wanted)


def user_roles(user) -> set[str]:
    """The user's role names; read once per user object (one request), as the console's
    capabilities and the visibility rules both ask."""
    if not user or not user.is_authenticated:
        return set()
    cached = getattr(user, "_cstrack_roles", None)
    if cached is None:
        cached = frozenset(g.name for g in user.groups.all()) | ({ADMINISTRATOR} if user.is_superuser else set())
        user._cstrack_roles = cached
    return set(cached)
