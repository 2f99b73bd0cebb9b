"""Service-test machinery: real PostgreSQL, real Redis, real `celery worker` / `celery beat`
processes, and the fake SMS provider over HTTP on loopback.

* Every test marked `service` first checks that PostgreSQL (the configured database) and Redis
  (REDIS_URL, answering PING) are there. Missing: skipped locally, FAILED under CI=true (CI must
  never skip a service test).
* Worker and beat subprocesses use the SAME test database as the test (built from
  `connection.settings_dict`, whose NAME is test_<name> during tests), so tests use
  `@pytest.mark.django_db(transaction=True)`: rows are committed and visible to them.
* The Redis DB of REDIS_URL (use a dedicated one, e.g. /13) is flushed before each test.
* Quiet hours are set to a 1-hour window about 12 hours away from now (KST), in the workers and
  in this process, so customer messages may leave whenever CI runs. Quiet hours themselves are
  tested elsewhere with a controlled clock.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

from tests.conftest import PENALTY_DETAILS
from tests.fakes.provider_server import FakeProviderServer

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).parent / "celery")  # the venv that runs the tests (CI has one per Python)
IN_CI = os.environ.get("CI") == "true"

SMS_POLICY = "penalty-feedback-d3-sms"
SENDER_NUMBER = "1599-0000"


def figure(text: str) -> None:
    """Print a measured figure so that it shows in CI output (run pytest with -s)."""
    print(f"\nFIGURE {text}", flush=True)


# --- requirements ----------------------------------------------------------------------------

_missing_cache: dict[str, str | None] = {}


def _missing_services() -> str | None:
    """Why the service tests cannot run here, or None."""
    if "why" in _missing_cache:
        return _missing_cache["why"]
    from django.conf import settings

    why = None
    db = settings.DATABASES["default"]
    if "postgresql" not in db["ENGINE"]:
        why = f"service tests need PostgreSQL (DATABASE_URL); the database engine is {db['ENGINE']}"
    else:
        try:
            import psycopg

            psycopg.connect(
                host=db.get("HOST") or "127.0.0.1",
                port=db.get("PORT") or 5432,
                user=db.get("USER") or None,
                password=db.get("PASSWORD") or None,
                dbname="postgres",
                connect_timeout=3,
            ).close()
        except Exception as exc:
            why = f"PostgreSQL at {db.get('HOST')}:{db.get('PORT')} is not reachable ({type(exc).__name__})"
    if why is None:
        url = getattr(settings, "REDIS_URL", "") or ""
        if not url:
            why = "service tests need Redis (REDIS_URL is not set)"
        else:
            try:
                import redis

                redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2).ping()
            except Exception as exc:
                why = f"Redis at REDIS_URL is not answering PING ({type(exc).__name__})"
    _missing_cache["why"] = why
    return why


def _require_services() -> None:
    why = _missing_services()
    if why:
        if IN_CI:
            pytest.fail(f"CI=true and {why}: a service test must never be skipped in CI", pytrace=False)
        pytest.skip(why)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    # Before any fixture (the test database is set up by a fixture): an unreachable PostgreSQL
    # must give a clear skip/fail, not a database-creation error.
    if item.get_closest_marker("service"):
        _require_services()


@pytest.fixture
def require_services():
    """PostgreSQL and Redis are there (else skip; under CI=true, fail)."""
    _require_services()


# --- environment for subprocesses --------------------------------------------------------------


def database_url() -> str:
    """The URL of the database this test uses (test_<name>), for worker subprocesses."""
    from django.db import connection

    s = connection.settings_dict
    user = quote(s.get("USER") or "", safe="")
    password = quote(s.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return f"postgres://{auth}{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


def quiet_window() -> tuple[str, str]:
    """A 1-hour quiet window ~12 h away from now in KST: customer messages are allowed now."""
    from cstrack.calendar import KST

    hour = (datetime.now(KST).hour + 12) % 24
    return f"{hour:02d}:00", f"{(hour + 1) % 24:02d}:00"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_db_url(base: str, db: int | None = None) -> str:
    parts = urlsplit(base)
    path = f"/{db}" if db is not None else parts.path
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


@dataclass
class ServiceEnv:
    """Settings shared by the workers/beat this test starts and the test process itself."""

    tmp: Path
    fake: FakeProviderServer
    redis_url: str
    provider: str = "http"
    extra: dict = field(default_factory=dict)

    def env(self) -> dict:
        start, end = quiet_window()
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("CELERY_", "DJANGO_", "SMS_", "SOLAPI_", "HTTP_GATEWAY_", "MESSAGE_"))
        }
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "config.settings",
                "DATABASE_URL": database_url(),
                "REDIS_URL": self.redis_url,
                "SMS_PROVIDER": self.provider,
                "SMS_SENDER_NUMBER": SENDER_NUMBER,
                "HTTP_GATEWAY_URL": self.fake.gateway_url,
                "HTTP_GATEWAY_SECRET": self.fake.gateway_secret,
                "SOLAPI_BASE_URL": self.fake.solapi_base_url,
                "SOLAPI_API_KEY": self.fake.solapi_api_key,
                "SOLAPI_API_SECRET": self.fake.solapi_api_secret,
                "OUTBOUND_ALLOWLIST": "127.0.0.1",  # the fake provider: an allowed internal target
                "FOLLOWUP_DISPATCH_INTERVAL": "1",
                "OUTBOX_SWEEP_INTERVAL": "2",
                "CSTRACK_VAR_DIR": str(self.tmp / "var"),
                "QUIET_HOURS_START": start,
                "QUIET_HOURS_END": end,
                "LOG_LEVEL": "INFO",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update({k: str(v) for k, v in self.extra.items()})
        return env

    def apply_to(self, settings) -> None:
        """The same provider and calendar settings in this (pytest) process."""
        env = self.env()
        settings.SMS_PROVIDER = self.provider
        settings.SMS_SENDER_NUMBER = SENDER_NUMBER
        settings.HTTP_GATEWAY_URL = env["HTTP_GATEWAY_URL"]
        settings.HTTP_GATEWAY_SECRET = env["HTTP_GATEWAY_SECRET"]
        settings.SOLAPI_BASE_URL = env["SOLAPI_BASE_URL"]
        settings.SOLAPI_API_KEY = env["SOLAPI_API_KEY"]
        settings.SOLAPI_API_SECRET = env["SOLAPI_API_SECRET"]
        settings.CSTRACK_QUIET_HOURS = (env["QUIET_HOURS_START"], env["QUIET_HOURS_END"])
        for name in ("MESSAGE_MAX_ATTEMPTS", "MESSAGE_LEASE_SECONDS", "PROVIDER_TIMEOUT"):
            if name in self.extra:
                cast = float if name == "PROVIDER_TIMEOUT" else int
                setattr(settings, name, cast(self.extra[name]))


# --- processes ------------------------------------------------------------------------------------


class Proc:
    def __init__(self, name: str, argv: list[str], env: dict, log: Path):
        self.name, self.argv, self.env, self.log_path = name, argv, env, log
        self.popen: subprocess.Popen | None = None

    def start(self) -> Proc:
        with open(self.log_path, "ab") as log:
            # Own session: SIGKILL to the group takes the worker's pool child too (a crash).
            self.popen = subprocess.Popen(
                self.argv, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal_group(self, sig) -> None:
        if self.popen is None:
            return
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)

    def kill(self) -> None:
        """SIGKILL the whole process group (worker and its pool child): a crash."""
        self.signal_group(signal.SIGKILL)
        if self.popen is not None:
            with suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=10)

    def stop(self, timeout: float = 10) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.signal_group(signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout)
        # Whatever is left of the group (a pool child), and the leader if it ignored SIGTERM.
        self.signal_group(signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


class Cluster:
    """Workers and beats started by one test; everything is stopped in `close()`."""

    def __init__(self, senv: ServiceEnv):
        self.senv = senv
        self.procs: list[Proc] = []
        self.logs = senv.tmp / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self._n = 0

    def _start(self, name: str, argv: list[str]) -> Proc:
        self._n += 1
        proc = Proc(name, argv, self.senv.env(), self.logs / f"{self._n:03d}-{name}.log").start()
        self.procs.append(proc)
        return proc

    def worker(self, i: int, concurrency: int = 1) -> Proc:
        return self._start(
            f"w{i}",
            [
                CELERY, "-A", "config", "worker", "--loglevel=INFO", f"--concurrency={concurrency}",
                "--without-gossip", "--without-mingle", "-n", f"w{i}@%h",
            ],
        )  # fmt: skip

    def beat(self, i: int = 0) -> Proc:
        schedule = self.senv.tmp / f"celerybeat-schedule-{i}-{self._n}"
        return self._start(f"beat{i}", [CELERY, "-A", "config", "beat", "-s", str(schedule), "--loglevel=INFO"])

    def wait_ready(self, procs: list[Proc], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        for proc in procs:
            while " ready." not in proc.log_text():
                if not proc.alive:
                    raise AssertionError(f"{proc.name} exited early:\n{proc.log_text()[-3000:]}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"{proc.name} not ready in {timeout} s:\n{proc.log_text()[-3000:]}")
                time.sleep(0.2)

    def close(self) -> None:
        for proc in self.procs:
            proc.signal_group(signal.SIGTERM) if proc.alive else None
        for proc in self.procs:
            proc.stop(timeout=10)

    def tails(self, chars: int = 4000) -> str:
        """The end of every process log, for an assertion message."""
        return "\n".join(f"--- {p.log_path.name}\n{p.log_text()[-chars:]}" for p in self.procs)

    def errors(self) -> list[str]:
        """Tracebacks in any process log (a failing test shows them)."""
        found = []
        for proc in self.procs:
            text = proc.log_text()
            if "Traceback" in text:
                found.append(f"--- {proc.log_path.name}\n{text[text.index('Traceback') :][:3000]}")
        return found


# --- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture
def fake_provider():
    with FakeProviderServer(seed=1) as fake:
        yield fake


@pytest.fixture
def flushed_redis(require_services, settings):
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def defaults_installed(require_services, transactional_db):
    """Seed kinds, policies, templates and role groups. A transactional test truncates every
    table afterwards (data migrations included), so each test installs them again."""
    from django.apps import apps

    from cstrack.roles import ensure_roles
    from tickets.kinds.defaults import install

    install(apps)
    ensure_roles()


@pytest.fixture
def own_tmp():
    """A private temporary directory. Not tmp_path: pytest prunes old basetemp directories of
    the same user at session start, which would pull logs and beat schedules from under running
    workers when another pytest session starts on the same machine."""
    path = Path(tempfile.mkdtemp(prefix="cstrack-svc-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def service_env(require_services, defaults_installed, flushed_redis, fake_provider, settings, own_tmp):
    senv = ServiceEnv(tmp=own_tmp, fake=fake_provider, redis_url=settings.REDIS_URL)
    senv.apply_to(settings)
    return senv


@pytest.fixture
def cluster(service_env):
    c = Cluster(service_env)
    try:
        yield c
    finally:
        c.close()
        if os.environ.get("SERVICE_TEST_KEEP_LOGS"):
            dest = Path(os.environ["SERVICE_TEST_KEEP_LOGS"])
            dest.mkdir(parents=True, exist_ok=True)
            for proc in c.procs:
                shutil.copy(proc.log_path, dest / proc.log_path.name)


# --- a private redis-server (fault tests stop and start it; never the shared one) -----------------


class PrivateRedis:
    def __init__(self, tmp: Path):
        self.port = free_port()
        self.dir = tmp / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed"
        self.proc = subprocess.Popen(
            [
                binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--daemonize", "no", "--dir", str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        import redis

        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=0.5).ping()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None


@pytest.fixture
def private_redis(own_tmp):
    r = PrivateRedis(own_tmp)
    r.start()
    try:
        yield r
    finally:
        r.stop()


@contextmanager
def broker(url: str):
    """Point this process's Celery app at another broker (and back afterwards)."""
    from config.celery import app

    def reset_pools():
        if app._pool is not None:
            app._pool.force_close_all()
            app._pool = None
        app.amqp._producer_pool = None

    old = app.conf.broker_url
    app.conf.broker_url = url
    reset_pools()
    try:
        yield app
    finally:
        app.conf.broker_url = old
        reset_pools()


# --- data helpers -----------------------------------------------------------------------------------


def set_sms_policy(timing: str = "offset_seconds", timing_n: int = 3):
    from tickets.models import FollowUpPolicy

    policy = FollowUpPolicy.objects.get(code=SMS_POLICY)
    policy.timing, policy.timing_n = timing, timing_n
    policy.save(update_fields=["timing", "timing_n", "updated_at"])
    # Only the customer SMS: the D+3 supervisor alert on the same tickets is out of scope here.
    FollowUpPolicy.objects.filter(kind__code="driver-penalty-request").exclude(code=SMS_POLICY).update(active=False)
    return policy


def phone_for(i: int) -> str:
    """Distinct valid Korean mobile numbers (the Solapi look-up searches by recipient)."""
    return f"010-{2000 + i // 10000:04d}-{i % 10000:04d}"


def bulk_due_followups(count: int, *, outcome: str = "warning", seed: int = 1) -> list[int]:
    """`count` penalty tickets (outcome recorded, so their D+3 SMS goes) each with one SMS
    follow-up due now, created with bulk_create. Returns the FollowUp ids."""
    from cstrack import calendar, pii
    from tickets.lifecycle import services
    from tickets.models import FollowUp, FollowUpPolicy, FollowUpState, Ticket

    policy = FollowUpPolicy.objects.get(code=SMS_POLICY)
    proto = services.ticket_create(
        kind="driver-penalty-request",
        details=dict(PENALTY_DETAILS),
        driver_id="DRV-100",
        member_id="M-0",
        customer_phone=phone_for(0),
        consent_basis="existing_member",
    )
    now = calendar.now()
    rng = random.Random(seed)
    tickets = []
    for i in range(count):
        t = Ticket.objects.get(pk=proto.pk) if i == 0 else None
        if t is None:
            t = Ticket(**{f.attname: getattr(proto, f.attname) for f in Ticket._meta.concrete_fields})
            t.pk = None
            t.id = None
        phone = pii.normalise_phone(phone_for(i), field="p")
        t.reference = f"SVC-{i:07d}" if i else proto.reference
        t.member_id = f"M-{i}"
        t.customer_phone, t.customer_phone_hash, t.customer_phone_masked = (
            phone,
            pii.blind_index(phone),
            pii.mask_phone(phone),
        )
        t.outcome, t.outcome_recorded_at, t.status = outcome, now, "action_taken"
        t.details = dict(PENALTY_DETAILS, incident_date=f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}")
        tickets.append(t)
    tickets[0].save()
    created = Ticket.objects.bulk_create(tickets[1:], batch_size=1000)
    all_tickets = [tickets[0], *created]
    FollowUp.objects.filter(ticket=proto).delete()
    rows = FollowUp.objects.bulk_create(
        [
            FollowUp(
                ticket_id=t.pk,
                policy=policy,
                action=policy.action,
                due_at=now - timedelta(seconds=1),
                state=FollowUpState.SCHEDULED,
                dedupe_key=f"svc:{t.pk}",
                reason=policy.name,
            )
            for t in all_tickets
        ],
        batch_size=2000,
    )
    return [r.pk for r in rows]


def wait_until(predicate, timeout: float, interval: float = 0.5, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# --- the REST API (tickets/api), used like an agent's client would ----------------------------------


def api_available() -> bool:
    from django.urls import Resolver404, resolve

    try:
        return resolve("/api/v1/tickets/").url_name == "api-ticket-list"
    except Resolver404:
        return False


class Api:
    """Django's test Client, logged in (session auth) as a user of a role."""

    def __init__(self, user):
        from django.test import Client

        self.client = Client()
        self.client.force_login(user)

    def post(self, path: str, payload: dict, expect: int = 200) -> dict:
        resp = self.client.post(path, payload, content_type="application/json")
        assert resp.status_code == expect, (path, resp.status_code, resp.content[:2000])
        return resp.json()

    def create_ticket(self, **payload) -> dict:
        return self.post("/api/v1/tickets/", payload, expect=201)

    def record_outcome(self, reference: str, outcome: str, **extra) -> dict:
        return self.post(f"/api/v1/tickets/{reference}/outcome/", {"outcome": outcome, **extra})


def role_user(username: str, role: str):
    from django.contrib.auth.models import Group, User

    user = User.objects.create_user(username, password="x")
    user.groups.add(Group.objects.get(name=role))
    return User.objects.get(pk=user.pk)
