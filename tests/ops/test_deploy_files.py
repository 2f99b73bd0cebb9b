"""The deploy and setup files agree with each other. No Docker engine runs where the suite runs,
so docker-compose.yml is checked by parsing it and resolving what Compose would resolve: every
reference points at something defined, every service can start (image or build, a command the
image has), and the secrets production requires are demanded, not defaulted."""

import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_KEYS = {"services", "volumes", "networks", "secrets", "configs", "name"}
SERVICE_KEYS = {
    "build", "image", "restart", "env_file", "environment", "volumes", "depends_on", "command",
    "ports", "healthcheck", "entrypoint", "deploy", "networks",
}  # fmt: skip
DEPENDS_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
REQUIRED_SECRETS = {"SECRET_KEY", "PII_ENCRYPTION_KEYS", "PII_HASH_KEY", "POSTGRES_PASSWORD", "METRICS_TOKEN"}


@pytest.fixture(scope="module")
def compose():
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    return text, yaml.safe_load(text)


def _supported_versions() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [
        c.rsplit(" :: ", 1)[1] for c in project["classifiers"] if c.startswith("Programming Language :: Python :: 3.")
    ]


def test_compose_file_resolves(compose):
    _text, doc = compose
    assert set(doc) - COMPOSE_KEYS <= {k for k in doc if k.startswith("x-")}
    services, volumes = doc["services"], set(doc.get("volumes") or {})
    assert {"web", "worker", "beat", "postgres", "redis", "migrate"} <= set(services)
    for name, service in services.items():
        assert set(service) <= SERVICE_KEYS, (name, set(service) - SERVICE_KEYS)
        assert "image" in service or "build" in service, name
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            if not source.startswith(("/", ".")):
                assert source in volumes, (name, source)
        for target, spec in (service.get("depends_on") or {}).items():
            assert target in services, (name, target)
            assert spec["condition"] in DEPENDS_CONDITIONS
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[target], (
                    f"{name} waits for {target} to be healthy; it has no healthcheck"
                )
        for env_file in service.get("env_file", []):
            assert set(env_file) <= {"path", "required"} if isinstance(env_file, dict) else isinstance(env_file, str)


def test_compose_demands_production_secrets(compose):
    text, doc = compose
    for secret in REQUIRED_SECRETS:
        assert re.search(rf"\$\{{{secret}:\?", text), f"{secret} must be required (${{{secret}:?...}}), not defaulted"
    assert doc["services"]["web"]["environment"]["DJANGO_ENV"] == "production"


def test_compose_commands_name_what_the_project_has(compose):
    _text, doc = compose
    services = doc["services"]
    assert services["web"].get("command") is None  # the Dockerfile's CMD: gunicorn
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    cmd = re.search(r"^CMD (\[.*\])$", dockerfile, re.M).group(1)
    assert "config/gunicorn.py" in cmd and (ROOT / "config" / "gunicorn.py").exists()
    assert "config.wsgi:application" in cmd and (ROOT / "config" / "wsgi.py").exists()
    for name in ("worker", "beat"):
        assert services[name]["command"][:3] == ["celery", "-A", "config"]
    assert services["migrate"]["command"][:2] == ["python", "manage.py"]


def test_docker_image_uses_the_newest_supported_python():
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    image = re.search(r"^FROM python:(\d+\.\d+)", dockerfile, re.M).group(1)
    versions = _supported_versions()
    assert versions, "pyproject.toml lists the supported Python versions as classifiers"
    assert image == max(versions, key=lambda v: tuple(map(int, v.split("."))))


def test_setup_script_supports_what_pyproject_says():
    setup = (ROOT / "scripts" / "setup.sh").read_text(encoding="utf-8")
    supported = re.search(r'^SUPPORTED="([\d. ]+)"', setup, re.M).group(1).split()
    assert sorted(supported) == sorted(_supported_versions())
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["requires-python"]
    low, high = re.fullmatch(r">=(\d+\.\d+),<(\d+\.\d+)", requires).groups()
    assert min(supported, key=lambda v: tuple(map(int, v.split(".")))) == low
    assert int(high.split(".")[1]) == max(int(v.split(".")[1]) for v in supported) + 1


def test_setup_script_finds_a_supported_interpreter():
    found = subprocess.run(
        ["bash", str(ROOT / "scripts" / "setup.sh"), "--find", "all"], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    versions = [line.split()[0] for line in found if line.strip()]
    assert versions, "the interpreter running this suite is supported, so at least one is found"
    assert set(versions) <= set(_supported_versions())
    assert versions == sorted(versions, key=lambda v: tuple(map(int, v.split("."))), reverse=True)


def test_setup_script_refuses_an_unsupported_interpreter(tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 3.10\n")
    fake.chmod(0o755)
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "setup.sh"), "base"],
        env={"PATH": "/usr/bin:/bin", "PYTHON": str(fake), "CSTRACK_VENV": str(tmp_path / "venv")},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "3.11, 3.12, 3.13" in result.stderr and not (tmp_path / "venv").exists()
