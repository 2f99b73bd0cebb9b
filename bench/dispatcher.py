"""Dispatcher cost against rows stored: 10k, 100k and 1M follow-up rows stored, 1% due.

For each size: a fresh database, the data set, then one dispatcher tick (`dispatch_due`), timing
each batch and counting the SQL statements it runs (savepoints included); EXPLAIN ANALYZE of the
claim query; and the same work done the naive way (every
open ticket examined and saved one by one, as common helpdesks' cron jobs do).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cstrack_bench .venv/bin/python bench/dispatcher.py
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("CELERY_BROKER_URL", "memory://")
from common import create_database, machine

parser = argparse.ArgumentParser()
parser.add_argument("--sizes", default="10000,100000,1000000", help="follow-up rows stored")
parser.add_argument("--naive-max", type=int, default=1_000_000, help="largest size to run the naive scan on")
parser.add_argument(
    "--batch", type=int, default=100, help="rows per claim (the same at every size, so batches compare)"
)
args = parser.parse_args()
print(f"machine: {machine()}")

results = {}
for size in [int(s) for s in args.sizes.split(",")]:
    print(f"\n== {size:,} follow-up rows stored ({size // 2:,} tickets), 1% due")
    create_database()
    from django.conf import settings
    from django.db import connection, transaction

    settings.CELERY_BROKER_URL = "memory://"
    settings.FOLLOWUP_BATCH_SIZE = args.batch
    from config.celery import app

    app.conf.broker_url = "memory://"
    from dataset import load

    from cstrack import calendar
    from tickets.followups import dispatcher
    from tickets.models import FollowUp, Ticket

    t0 = time.perf_counter()
    stats = load(size // 2)
    print(f"  loaded in {time.perf_counter() - t0:.1f} s; due rows: {stats['due']:,}")

    now = calendar.now()
    sql, params = (
        dispatcher.due_queryset(now).order_by("due_at")[: settings.FOLLOWUP_BATCH_SIZE].query.sql_with_params()
    )
    with connection.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql + " FOR UPDATE SKIP LOCKED", params)
        plan = "\n".join("    " + r[0] for r in cur.fetchall())
    print("  claim query plan:\n" + plan)

    batch_times = []
    original = dispatcher._dispatch_batch

    def timed_batch(batch_size, _orig=original, _times=batch_times):
        start = time.perf_counter()
        result = _orig(batch_size)
        if result.claimed:
            _times.append(time.perf_counter() - start)
        return result

    statements = [0]

    def count(execute, sql, params, many, context, _n=statements):
        _n[0] += 1
        return execute(sql, params, many, context)

    dispatcher._dispatch_batch = timed_batch
    with connection.execute_wrapper(count):
        tick_start = time.perf_counter()
        outcome = dispatcher.dispatch_due(max_batches=10_000)
        tick = time.perf_counter() - tick_start
    dispatcher._dispatch_batch = original
    per_batch = statistics.median(batch_times) if batch_times else 0.0
    rows = max(outcome.done + outcome.skipped + outcome.held, 1)
    per_row, per_row_statements = tick / rows, statements[0] / rows
    print(
        f"  tick: {tick:.2f} s for {outcome.claimed:,} rows ({outcome.done:,} done) in {len(batch_times)} batches; "
        f"median batch {per_batch * 1000:.1f} ms; {per_row * 1000:.2f} ms/row; "
        f"{statements[0]:,} statements = {per_row_statements:.3f} per row"
    )

    naive = None
    if size <= args.naive_max:
        # Reset the same work, then do it the naive way.
        FollowUp.objects.filter(state="done", message__isnull=False).update(state="scheduled", message=None)
        from notifications.models import Message

        Message.objects.all().delete()
        start = time.perf_counter()
        examined = 0
        for ticket in Ticket.objects.exclude(status__in=["closed", "cancelled"]).iterator(chunk_size=2000):
            examined += 1
            with transaction.atomic():
                for fu in FollowUp.objects.filter(ticket=ticket, state="scheduled"):
                    if fu.due_at <= now and fu.action != "call_back":
                        fu.state = "done"
                        fu.save()
                ticket.save()
        naive = time.perf_counter() - start
        print(
            f"  naive scan: {naive:.2f} s, {examined:,} open tickets examined and saved one by one "
            f"(without even sending): {naive / tick:.1f}x the dispatcher tick"
        )
    results[size] = {
        "per_batch": per_batch,
        "tick": tick,
        "per_row": per_row,
        "statements": per_row_statements,
        "naive": naive,
    }

sizes = sorted(results)
if len(sizes) > 1:
    small, large = results[sizes[0]], results[sizes[-1]]
    print(
        f"\nmedian batch time {sizes[-1]:,}/{sizes[0]:,}: {large['per_batch'] / small['per_batch']:.2f} (target <= 1.5)"
    )
    print(f"per-row time {sizes[-1]:,}/{sizes[0]:,}: {large['per_row'] / small['per_row']:.2f}")
for size in sizes:
    r = results[size]
    naive = f"{r['naive']:.2f} s ({r['naive'] / r['tick']:.1f}x)" if r["naive"] else "-"
    print(
        f"{size:>9,} stored | batch {r['per_batch'] * 1000:7.1f} ms | tick {r['tick']:7.2f} s | "
        f"{r['per_row'] * 1000:5.2f} ms/row | {r['statements']:.3f} statements/row | naive {naive}"
    )
