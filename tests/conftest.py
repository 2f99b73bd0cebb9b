"""Shared fixtures: users by role, a ticket maker, an in-memory SMS provider."""

import os

import pytest
from django.contrib.auth.models import Group, User

from cstrack import roles
from cstrack.actors import Actor

PENALTY_DETAILS = {
    "penalty_board": "koc",
    "call_type": "own_normal",
    "violation": "no_show",
    "incident_date": "2026-11-20",
    "description": "배정 후 연락 없이 취소됨",
    "feedback_requested": True,
}


class PublishedTasks:
    """The deliver tasks that would have gone to the broker; `ids()` gives their message ids."""

    def __init__(self):
        self.calls: list[tuple] = []

    def ids(self) -> list[int]:
        found = []
        for args in self.calls:  # one id, or a batch of ids
            found.extend(args[0] if isinstance(args[0], (list, tuple)) else [args[0]])
        return found

    def install(self, monkeypatch) -> "PublishedTasks":
        from notifications.tasks import deliver_message

        def fake_apply_async(args=None, kwargs=None, **options):
            self.calls.append(tuple(args or ()))

        monkeypatch.setattr(deliver_message, "apply_async", fake_apply_async)
        return self


def make_user(username, role=None, **extra):
    user = User.objects.create_user(
        username=username, password="pw-" + username, email=f"{username}@staff.example", **extra
    )
    if role:
        user.groups.add(Group.objects.get(name=role))
    return User.objects.get(pk=user.pk)  # fresh permission cache


@pytest.fixture(autouse=True)
def _configuration_read_afresh():
    """Each test starts from the database's kinds, boards and policies: what one test wrote is
    rolled back without a signal (tickets/configuration.py holds them per process)."""
    from tickets import configuration

    configuration.forget()
    yield
    configuration.forget()


@pytest.fixture(autouse=True)
def _fakes_are_allowed_outbound_targets(settings):
    """The fake provider and webhook receivers listen on 127.0.0.1: the operator's allowlist
    (cstrack/outbound.py) names it, as production would name an internal gateway.
    tests/security empties it to show the policy refusing."""
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]


# Documentation names resolve to a public documentation address (the machine has no DNS).
FAKE_PUBLIC_ADDRESS = "93.184.215.14"


@pytest.fixture(autouse=True)
def _fake_dns_for_documentation_names(monkeypatch):
    from cstrack import outbound

    real = outbound.resolve_host

    def resolve(host, port):
        if host == "example" or host.endswith((".example", ".example.com", ".example.org")) or host == "example.com":
            return [FAKE_PUBLIC_ADDRESS]
        return real(host, port)

    monkeypatch.setattr(outbound, "resolve_host", resolve)


@pytest.fixture(autouse=True)
def _queue_summary_counted_live(settings):
    """The overdue summary is counted on every request in tests, so it is exact right after each
    change; the shared rollup (QUEUE_SUMMARY_MAX_AGE_SECONDS) has its own tests
    (tests/tickets/test_overdue_rollup.py)."""
    settings.QUEUE_SUMMARY_MAX_AGE_SECONDS = 0


@pytest.fixture
def shared_queue_summary(settings):
    """The shared overdue rollup switched on (a minute), with an empty cache before and after."""
    from django.core.cache import cache

    settings.QUEUE_SUMMARY_MAX_AGE_SECONDS = 60
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _seed_defaults(request):
    """Transactional tests empty every table afterwards, data-migration rows included; put the
    seed kinds, policies, templates and role groups back for the tests that follow."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None and not {"db", "transactional_db"} & set(request.fixturenames):
        return
    request.getfixturevalue("transactional_db" if marker and marker.kwargs.get("transaction") else "db")
    from django.apps import apps

    from tickets.kinds.defaults import install
    from tickets.models import TicketKind

    if not TicketKind.objects.exists():
        from django.contrib.auth.models import Permission
        from django.core.management.sql import emit_post_migrate_signal

        if not Permission.objects.exists():  # a flush with post_migrate inhibited
            emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
        install(apps)
        roles.ensure_roles()


@pytest.fixture(params=["seed", "renamed"])
def seed_codes(request, db):
    """Run a scenario twice: with the seed codes, and with every seed kind's and board's code
    renamed after seeding. Behaviour must not depend on a code (see tests/seedcodes.py)."""
    from tests import seedcodes

    request.getfixturevalue("_seed_defaults")
    if request.param == "renamed":
        seedcodes.rename_every_seed_code()
    yield request.param
    seedcodes.restore()


@pytest.fixture
def agent(db):
    return make_user("agent1", roles.AGENT)


@pytest.fixture
def operator(db):
    return make_user("ops1", roles.OPERATIONS)


@pytest.fixture
def supervisor(db):
    return make_user("super1", roles.SUPERVISOR)


@pytest.fixture
def actor(agent):
    return Actor.for_user(agent)


@pytest.fixture
def make_ticket(db, agent):
    """make_ticket(kind="driver-penalty-request", **overrides) -> Ticket via the service."""
    from tests.seedcodes import seed
    from tickets.lifecycle import services

    def _make(kind="driver-penalty-request", details=None, **kwargs):
        if details is None and kind == "driver-penalty-request":
            details = dict(PENALTY_DETAILS)
            kwargs.setdefault("driver_id", "DRV-100")
        kwargs.setdefault("actor", Actor.for_user(agent))
        return services.ticket_create(kind=seed(kind), details=details or {}, **kwargs)

    return _make


@pytest.fixture
def overdue_copies(make_ticket):
    """n open overdue tickets, quickly: one through the service, n - 1 copies of its row."""
    import time_machine

    from cstrack import calendar
    from tickets.models import Ticket

    def _make(n):
        with time_machine.travel(calendar.days_ago(calendar.now(), 5), tick=False):
            first = make_ticket()
        Ticket.objects.filter(pk=first.pk).update(next_due_at=calendar.days_ago(calendar.now(), 2))
        first.refresh_from_db()
        copies = []
        for i in range(n - 1):
            first.pk, first.id = None, None
            first.reference = f"CS-20260101-{i:04d}"
            copies.append(Ticket(**{f.attname: getattr(first, f.attname) for f in Ticket._meta.concrete_fields}))
        Ticket.objects.bulk_create(copies, batch_size=250)
        return n

    return _make


@pytest.fixture
def dead_messages(db):
    """make n dead-lettered SMS (no ticket attached)."""
    from notifications.models import Message

    def _make(n):
        return [
            Message.objects.create(
                idempotency_key=f"test:dead:{i}",
                channel="sms",
                body="본문",
                message_type="SMS",
                recipient="+821012345678",
                recipient_masked="010-****-5678",
                state=Message.State.DEAD,
                attempts=6,
                last_error="gateway 503",
            )
            for i in range(n)
        ]

    return _make


@pytest.fixture
def in_ci():
    return os.environ.get("CI") == "true"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI=true a service or browser test must run: a skip becomes a failure."""
    outcome = yield
    report = outcome.get_result()
    if (
        os.environ.get("CI") == "true"
        and report.skipped
        and (item.get_closest_marker("service") or item.get_closest_marker("browser"))
    ):
        report.outcome = "failed"
        report.longrepr = f"CI=true: {item.nodeid} was skipped but must run ({report.longrepr})"


def pytest_addoption(parser):
    parser.addoption(
        "--wall-clock",
        metavar="ISO-8601",
        help="run the whole session as if started at this instant, the clock ticking on "
        "(e.g. 2026-11-22T21:21+09:00, a Sunday night): the suite must pass at any hour",
    )


def pytest_configure(config):
    instant = config.getoption("--wall-clock")
    if instant:
        import time_machine

        config._wall_clock = time_machine.travel(instant, tick=True)
        config._wall_clock.start()


def pytest_collection_modifyitems(config, items):
    if config.getoption("--wall-clock"):
        skip = pytest.mark.skip(reason="--wall-clock moves only this process's clock")
        for item in items:
            if item.get_closest_marker("real_clock") or item.get_closest_marker("service"):
                item.add_marker(skip)


def pytest_unconfigure(config):
    if getattr(config, "_wall_clock", None):
        config._wall_clock.stop()
