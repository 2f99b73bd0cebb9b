"""The default roles: Django groups and the permissions they start with. This is seed data, not
the rule: the access policy (`tickets.access.policy`) reads each user's real permissions, so an
administrator who edits a group in the admin changes what its members may do, in the console
and the API alike. `ensure_roles()` (the demo command, tests) resets the groups to these
defaults; migrations only add what a release introduces."""

from cstrack.auth import group_names

AGENT = "agent"
OPERATIONS = "operations"
SUPERVISOR = "supervisor"
ADMINISTRATOR = "administrator"

ROLE_LABELS = {AGENT: "상담사", OPERATIONS: "운영 관리자", SUPERVISOR: "슈퍼바이저", ADMINISTRATOR: "시스템 관리자"}

_TICKET_VIEW = ["tickets.view_ticket", "tickets.view_ticketkind", "tickets.view_followup", "tickets.view_ticketevent"]
# Without it a user sees only the tickets of the boards they belong to and those assigned to them.
VIEW_ALL_BOARDS = "tickets.view_all_boards"
ROLE_PERMISSIONS = {
    AGENT: [*_TICKET_VIEW, VIEW_ALL_BOARDS, "tickets.add_ticket", "tickets.change_ticket", "tickets.add_recontact"],
    OPERATIONS: [
        *_TICKET_VIEW,
        "tickets.change_ticket",
        "tickets.record_outcome",
        "tickets.reveal_contact",
        "tickets.download_attachment",
    ],
    SUPERVISOR: [
        *_TICKET_VIEW,
        VIEW_ALL_BOARDS,
        "tickets.add_ticket",
        "tickets.add_recontact",
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
    """The user's role names, for labels only (what a user may do comes from permissions)."""
    return set(group_names(user)) | ({ADMINISTRATOR} if getattr(user, "is_superuser", False) else set())
