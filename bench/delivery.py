"""Delivery throughput through the real path: Celery worker processes, Redis, and the fake SMS
provider over HTTP on loopback. 10,000 due SMS in the outbox; measures messages/s from the
first publish to the last message recorded as sent, with 1 and 2 worker processes.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cstrack_bench REDIS_URL=redis://127.0.0.1:6379/12 \
        .venv/bin/python bench/delivery.py --messages 10000 --workers 1,2
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
args = parser.parse_args()
print(f"machine: {machine()}")


def quiet_hours_elsewhere():
    """A one-hour quiet window twelve hours away, so the run is never held by quiet hours."""
    from cstrack import calendar

    start = calendar.to_kst(calendar.now() + timedelta(hours=12))
    return f"{start:%H}:00", f"{(start + timedelta(hours=1)):%H}:00"


def run(n_workers: int) -> float:
    create_database()
    import redis

    from cstrack import calendar
    from notifications.models import Message
    from tests.fakes.provider_server import FakeProviderServer

    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    fake = FakeProviderServer(seed=1).start()
    quiet = quiet_hours_elsewhere()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SMS_PROVIDER": "http",
        "HTTP_GATEWAY_URL": fake.gateway_url,
        "HTTP_GATEWAY_SECRET": fake.gateway_secret,
        "SMS_SENDER_NUMBER": "15990000",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "QUIET_HOURS_START": quiet[0],
        "QUIET_HOURS_END": quiet[1],
        "CSTRACK_VAR_DIR": str(ROOT / "var" / "bench"),
    }
    now = calendar.now()
    Message.objects.bulk_create(
        [
            Message(
                idempotency_key=f"bench:{i}",
                channel="sms",
                subject="",
                body="[cstrack] 벤치마크 문자입니다.",
                message_type="SMS",
                recipient="+821012345678",
                recipient_masked="010-****-5678",
                respect_quiet_hours=True,
                state="pending",
                next_attempt_at=now,
            )
            for i in range(args.messages)
        ],
        batch_size=2000,
    )
    procs = [
        subprocess.Popen(
            [
                str(ROOT / ".venv/bin/celery"),
                "-A",
                "config",
                "worker",
                "--concurrency=1",
                "--loglevel=WARNING",
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"bench{i}@%h",
                "--prefetch-multiplier=4",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(n_workers)
    ]
    try:
        time.sleep(6)  # workers up
        from notifications.tasks import deliver_message

        ids = list(Message.objects.values_list("pk", flat=True))
        start = time.perf_counter()
        with deliver_message.app.producer_pool.acquire(block=True) as producer:
            for pk in ids:
                deliver_message.apply_async(args=(pk,), producer=producer)
        published = time.perf_counter() - start
        while Message.objects.filter(state="sent").count() < args.messages:
            if time.perf_counter() - start > 900:
                raise SystemExit("timed out")
            time.sleep(0.5)
        elapsed = time.perf_counter() - start
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
        fake.stop()
    dupes = fake.duplicates()
    rate = args.messages / elapsed
    print(
        f"  {n_workers} worker process(es): {args.messages:,} SMS in {elapsed:.1f} s = {rate:,.0f} msg/s "
        f"(publish {published:.1f} s); provider received {len(fake.received()):,}, duplicates {len(dupes)}"
    )
    return rate


results = {n: run(n) for n in [int(x) for x in args.workers.split(",")]}
print(
    "\nsummary: "
    + ", ".join(f"{n} worker(s) {r:,.0f} msg/s" for n, r in results.items())
    + " (target >= 300/s on 2 cores)"
)
