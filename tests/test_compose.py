"""docker-compose.yml and the Dockerfile: the shape checked always, `docker compose config`
where a compose client exists."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
LONG_RUNNING = {"postgresql", "temporal", "temporal-ui", "worker", "codec-server", "http-trigger"}
SECRET_NAME = re.compile(r"PASSWORD|PWD|SECRET|TOKEN|KEYS?$|DSN", re.IGNORECASE)
# ${VAR}, ${VAR:?message} or ${VAR:-} (empty default): the value comes from the environment.
FROM_ENV = re.compile(r"\$\{\w+(:\?[^}]*|:-)?\}")
# Values the checks below set for `docker compose config`; none of them is in the file.
ENV_FOR_CONFIG = {
    "POSTGRES_PASSWORD": "pw-for-config-check",
    "WFCTL_CODEC_TOKEN": "token-for-config-check",
    "WFCTL_ENCRYPTION_KEYS": "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
}


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return document


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def test_services_health_checks_and_restart_policies() -> None:
    services = compose()["services"]
    assert LONG_RUNNING <= set(services)
    for name in LONG_RUNNING:
        service = services[name]
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
        assert service.get("restart") in ("unless-stopped", "always"), name
    # The one-shot setup retries until the server answers, then the worker may start.
    assert services["temporal-setup"]["restart"] == "on-failure"
    assert services["worker"]["depends_on"] == {
        "temporal": {"condition": "service_healthy"},
        "temporal-setup": {"condition": "service_completed_successfully"},
        "postgresql": {"condition": "service_healthy"},
    }


def test_temporal_on_postgres_which_also_holds_iac_state() -> None:
    services = compose()["services"]
    temporal = environment(services["temporal"])
    assert temporal["DB"] == "postgres12" and temporal["POSTGRES_SEEDS"] == "postgresql"
    worker = environment(services["worker"])
    assert worker["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert worker["WFCTL_STATE_DSN"].endswith("@postgresql:5432/wfctl")
    assert environment(services["postgresql"])["POSTGRES_DB"] == "wfctl"
    assert services["worker"]["build"] == "."


def test_ui_points_at_the_codec_server_when_encryption_is_on() -> None:
    services = compose()["services"]
    ui = environment(services["temporal-ui"])
    assert ui["TEMPORAL_CODEC_ENDPOINT"] == "${TEMPORAL_CODEC_ENDPOINT:-}"
    codec = services["codec-server"]
    assert codec["profiles"] == ["encryption"]
    assert codec["command"][2:4] == ["wfctl", "codec-server"]
    # The codec server allows the origin the UI is published on.
    ui_host_port = services["temporal-ui"]["ports"][0].split(":")[0]
    assert codec["command"][codec["command"].index("--origin") + 1] == (
        f"http://localhost:{ui_host_port}"
    )
    for name in ("worker", "codec-server", "http-trigger"):
        assert "WFCTL_ENCRYPTION_KEYS" in environment(services[name]), name


def test_no_secret_literal_in_the_compose_file() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    for name, service in compose()["services"].items():
        for key, value in environment(service).items():
            if SECRET_NAME.search(key):
                assert FROM_ENV.search(value), f"{name}.{key} is not taken from the environment"
                rest = FROM_ENV.sub("", value)
                if "://" in rest:  # a DSN: its password part must be all ${...}
                    password = re.search(r"://[^:/@]*:([^@]*)@", rest)
                    assert not (password and password.group(1)), f"{name}.{key}: literal"
                else:
                    assert rest == "", f"{name}.{key} embeds a literal"
    # Defaults may be empty, never a password or key of their own.
    assert not re.search(r"\$\{\w*(PASSWORD|TOKEN|KEYS?|SECRET)\w*:-[^}]", text)
    for literal in ENV_FOR_CONFIG.values():
        assert literal not in text


def test_dockerfile_installs_the_project_and_runs_the_worker() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert text.splitlines()[[i for i, line in enumerate(text.splitlines())
                              if line.startswith("FROM")][0]] == "FROM python:3.11-slim"
    assert "pip install --no-deps ." in text
    assert 'CMD ["python", "worker.py"' in text
    assert "USER wfctl" in text
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".venv", ".git", ".env", "tests"} <= set(ignored)


def compose_command() -> list[str]:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True,
                               timeout=30)
        if probe.returncode == 0:
            return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    if standalone:
        return [standalone]
    if docker:
        pytest.skip("this docker client has no compose plugin (`docker compose` is an unknown "
                    "command) and no docker-compose binary is installed")
    pytest.skip("no docker client on this machine (neither docker nor docker-compose)")


def test_docker_compose_config_validates() -> None:
    command = compose_command()
    env = {**os.environ, **ENV_FOR_CONFIG}
    for profiles in ([], ["--profile", "encryption", "--profile", "http"]):
        result = subprocess.run(
            [*command, "-f", str(COMPOSE), *profiles, "config", "--quiet"],
            capture_output=True, text=True, cwd=ROOT, env=env, timeout=60,
        )
        assert result.returncode == 0, result.stderr
    # Without the database password it refuses instead of starting with an empty one.
    env.pop("POSTGRES_PASSWORD")
    refused = subprocess.run([*command, "-f", str(COMPOSE), "config", "--quiet"],
                             capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert refused.returncode != 0
    assert "POSTGRES_PASSWORD" in refused.stderr
