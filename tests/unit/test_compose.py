"""compose.yaml describes the production shape and stays consistent with the settings."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))


def test_services_and_scaling() -> None:
    services = compose()["services"]
    assert set(services) == {"mongo", "redis", "minio", "minio-init", "api", "worker"}
    worker = services["worker"]
    # `docker compose up --scale worker=N` needs no fixed name and no published port.
    assert "container_name" not in worker
    assert "ports" not in worker
    assert worker["command"] == ["vitae", "worker"]
    assert worker["healthcheck"]["test"] == ["CMD", "vitae", "ready"]
    assert "/ready" in " ".join(services["api"]["healthcheck"]["test"])
    for name in ("api", "worker"):
        depends = services[name]["depends_on"]
        assert depends["minio-init"] == {"condition": "service_completed_successfully"}
        assert depends["mongo"] == {"condition": "service_healthy"}
    assert "mc mb --ignore-existing local/vitae-exports" in services["minio-init"]["entrypoint"]


def test_every_variable_is_a_setting() -> None:
    settings_source = (ROOT / "src" / "vitae" / "settings.py").read_text(encoding="utf-8")
    known = set(re.findall(r'read\.\w+\("([A-Z0-9_]+)"', settings_source)) | {"LOG_FORMAT"}
    environment = compose()["services"]["api"]["environment"]
    assert environment == compose()["services"]["worker"]["environment"]
    for variable in environment:
        assert variable.startswith("VITAE_")
        assert variable.removeprefix("VITAE_") in known, variable


# A variable whose value is a credential, by its name.
SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|ACCESS_KEY|ROOT_USER|PRIVATE|CREDENTIAL")
# Compose's required form: `${NAME:?message}` stops `docker compose up` when NAME is unset.
REQUIRED = re.compile(r"^\$\{(?P<name>[A-Z0-9_]+):\?[^}]+\}$")


def environment(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        pairs = (str(item).partition("=") for item in raw)
        return {name: value for name, _, value in pairs}
    return {str(key): str(value) for key, value in raw.items()}


def test_no_secret_has_a_default_or_a_literal_value() -> None:
    required: set[str] = set()
    for name, service in compose()["services"].items():
        for variable, value in environment(service).items():
            if SECRET_NAME.search(variable):
                match = REQUIRED.match(value)
                assert match, f"{name}: {variable} must be ${{VAR:?message}}, not {value!r}"
                required.add(match["name"])
    assert {"VITAE_JWT_SECRET", "VITAE_S3_ACCESS_KEY_ID", "VITAE_S3_SECRET_ACCESS_KEY"} <= required
    text = (ROOT / "compose.yaml").read_text(encoding="utf-8")
    # Nowhere else either: no `${SECRET:-default}` and no credential written into a command.
    assert not re.search(r"\$\{\w*(SECRET|PASSWORD|KEY|TOKEN)\w*:?-", text)
    assert "minio-secret" not in text


def test_metrics_ports_are_not_published() -> None:
    services = compose()["services"]
    published = [port for service in services.values() for port in service.get("ports", [])]
    environment_of_api = environment(services["api"])
    for variable in ("VITAE_API_METRICS_PORT", "VITAE_WORKER_METRICS_PORT"):
        port = environment_of_api[variable]
        assert not [p for p in published if str(p).split(":")[-1] == port], (variable, published)
