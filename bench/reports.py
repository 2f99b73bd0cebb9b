"""The promise report at scale: a year's weekly report (and its groupings and a drill-down
page) over N tickets (default 1,000,000, two years of receipts).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cstrack_reports .venv/bin/python bench/reports.py --tickets 1000000

The loader (bench/dataset.py) gives every ticket two follow-ups (a D+3 SMS, a deadline check);
this script then spreads the tickets over the seed kinds, boards and 20 owners, marks done
SMS as sent on time or 10 minutes to 3 days late, and logs a re-contact on one ticket in ten,
so every figure and group has rows. `--reuse` skips the load (same database, already filled).
"""

import argparse
import statistics
import time

from common import create_database, django_setup, machine

parser = argparse.ArgumentParser()
parser.add_argument("--tickets", type=int, default=1_000_000)
parser.add_argument("--repeat", type=int, default=5)
parser.add_argument("--reuse", action="store_true")
parser.add_argument("--spread", action="store_true", help="with --reuse: spread the loaded rows again")
parser.add_argument("--explain", action="store_true", help="print the plan of the main grouped query")
args = parser.parse_args()

print(f"machine: {machine()}")
if args.reuse:
    django_setup()
else:
    create_database()

from datetime import timedelta  # noqa: E402

from django.contrib.auth.models import User  # noqa: E402
from django.db import connection  # noqa: E402

from cstrack import calendar  # noqa: E402
from tickets.models import Board, FollowUp, ReContact, Ticket, TicketKind  # noqa: E402
from tickets.reports import promises as report  # noqa: E402


def spread() -> None:
    """Kinds, boards, owners, completion times and re-contacts, in a few set-based UPDATEs."""
    kinds = list(TicketKind.objects.values_list("pk", flat=True))
    boards = list(Board.objects.values_list("pk", flat=True))
    owners = [User.objects.get_or_create(username=f"bench-owner-{i}")[0].pk for i in range(20)]
    with connection.cursor() as cur:
        # Each step is skipped when an earlier run already did it (a run can be resumed).
        if Ticket.objects.values("kind").distinct().count() < 2:
            cur.execute(
                "UPDATE tickets_ticket SET kind_id = (%s::int[])[1 + id %% %s], board_id = (%s::int[])[1 + id %% %s],"
                " assignee_id = CASE WHEN id %% 10 = 0 THEN NULL ELSE (%s::int[])[1 + id %% %s] END",
                [kinds, len(kinds), boards, len(boards), owners, len(owners)],
            )
        # Done rows: 85 % on time (sent at the due minute), 15 % late by 10 minutes to 3 days.
        if not FollowUp.objects.filter(state="done", completed_at__isnull=False).exists():
            cur.execute(
                "UPDATE tickets_followup SET completed_at = due_at + CASE WHEN id % 20 < 17 THEN interval '0'"
                " ELSE make_interval(mins => (10 + (id * 7919) % 4310)::int) END WHERE state = 'done'"
            )
        if not ReContact.objects.exists():
            cur.execute(
                "INSERT INTO tickets_recontact (ticket_id, channel, note, logged_at)"
                " SELECT id, 'phone', '', received_at + interval '1 day' FROM tickets_ticket WHERE id % 10 = 3"
            )
        cur.execute("VACUUM ANALYZE")  # autocommit: each statement above is already committed


if not args.reuse:
    from dataset import load

    start = time.perf_counter()
    stats = load(args.tickets)
    print(
        f"loaded {stats['tickets']:,} tickets, {stats['followups']:,} follow-ups in {time.perf_counter() - start:.1f} s"
    )
    connection.close()  # the loader leaves its raw connection outside Django's autocommit
if not args.reuse or args.spread:
    start = time.perf_counter()
    spread()
    print(f"spread kinds/boards/owners, completion times, re-contacts in {time.perf_counter() - start:.1f} s")

print(
    f"stored: {Ticket.objects.count():,} tickets, {FollowUp.objects.count():,} follow-ups "
    f"({report.promises().count():,} promises)"
)
now = calendar.now()
last = calendar.kst_date(now)
first = last - timedelta(days=364)


def measure(label, fn):
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - start) * 1000)
    print(f"  {label}: p50 {statistics.median(times):.0f} ms, min {min(times):.0f} ms, max {max(times):.0f} ms ({out})")


print(f"a year's weekly report ({first} .. {last}), {args.repeat} runs each:")
for group in report.GROUPS:
    f = report.ReportFilter(first=first, last=last, period="week", group_by=group)
    measure(f"group_by={group}", lambda f=f: f"{len(report.promise_report(f).rows)} rows")
f = report.ReportFilter(first=first, last=last, period="week", group_by="kind")
kind_code = TicketKind.objects.values_list("code", flat=True).first()
measure(
    "drill-down, late promises of one kind, first page of 50",
    lambda: f"{len(list(report.drill_down(f, 'late', group=kind_code).order_by('due_at', 'id')[:50]))} rows",
)
f_month = report.ReportFilter(first=last - timedelta(days=30), last=last, period="day", group_by="board")
measure("last 30 days by day and board", lambda: f"{len(report.promise_report(f_month).rows)} rows")

if args.explain:
    f = report.ReportFilter(first=first, last=last, period="week", group_by="kind")
    conditions = report.figure_conditions(now)
    from django.db.models import Count

    qs = (
        report.promise_rows(f)
        .annotate(bucket=calendar.trunc_period("due_at", "week"))
        .values("bucket", "ticket__kind__code", "ticket__kind__name")
        .annotate(**{k: Count("id", filter=c) for k, c in conditions.items()})
        .order_by()
    )
    print(qs.explain(analyze=True, buffers=True))
