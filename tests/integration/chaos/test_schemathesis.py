"""Schemathesis, a tool nobody here wrote, against the OpenAPI schema of a running instance:
no 5xx, every status code documented, every response matching its schema."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support import (
    Services,
    create_user_token,
    process_environ,
    start_api,
    start_worker,
)

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(900)]


def test_schemathesis_finds_no_server_error(services: Services, tmp_path: Path) -> None:
    env, cwd, port = process_environ(
        services, tmp_path, VITAE_QUEUE_NAME="fuzz", VITAE_EXPORTS_PER_MINUTE="0"
    )
    procs = [start_worker(env, cwd, tmp_path)]
    logs = tmp_path / "api"
    logs.mkdir()
    procs.append(start_api(env, cwd, logs))
    try:
        token = create_user_token(env, cwd, "fuzz@example.com")
        st = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
        result = subprocess.run(  # noqa: S603  (a fixed command line)
            [
                st,
                "run",
                f"http://127.0.0.1:{port}/schema/openapi.json",
                "-H",
                f"Authorization: Bearer {token}",
                "--checks",
                "not_a_server_error,response_schema_conformance,status_code_conformance",
                "--max-examples",
                os.environ.get("VITAE_FUZZ_EXAMPLES", "25"),
                "--suppress-health-check",
                "all",
                "--seed",
                "1",
            ],
            capture_output=True,
            text=True,
            timeout=800,
            check=False,
        )
    finally:
        for proc in reversed(procs):
            proc.stop()
    print(result.stdout[-3000:])  # noqa: T201
    assert result.returncode == 0, result.stdout[-6000:]
