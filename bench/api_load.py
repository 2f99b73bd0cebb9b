"""API under load on loopback: gunicorn (sync workers) on PostgreSQL, wrk as the load
generator. Reports p50/p99 and requests/s for creating tickets, listing tickets and the overdue
queue's first page, at each stored size; and the query count of each list and of a create at
each size.

    apt-get install -y wrk    # the load generator, from Debian
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cstrack_bench .venv/bin/python bench/api_load.py --sizes 10000,1000000
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

from common import ROOT, create_database, machine

parser = argparse.ArgumentParser()
parser.add_argument("--sizes", default="10000,1000000", help="tickets stored")
parser.add_argument("--duration", default="15s")
parser.add_argument("--connections", type=int, default=8, help="connections for the throughput run")
parser.add_argument("--gunicorn-workers", type=int, default=3)
args = parser.parse_args()
if not shutil.which("wrk"):
    raise SystemExit("wrk is needed: apt-get install -y wrk")
print(f"machine: {machine()}")

CREATE_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(key)s"
local n = 0
request = function()
  n = n + 1
  local body = '{"kind": "driver-penalty-request", "driver_id": "DRV-' .. (n %% 5000) .. '", "channel": "phone", ' ..
    '"customer_phone": "010-2345-' .. string.format("%%04d", n %% 10000) .. '", "consent_basis": "existing_member", ' ..
    '"member_id": "M-' .. n .. '", "details": {"penalty_board": "koc", "call_type": "own_normal", ' ..
    '"violation": "no_show", "incident_date": "2026-11-20", "description": "load", "feedback_requested": true}}'
  return wrk.format(nil, nil, nil, body)
end
"""
GET_LUA = 'wrk.headers["Authorization"] = "Bearer %(key)s"\n'


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wrk(url, script, key, connections):
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script % {"key": key})
    out = subprocess.run(
        ["wrk", f"-t{min(connections, 2)}", f"-c{connections}", f"-d{args.duration}", "--latency", "-s", f.name, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(f.name)

    def ms(label):
        m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"p50": ms("50"), "p99": ms("99"), "rps": rps, "errors": int(non2xx.group(1)) if non2xx else 0}


results = {}
for size in [int(s) for s in args.sizes.split(",")]:
    print(f"\n== {size:,} tickets stored")
    create_database()
    from dataset import load
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from tickets.api.keys import apikey_create

    load(size, due_fraction=0.01)
    _key, plain = apikey_create(name=f"bench-{size}", scopes=["read", "write"], rate_per_minute=10_000_000)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {plain}")
    counts = {}
    for name, path in (("list", "/api/v1/tickets/"), ("overdue", "/api/v1/queues/overdue/")):
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(path).status_code == 200
        counts[name] = len(ctx.captured_queries)
    body = {
        "kind": "driver-penalty-request",
        "driver_id": "DRV-1",
        "channel": "phone",
        "customer_phone": "010-2345-0001",
        "consent_basis": "existing_member",
        "member_id": "M-0",
        "details": {
            "penalty_board": "koc",
            "call_type": "own_normal",
            "violation": "no_show",
            "incident_date": "2026-11-20",
            "description": "load",
            "feedback_requested": True,
        },
    }
    client.post("/api/v1/tickets/", body, content_type="application/json")  # the key's first use is written once
    with CaptureQueriesContext(connection) as ctx:
        assert client.post("/api/v1/tickets/", body, content_type="application/json").status_code == 201
    counts["create"] = len(ctx.captured_queries)  # BEGIN and COMMIT included
    print(
        f"  queries per request: list {counts['list']}, overdue first page {counts['overdue']}, "
        f"create {counts['create']}"
    )
    connection.close()

    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",  # as in production: DEBUG keeps every query in memory and slows each request
        "LOG_LEVEL": "WARNING",
        "CELERY_BROKER_URL": "memory://",
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/11"),
        "CSTRACK_VAR_DIR": str(ROOT / "var" / "bench"),
    }
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "config.wsgi:application",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(args.gunicorn_workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(60):
            try:
                req = urllib.request.Request(base + "/api/v1/kinds/", headers={"Authorization": f"Bearer {plain}"})  # noqa: S310
                urllib.request.urlopen(req, timeout=2)  # noqa: S310 - loopback only
                break
            except OSError:
                time.sleep(0.5)
        row = {"queries": counts}
        # Latency with one client at a time (what an agent sees), throughput with several.
        for name, path, script in (
            ("create", "/api/v1/tickets/", CREATE_LUA),
            ("list", "/api/v1/tickets/", GET_LUA),
            ("overdue", "/api/v1/queues/overdue/", GET_LUA),
        ):
            single = wrk(base + path, script, plain, 1)
            loaded = wrk(base + path, script, plain, args.connections)
            row[name] = {
                "p50": single["p50"],
                "p99": single["p99"],
                "rps_1": single["rps"],
                f"p50_c{args.connections}": loaded["p50"],
                f"p99_c{args.connections}": loaded["p99"],
                "rps": loaded["rps"],
                "errors": single["errors"] + loaded["errors"],
            }
            r = row[name]
            print(
                f"  {name:8} 1 client: p50 {r['p50']:6.1f} ms p99 {r['p99']:6.1f} ms {r['rps_1']:6.1f} req/s | "
                f"{args.connections} clients: p50 {loaded['p50']:6.1f} ms p99 {loaded['p99']:6.1f} ms "
                f"{loaded['rps']:6.1f} req/s | non-2xx {r['errors']}"
            )
        results[size] = row
    finally:
        server.terminate()
        server.wait(timeout=30)

print("\n" + json.dumps(results, indent=1))
