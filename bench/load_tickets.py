"""Load N tickets (default 1,000,000) with 2 follow-ups and 3 events each into PostgreSQL with
COPY and report rows/s.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cstrack_bench .venv/bin/python bench/load_tickets.py --tickets 1000000
"""

import argparse
import time

from common import create_database, machine

parser = argparse.ArgumentParser()
parser.add_argument("--tickets", type=int, default=1_000_000)
args = parser.parse_args()

print(f"machine: {machine()}")
create_database()
from dataset import load  # noqa: E402  (needs Django set up)

start = time.perf_counter()
stats = load(args.tickets)
elapsed = time.perf_counter() - start
rows = stats["tickets"] + stats["followups"] + stats["events"]
print(
    f"loaded {stats['tickets']:,} tickets, {stats['followups']:,} follow-ups, {stats['events']:,} events "
    f"({rows:,} rows) in {elapsed:.1f} s: {rows / elapsed:,.0f} rows/s, {stats['tickets'] / elapsed:,.0f} tickets/s"
)
