"""Create p50 through the API, cstrack against django-helpdesk, finely interleaved: many short
alternating windows (helpdesk, cstrack, helpdesk, ...) instead of the side-by-side harness's
three 8-s windows, so that a shared machine's load drifting during the run weighs on both alike.

Uses the databases the side-by-side harness (`../shared/peer-bench`, run.py) loaded and its
servers' settings (gunicorn, 3 sync workers, DEBUG off), the same request bodies, 1 client.
Stdlib only; prints figures, asserts nothing.

    python3 bench/create_side_by_side.py --harness /tmp/bench-create/harness --cstrack . \\
        --peer-py /tmp/bench/peer/venv/bin/python --hd-db bench_crhd_10000 --cs-db bench_crcs_10000 \\
        --ports 8174,8175 --redis redis://127.0.0.1:6379/11 --rounds 20 --window 2
"""

import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import time

parser = argparse.ArgumentParser()
parser.add_argument("--harness", required=True, help="the side-by-side harness directory (hd_bench.py, peerproj/)")
parser.add_argument("--cstrack", default=".", help="cstrack checkout with .venv")
parser.add_argument("--peer-py", required=True)
parser.add_argument("--hd-db", required=True)
parser.add_argument("--cs-db", required=True)
parser.add_argument("--ports", default="8174,8175")
parser.add_argument("--redis", required=True, help="Redis URL for cstrack's cache")
parser.add_argument("--rounds", type=int, default=20)
parser.add_argument("--window", type=float, default=2.0, help="seconds per window")
parser.add_argument("--warmup", type=int, default=30, help="requests per system before measuring")
args = parser.parse_args()

CSTRACK = os.path.abspath(args.cstrack)
HARNESS = os.path.abspath(args.harness)
HD_PORT, CS_PORT = (int(p) for p in args.ports.split(","))
ENV_HD = {**os.environ, "DATABASE_NAME": args.hd_db, "DEBUG": "false"}
ENV_CS = {
    **os.environ,
    "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{args.cs_db}",
    "DEBUG": "false",
    "CELERY_BROKER_URL": "memory://",
    "REDIS_URL": args.redis,
    "LOG_LEVEL": "WARNING",
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "CSTRACK_VAR_DIR": f"{CSTRACK}/var/bench",
    "CSTRACK": CSTRACK,
}
CS_CREATE = {
    "kind": "driver-penalty-request",
    "channel": "phone",
    "consent_basis": "existing_member",
    "details": {
        "penalty_board": "koc",
        "call_type": "own_normal",
        "violation": "no_show",
        "incident_date": "2026-11-20",
        "description": "load",
        "feedback_requested": True,
    },
}


def hd_body(n):
    return json.dumps(
        {
            "queue": 1,
            "title": "Driver penalty request",
            "description": f"load {n}",
            "submitter_email": f"customer{n % 10000}@example.com",
            "priority": 3,
        }
    )


def cs_body(n):
    return json.dumps(
        {
            **CS_CREATE,
            "driver_id": f"DRV-{n % 5000}",
            "customer_phone": f"010-2345-{n % 10000:04d}",
            "member_id": f"M-{n}",
        }
    )


def creds(py, script, env):
    out = subprocess.run([py, script, "creds"], cwd=HARNESS, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def server(cmd, cwd, env):
    return subprocess.Popen(
        [*cmd, "-w", "3", "--timeout", "900", "--log-level", "warning"],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def post(port, path, headers, body):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    t0 = time.perf_counter()
    conn.request("POST", path, body=body, headers=headers)
    resp = conn.getresponse()
    resp.read()
    ms = (time.perf_counter() - t0) * 1000
    conn.close()
    if resp.status != 201:
        raise SystemExit(f"{port}{path}: HTTP {resp.status}")
    return ms


def wait_up(port):
    for _ in range(120):
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=5).request("GET", "/")
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"server on {port} did not start")


hd_tok = creds(args.peer_py, "hd_bench.py", ENV_HD)["token"]
cs_key = creds(f"{CSTRACK}/.venv/bin/python", "cs_bench.py", ENV_CS)["key"]
json_h = {"Content-Type": "application/json"}
systems = {
    "helpdesk": (HD_PORT, "/helpdesk/api/tickets/", {"Authorization": f"Token {hd_tok}", **json_h}, hd_body),
    "cstrack": (CS_PORT, "/api/v1/tickets/", {"Authorization": f"Bearer {cs_key}", **json_h}, cs_body),
}
peer_gunicorn = os.path.join(os.path.dirname(args.peer_py), "gunicorn")
servers = [
    server([peer_gunicorn, "peerproj.wsgi:application", "-b", f"127.0.0.1:{HD_PORT}"], HARNESS, ENV_HD),
    server([f"{CSTRACK}/.venv/bin/gunicorn", "config.wsgi:application", "-b", f"127.0.0.1:{CS_PORT}"], CSTRACK, ENV_CS),
]
try:
    wait_up(HD_PORT)
    wait_up(CS_PORT)
    n = int(time.time() * 1000) % 10**9
    for port, path, headers, body in systems.values():  # every worker past its first requests
        for _ in range(args.warmup):
            n += 1
            post(port, path, headers, body(n))
    samples = {name: [] for name in systems}
    window_p50 = {name: [] for name in systems}
    load_before = os.getloadavg()
    for _round in range(args.rounds):
        for name, (port, path, headers, body) in systems.items():
            lat, start = [], time.perf_counter()
            while time.perf_counter() - start < args.window:
                n += 1
                lat.append(post(port, path, headers, body(n)))
            samples[name] += lat
            window_p50[name].append(statistics.median(lat))
    load_after = os.getloadavg()
finally:
    for s in servers:
        s.send_signal(signal.SIGTERM)
    for s in servers:
        s.wait(timeout=60)

print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}")
print(
    f"{args.rounds} rounds of {args.window:g}-s windows per system, interleaved, after {args.warmup} warm-up requests each"
)
for name in systems:
    lat = sorted(samples[name])
    print(
        f"{name:9s} create p50 {statistics.median(lat):6.1f} ms  p90 {lat[int(0.9 * (len(lat) - 1))]:6.1f} ms"
        f"  n={len(lat)}  median of window p50s {statistics.median(window_p50[name]):6.1f} ms"
    )
ratios = [h / c for h, c in zip(window_p50["helpdesk"], window_p50["cstrack"], strict=True)]
print(
    f"helpdesk p50 / cstrack p50: {statistics.median(samples['helpdesk']) / statistics.median(samples['cstrack']):.2f} "
    f"(all requests); per round median {statistics.median(ratios):.2f}, range {min(ratios):.2f}-{max(ratios):.2f}"
)
