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
