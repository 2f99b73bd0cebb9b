"""The fake provider as a separate process (what end-to-end tests with real workers use)."""

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from notifications.providers.gateway import HttpGatewayProvider

SCRIPT = Path(__file__).resolve().parents[1] / "fakes" / "provider_server.py"


@pytest.fixture
def fake_process(tmp_path):
    port_file, record = tmp_path / "port", tmp_path / "received.jsonl"
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--port", "0", "--port-file", str(port_file), "--record", str(record)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while not (port_file.exists() and port_file.read_text()):
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "fake provider did not start"
        time.sleep(0.05)
    yield proc, int(port_file.read_text()), record
    proc.terminate()
    proc.wait(10)


@pytest.mark.real_clock  # the gateway in the other process checks timestamps on its own clock
@pytest.mark.django_db
def test_separate_process_records_and_reports(fake_process, enqueue, settings):
    proc, port, record = fake_process
    base = f"http://127.0.0.1:{port}"
    settings.SMS_PROVIDER = "http"
    settings.HTTP_GATEWAY_URL = f"{base}/gateway/messages"
    settings.HTTP_GATEWAY_SECRET = "fake-gateway-secret"
    message = enqueue()
    ref = HttpGatewayProvider().send(message)

    [line] = record.read_text(encoding="utf-8").splitlines()
    row = json.loads(line)
    assert (row["idempotency_key"], row["provider_ref"]) == (message.idempotency_key, ref)

    with urllib.request.urlopen(f"{base}/_fake/stats", timeout=5) as resp:
        stats = json.loads(resp.read())
    assert stats["accepted"] == 1 and stats["duplicates"] == {}

    req = urllib.request.Request(
        f"{base}/_fake/fail_next", data=json.dumps({"outcomes": [503]}).encode(), method="POST"
    )
    urllib.request.urlopen(req, timeout=5).close()
    from notifications.providers import TemporaryProviderError

    with pytest.raises(TemporaryProviderError):
        HttpGatewayProvider().send(message)

    proc.terminate()
    assert proc.wait(10) == 0
    assert "listening on" in proc.stdout.read()
