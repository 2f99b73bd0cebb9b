"""The access policy itself, the follow-up hole it closes, and group permissions edited in the
admin taking effect in the console, the API and the services alike."""

import pytest
from django.contrib.auth.models import Group, Permission
from rest_framework.test import APIClient

from cstrack import roles
from cstrack.actors import SYSTEM, Actor
from cstrack.errors import NotFound, PermissionDenied
from tests.conftest import make_user
from tickets.access import policy
from tickets.followups import changes as followup_changes
from tickets.lifecycle import services
from tickets.models import Action, Board, FollowUp, FollowUpState, Ticket

pytestmark = pytest.mark.django_db

PET_DETAILS = {"issue_type": "payment", "description": "결제 문의"}


@pytest.fixture
def koc_operator(db):
    """Operations staff on the KOC penalty board only."""
    user = make_user("ops-koc", roles.OPERATIONS)
    user.boards.add(Board.objects.get(code="penalty-koc"))
    return user


@pytest.fixture
def other_board_callback(make_ticket):
    """A pending call-back duty on a ticket of another board (pet CS)."""
    ticket = make_ticket(kind="pet-cs-inquiry", details=PET_DETAILS)
    services.ticket_log_recontact(ticket, actor=SYSTEM, note="재문의")
    return FollowUp.objects.get(ticket=ticket, action=Action.CALL_BACK)


def test_operations_user_cannot_complete_another_boards_callback_in_the_console(
    client, koc_operator, other_board_callback
):
    client.force_login(koc_operator)
    response = client.post(f"/followups/{other_board_callback.pk}/complete/", {"note": "통화함"})
    assert response.status_code == 404
    assert FollowUp.objects.get(pk=other_board_callback.pk).state == FollowUpState.SCHEDULED


def test_the_api_refuses_it_the_same_way(koc_operator, other_board_callback):
    client = APIClient()
    client.force_login(koc_operator)
    response = client.post(f"/api/v1/followups/{other_board_callback.pk}/completion/", {}, format="json")
    assert response.status_code == 404
    assert FollowUp.objects.get(pk=other_board_callback.pk).state == FollowUpState.SCHEDULED


def test_and_so_does_the_service(koc_operator, other_board_callback):
    with pytest.raises(NotFound):
        followup_changes.followup_complete(other_board_callback, actor=Actor.for_user(koc_operator))
    assert FollowUp.objects.get(pk=other_board_callback.pk).state == FollowUpState.SCHEDULED


def test_the_same_operator_completes_a_callback_of_their_own_board(client, koc_operator, make_ticket):
    ticket = make_ticket()  # a penalty request: the KOC board
    services.ticket_log_recontact(ticket, actor=SYSTEM, note="재문의")
    fu = FollowUp.objects.get(ticket=ticket, action=Action.CALL_BACK)
    client.force_login(koc_operator)
    assert client.post(f"/followups/{fu.pk}/complete/", {"note": "통화함"}).status_code == 302
    assert FollowUp.objects.get(pk=fu.pk).state == FollowUpState.DONE


def test_a_ticket_assigned_to_them_on_another_board_is_theirs_to_act_on(koc_operator, other_board_callback):
    Ticket.objects.filter(pk=other_board_callback.ticket_id).update(assignee=koc_operator)
    fu = FollowUp.objects.select_related("ticket").get(pk=other_board_callback.pk)
    followup_changes.followup_complete(fu, actor=Actor.for_user(koc_operator))
    assert FollowUp.objects.get(pk=fu.pk).state == FollowUpState.DONE


@pytest.mark.parametrize(
    ("verb", "kwargs"),
    [
        (services.ticket_record_outcome, {"outcome": "answered"}),
        (services.ticket_transition, {"to_status": "in_progress"}),
        (services.ticket_confirm_manager, {"manager_name": "김관리"}),
        (services.ticket_assign, {}),
    ],
)
def test_every_ticket_verb_refuses_an_invisible_ticket(verb, kwargs, koc_operator, make_ticket):
    ticket = make_ticket(kind="pet-cs-inquiry", details=PET_DETAILS)
    version = ticket.version
    with pytest.raises(NotFound):
        verb(ticket, actor=Actor.for_user(koc_operator), **kwargs)
    assert Ticket.objects.get(pk=ticket.pk).version == version


def test_a_visible_ticket_without_the_permission_is_forbidden(agent, make_ticket):
    ticket = make_ticket()
    with pytest.raises(PermissionDenied):
        services.ticket_record_outcome(ticket, outcome="warning", actor=Actor.for_user(agent))
    assert Ticket.objects.get(pk=ticket.pk).outcome == ""


def test_the_system_keeps_acting_but_never_reveals(make_ticket):
    ticket = make_ticket(customer_phone="010-1234-5678", consent_basis="newly_collected")
    services.ticket_record_outcome(ticket, outcome="warning", actor=SYSTEM)
    assert Ticket.objects.get(pk=ticket.pk).outcome == "warning"
    assert policy.may(SYSTEM, "cancel_followup") and policy.may(Actor(label="retention"), "purge_contact")
    assert not policy.may(SYSTEM, "reveal_contact") and not policy.may(SYSTEM, "download_attachment")


def test_anonymous_may_nothing_and_sees_nothing(make_ticket):
    from django.contrib.auth.models import AnonymousUser

    make_ticket()
    nobody = AnonymousUser()
    assert not any(policy.may(nobody, action) for action in policy.ACTIONS)
    assert not policy.visible_tickets(nobody).exists()
    assert not policy.visible_followups(nobody).exists()


def test_list_and_object_answers_agree(koc_operator, make_ticket):
    """visible_tickets (a queryset) and can_see (one object) are the same rule."""
    mine = make_ticket()
    other = make_ticket(kind="pet-cs-inquiry", details=PET_DETAILS)
    assigned = make_ticket(kind="pet-cs-inquiry", details=PET_DETAILS, assignee=koc_operator)
    listed = set(policy.visible_tickets(koc_operator).values_list("pk", flat=True))
    for ticket in (mine, other, assigned):
        assert (ticket.pk in listed) == policy.can_see(koc_operator, ticket)
    assert listed == {mine.pk, assigned.pk}


# --- Roles are groups an administrator edits ------------------------------------------------------


def _admin_sets_group_permissions(admin_client, group: Group, permissions) -> None:
    response = admin_client.post(
        f"/admin/auth/group/{group.pk}/change/",
        {"name": group.name, "permissions": [p.pk for p in permissions]},
    )
    assert response.status_code == 302, response.content[:500]


@pytest.fixture
def admin_client(client):
    from django.test import Client

    boss = make_user("root", roles.ADMINISTRATOR, is_staff=True, is_superuser=True)
    admin = Client()
    admin.force_login(boss)
    return admin


def test_a_permission_removed_in_the_admin_takes_effect_in_console_api_and_services(
    admin_client, koc_operator, make_ticket
):
    ticket = make_ticket()
    group = Group.objects.get(name=roles.OPERATIONS)
    kept = group.permissions.exclude(codename="record_outcome")
    _admin_sets_group_permissions(admin_client, group, kept)

    user = type(koc_operator).objects.get(pk=koc_operator.pk)  # a new request: a fresh user object
    console = admin_client.__class__()
    console.force_login(user)
    assert console.get("/ops/").status_code == 403
    assert console.post(f"/tickets/{ticket.reference}/outcome/", {"outcome": "warning"}).status_code == 403
    api = APIClient()
    api.force_login(user)
    assert (
        api.post(f"/api/v1/tickets/{ticket.reference}/outcome/", {"outcome": "warning"}, format="json").status_code
        == 403
    )
    with pytest.raises(PermissionDenied):
        services.ticket_record_outcome(ticket, outcome="warning", actor=Actor.for_user(user))
    assert Ticket.objects.get(pk=ticket.pk).outcome == ""
    # What the group still holds still works: the ticket page.
    assert console.get(f"/tickets/{ticket.reference}/").status_code == 200


def test_a_permission_granted_in_the_admin_takes_effect_too(admin_client, koc_operator, make_ticket):
    other = make_ticket(kind="pet-cs-inquiry", details=PET_DETAILS)
    api = APIClient()
    api.force_login(koc_operator)
    assert api.get(f"/api/v1/tickets/{other.reference}/").status_code == 404
    group = Group.objects.get(name=roles.OPERATIONS)
    everything = Permission.objects.filter(codename="view_all_boards")
    _admin_sets_group_permissions(admin_client, group, [*group.permissions.all(), *everything])
    assert api.get(f"/api/v1/tickets/{other.reference}/").status_code == 200
    from django.test import Client

    console = Client()
    console.force_login(koc_operator)
    assert console.get(f"/tickets/{other.reference}/").status_code == 200
    board_codes = {b.code for b in policy.visible_boards(type(koc_operator).objects.get(pk=koc_operator.pk))}
    assert "pet-cs" in board_codes


def test_seeded_roles_keep_their_visible_behaviour(agent, operator, supervisor):
    """Agents, supervisors and administrators see every board; operations staff only theirs."""
    assert policy.has_perm(agent, roles.VIEW_ALL_BOARDS)
    assert policy.has_perm(supervisor, roles.VIEW_ALL_BOARDS)
    assert not policy.has_perm(operator, roles.VIEW_ALL_BOARDS)
    assert policy.may(supervisor, "log_recontact")  # the console let supervisors do it before
