"""Delivery throughput through the real path: Celery worker processes, Redis, and the fake
provider over HTTP on loopback (run in this process). N due SMS written to the outbox (distinct
recipients) and published as a bulk enqueue does, DELIVERY_BATCH_SIZE ids to a task
(`delivery_publish_on_commit`); each task claims its batch with one UPDATE ... RETURNING and
sends it (Solapi:
one send-many request per batch over a keep-alive connection; the generic gateway: one request
per message over the same connection). Measures messages/s from the first publish to the last
row recorded as sent, and counts duplicates at the provider.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cstrack_bench REDIS_URL=redis://127.0.0.1:6379/12 \
        .venv/bin/python bench/delivery.py --messages 10000 --workers 1,2 --provider solapi,http
"""

import argparse
import os
import subprocess
import sys
import time
from datetime import timedelta

from common import ROOT, create_database, machine

sys.path.insert(0, str(ROOT))
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/12")

parser = argparse.ArgumentParser()
parser.add_argument("--messages", type=int, default=10_000)
parser.add_argument("--workers", default="1,2", help="worker process counts to measure")
parser.add_argument("--provider", default="solapi", help="solapi and/or http, comma-separated")
parser.add_argument("--batch", type=int, default=100, help="DELIVERY_BATCH_SIZE")
args = parser.parse_args()
print(f"machine: {machine()}")


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its threads, from /proc (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            with open(f"/proc/{current}/task/{current}/children") as fh:
                todo.extend(int(c) for c in fh.read().split())
        except OSError:
            pass
    return found


def database_backends() -> list[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        return [row[0] for row in cursor.fetchall()]


def quiet_hours_elsewhere():
    """A one-hour quiet window twelve hours away, so the run is never held by quiet hours."""
    from cstrack import calendar

    start = calendar.to_kst(calendar.now() + timedelta(hours=12))
    return f"{start:%H}:00", f"{(start + timedelta(hours=1)):%H}:00"


def run(provider: str, n_workers: int) -> float:
    create_database()
    import redis
    from django.db import connection

    from cstrack import calendar, pii
    from notifications import services
    from notifications.models import Message
    from tests.fakes.provider_server import FakeProviderServer

    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    fake = FakeProviderServer(seed=1).start()
    quiet = quiet_hours_elsewhere()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SMS_PROVIDER": provider,
        "HTTP_GATEWAY_URL": fake.gateway_url,
        "HTTP_GATEWAY_SECRET": fake.gateway_secret,
        "SOLAPI_BASE_URL": fake.solapi_base_url,
        "SOLAPI_API_KEY": fake.solapi_api_key,
        "SOLAPI_API_SECRET": fake.solapi_api_secret,
        "SMS_SENDER_NUMBER": "15990000",
        "DELIVERY_BATCH_SIZE": str(args.batch),
        "OUTBOUND_ALLOWLIST": "127.0.0.1",  # the fake provider: an allowed internal target
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "QUIET_HOURS_START": quiet[0],
        "QUIET_HOURS_END": quiet[1],
        "CSTRACK_VAR_DIR": str(ROOT / "var" / "bench"),
    }
    now = calendar.now()
    rows = []
    for i in range(args.messages):
        number = pii.normalise_phone(f"010-4{i // 10000:03d}-{i % 10000:04d}", field="p")
        rows.append(
            Message(
                idempotency_key=f"bench:{i}",
                channel="sms",
                subject="",
                body="[cstrack] 벤치마크 문자입니다.",
                message_type="SMS",
                recipient=number,
                recipient_masked=pii.mask_phone(number),
                respect_quiet_hours=True,
                state="pending",
                next_attempt_at=now,
                queued_at=now,
            )
        )
    Message.objects.bulk_create(rows, batch_size=2000)
    connection.close()
    argv = [
        str(ROOT / ".venv/bin/celery"), "-A", "config", "worker", "--concurrency=1", "--loglevel=WARNING",
        "--without-gossip", "--without-mingle", "--prefetch-multiplier=4",
    ]  # fmt: skip
    procs = [
        subprocess.Popen(
            [*argv, "-n", f"bench{i}@%h"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for i in range(n_workers)
    ]
    try:
        time.sleep(6)  # workers up
        from django.conf import settings

        settings.DELIVERY_BATCH_SIZE = args.batch
        from django.db import transaction

        ids = list(Message.objects.order_by("pk").values_list("pk", flat=True))
        worker_pids = [pid for p in procs for pid in descendants(p.pid)]
        backends = set(database_backends())
        cpu_before = {pid: cpu_seconds(pid) for pid in [*worker_pids, *backends, os.getpid()]}
        start = time.perf_counter()
        with transaction.atomic():
            services.delivery_publish_on_commit(ids)
        published = len(ids)
        publish_s = time.perf_counter() - start
        while Message.objects.filter(state="sent").count() < args.messages:
            if time.perf_counter() - start > 900:
                raise SystemExit("timed out")
            time.sleep(0.2)
        elapsed = time.perf_counter() - start
        backends |= set(database_backends())
        workers_cpu = sum(cpu_seconds(pid) - cpu_before[pid] for pid in worker_pids)
        bench_cpu = cpu_seconds(os.getpid()) - cpu_before[os.getpid()]  # publishing + the fake provider
        # PostgreSQL backends that served this run (those opened during it counted whole).
        db_cpu = sum(cpu_seconds(pid) - cpu_before.get(pid, 0.0) for pid in backends)
        load = os.getloadavg()[0]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
        fake.stop()
    dupes = fake.duplicates()
    stats = fake.stats()
    rate = args.messages / elapsed
    print(
        f"  {provider}, {n_workers} worker process(es): {args.messages:,} SMS in {elapsed:.1f} s = {rate:,.0f} msg/s "
        f"(published {published:,} in {publish_s:.2f} s); provider received {len(fake.received()):,} "
        f"in {stats['requests']:,} requests over {stats['connections']} connections, duplicates {len(dupes)}",
        flush=True,
    )
    total = workers_cpu + bench_cpu + db_cpu
    print(
        f"    CPU per message: workers {1000 * workers_cpu / args.messages:.2f} ms, fake provider + publisher "
        f"{1000 * bench_cpu / args.messages:.2f} ms, PostgreSQL backends {1000 * db_cpu / args.messages:.2f} ms "
        f"= {1000 * total / args.messages:.2f} ms -> {2 * args.messages / total:,.0f} msg/s if 2 cores did "
        f"nothing else (Redis not counted); load average during the run {load:.1f}",
        flush=True,
    )
    return rate


results = {(p, n): run(p, n) for p in args.provider.split(",") for n in [int(x) for x in args.workers.split(",")]}
print(
    "\nsummary: "
    + ", ".join(f"{p} {n} worker(s) {r:,.0f} msg/s" for (p, n), r in results.items())
    + " (target >= 1,000/s with 2 worker processes on 2 cores)"
)
