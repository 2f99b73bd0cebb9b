"""The overdue queue and the supervisor page against a plain list, in one interleaved run
(issue 13: both within 1.5x of a plain 50-row list at every size stored).

For each size: its own database (`<prefix><N>`, loaded by `dataset.load` unless --reuse finds
it loaded), an API key and a supervisor, the statements of each request counted in-process,
then gunicorn (sync workers, DEBUG off) timed by one client that cycles list, 25-row list,
overdue API, supervisor page, list, ... so all share whatever load the machine has; p50 per
round, the median of the rounds' p50s, and the ratios. A thread stands in for beat and
refreshes the shared queue summary every 30 s, as production does every minute.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cstrack_bench REDIS_URL=redis://127.0.0.1:6379/12 \\
        .venv/bin/python bench/queues.py --sizes 10000,100000 --prefix cstrack_queues_bench_
    # add --profile 100 for a cProfile of 100 in-process requests of each page (top functions)
"""

import argparse
import cProfile
import http.client
import io
import json
import os
import pstats
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

from common import ROOT, machine

parser = argparse.ArgumentParser()
parser.add_argument("--sizes", default="10000,100000", help="tickets stored, comma separated")
parser.add_argument("--prefix", default="cstrack_queues_bench_", help="database name prefix; the size is appended")
parser.add_argument("--reuse", action="store_true", help="keep a database already loaded with this size")
parser.add_argument("--rounds", type=int, default=3, help="interleaved windows per size")
parser.add_argument("--window", type=float, default=24.0, help="seconds per round (all pages together)")
parser.add_argument("--gunicorn-workers", type=int, default=3)
parser.add_argument("--profile", type=int, default=0, help="profile this many in-process requests of each page")
parser.add_argument("--size", type=int, help=argparse.SUPPRESS)  # one size, in a child process
args = parser.parse_args()

# The plain list the other two are compared with: the API's default page (50 tickets). The
# 25-row list is timed too, as a reference: the side-by-side harness compares with that one.
PAGES = {
    "list": "/api/v1/tickets/",
    "list25": "/api/v1/tickets/?page_size=25",
    "overdue": "/api/v1/queues/overdue/",
    "supervisor": "/supervisor/",
}
API_KEY_PAGES = ("list", "list25", "overdue")


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url(size: int) -> str:
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cstrack_bench")
    return base.rsplit("/", 1)[0] + f"/{args.prefix}{size}"


class Counter:
    def __init__(self):
        self.n = 0

    def __call__(self, execute, sql, params, many, context):
        self.n += 1
        return execute(sql, params, many, context)


def prepare(size: int) -> dict:
    """Load (or reuse) the data set; return the credentials and the in-process statement counts
    (every statement the request sends, counted with an execute wrapper)."""
    import common

    loaded = False
    if args.reuse:
        import psycopg

        try:
            with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
                loaded = conn.execute("SELECT count(*) FROM tickets_ticket").fetchone()[0] >= size
        except psycopg.Error:
            loaded = False
    if loaded:
        common.django_setup()
    else:
        common.create_database()
        from dataset import load

        started = time.perf_counter()
        stats = load(size, due_fraction=0.01)
        print(f"  loaded {stats} in {time.perf_counter() - started:.1f} s", flush=True)
    from django.contrib.auth.models import Group, User
    from django.db import connection
    from django.test import Client

    from tickets import selectors
    from tickets.api.keys import apikey_create

    connection.close()  # dataset.load leaves the raw connection outside Django's autocommit
    user, _ = User.objects.get_or_create(username="queues-bench-supervisor", defaults={"is_staff": True})
    user.groups.add(Group.objects.get(name="supervisor"))
    _key, plain = apikey_create(name=f"queues-bench-{time.time()}", scopes=["read"], rate_per_minute=10_000_000)
    console = Client()
    console.force_login(user)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {plain}")
    selectors.overdue_rollup_refresh()
    counts, sizes = {}, {}
    for name, path in PAGES.items():
        client = api if name in API_KEY_PAGES else console
        client.get(path)  # warm: the key's first use and the caches are not what is measured
        counter = Counter()
        with connection.execute_wrapper(counter):
            response = client.get(path)
        assert response.status_code == 200, (name, response.status_code, response.content[:300])
        counts[name], sizes[name] = counter.n, len(response.content)
    overdue_total = selectors.overdue_tickets().count()
    if args.profile:
        for name, path in PAGES.items():
            profile(api if name in API_KEY_PAGES else console, name, path, args.profile)
    return {
        "key": plain,
        "session": console.cookies["sessionid"].value,
        "counts": counts,
        "bytes": sizes,
        "overdue": overdue_total,
    }


def profile(client, name: str, path: str, n: int):
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for _ in range(n):
        client.get(path)
    profiler.disable()
    per_request = (time.perf_counter() - started) * 1000 / n
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).sort_stats("tottime")
    stats.print_stats(18)
    print(f"\n  profile {name}: {per_request:.1f} ms per in-process request (under cProfile), top by own time")
    print("\n".join("    " + line for line in out.getvalue().splitlines()[6:]), flush=True)


def refresh_summary_every(seconds: float, stop: threading.Event):
    """What beat does in production (every minute), so no timed request pays for the count."""
    from django.db import connection

    from tickets import selectors

    while not stop.wait(seconds):
        selectors.overdue_rollup_refresh()
        connection.close()


def request(port: int, path: str, headers: dict) -> tuple[int, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    started = time.perf_counter()
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    response.read()
    elapsed = (time.perf_counter() - started) * 1000
    conn.close()
    return response.status, elapsed


def run_size(size: int):
    print(f"\n== {size:,} tickets stored ({urllib.parse.urlsplit(os.environ['DATABASE_URL']).path[1:]})", flush=True)
    prepared = prepare(size)
    counts, sizes = prepared["counts"], prepared["bytes"]
    print(
        f"  overdue tickets {prepared['overdue']:,}; statements per request: "
        + ", ".join(f"{name} {counts[name]}" for name in PAGES)
        + "; response bytes: "
        + ", ".join(f"{name} {sizes[name]:,}" for name in PAGES),
        flush=True,
    )
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "CELERY_BROKER_URL": "memory://",
        "CSTRACK_VAR_DIR": str(ROOT / "var" / "bench"),
    }
    gunicorn = [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi:application", "-b", f"127.0.0.1:{port}"]
    server = subprocess.Popen(
        [*gunicorn, "-w", str(args.gunicorn_workers), "--log-level", "warning"], cwd=ROOT, env=env
    )
    stop = threading.Event()
    beat = threading.Thread(target=refresh_summary_every, args=(30.0, stop), daemon=True)
    beat.start()
    headers = {
        name: {"Authorization": f"Bearer {prepared['key']}"}
        if name in API_KEY_PAGES
        else {"Cookie": f"sessionid={prepared['session']}"}
        for name in PAGES
    }
    try:
        for _ in range(120):
            try:
                request(port, PAGES["list"], headers["list"])
                break
            except OSError:
                time.sleep(0.5)
        for name in PAGES:  # each worker's first request imports and connects
            for _ in range(3 * args.gunicorn_workers):
                request(port, PAGES[name], headers[name])
        rounds = []
        for r in range(args.rounds):
            times, errors = {name: [] for name in PAGES}, 0
            started = time.perf_counter()
            while time.perf_counter() - started < args.window:
                for name, path in PAGES.items():
                    status, ms = request(port, path, headers[name])
                    errors += status != 200
                    times[name].append(ms)
            p50 = {name: statistics.median(values) for name, values in times.items()}
            rounds.append(p50)
            print(
                f"  round {r + 1}: n={len(times['list'])} each, p50 "
                + ", ".join(f"{name} {p50[name]:.1f} ms" for name in PAGES)
                + f" | overdue/list {p50['overdue'] / p50['list']:.2f}, supervisor/list "
                f"{p50['supervisor'] / p50['list']:.2f} | non-200 {errors} | load average {loadavg()}",
                flush=True,
            )
    finally:
        stop.set()
        server.terminate()
        server.wait(timeout=30)
    median = {name: statistics.median(r[name] for r in rounds) for name in PAGES}
    result = {
        "size": size,
        "p50_ms": {name: round(v, 1) for name, v in median.items()},
        "overdue_over_list": round(median["overdue"] / median["list"], 2),
        "supervisor_over_list": round(median["supervisor"] / median["list"], 2),
        "overdue_over_list25": round(median["overdue"] / median["list25"], 2),
        "supervisor_over_list25": round(median["supervisor"] / median["list25"], 2),
        "statements": counts,
        "overdue_tickets": prepared["overdue"],
        "load_average": loadavg(),
    }
    print(
        f"  median of {args.rounds} rounds: list {median['list']:.1f} ms (25 rows {median['list25']:.1f}), "
        f"overdue {median['overdue']:.1f} ms ({result['overdue_over_list']}x; {result['overdue_over_list25']}x "
        f"the 25-row list), supervisor {median['supervisor']:.1f} ms ({result['supervisor_over_list']}x; "
        f"{result['supervisor_over_list25']}x); statements " + ", ".join(f"{name} {counts[name]}" for name in PAGES)
    )
    print("RESULT " + json.dumps(result), flush=True)


if args.size:
    run_size(args.size)
else:
    print(f"machine: {machine()}; load average {loadavg()}", flush=True)
    for n in [int(s) for s in args.sizes.split(",")]:
        child = [sys.executable, __file__, "--size", str(n), "--prefix", args.prefix]
        child += ["--rounds", str(args.rounds), "--window", str(args.window)]
        child += ["--gunicorn-workers", str(args.gunicorn_workers), "--profile", str(args.profile)]
        child += ["--reuse"] if args.reuse else []
        # Each size in its own process: Django binds its database once per process.
        subprocess.run(child, check=True, env={**os.environ, "DATABASE_URL": database_url(n)})
