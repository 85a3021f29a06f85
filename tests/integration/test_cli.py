"""``vitae users`` as a person runs it, against the session's MongoDB-wire store: an existing
e-mail is one line and exit status 2, and ``users token`` gives an existing user a new token.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import jwt
from processes import VITAE

from support import JWT_SECRET, Services, create_user_token, process_environ, run_command


def run_vitae(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_command([*VITAE, *args], env, cwd)


def test_an_existing_email_is_one_line_and_a_new_token_is_printed(
    services: Services, tmp_path: Path
) -> None:
    env, cwd, _ = process_environ(services, tmp_path, VITAE_LOG_LEVEL="info")
    first = create_user_token(env, cwd, "twice@example.com")

    again = run_vitae(env, cwd, "users", "create", "--email", "twice@example.com")
    assert again.returncode == 2, again.stderr
    assert again.stdout == ""
    assert again.stderr.strip() == "vitae: a user with email twice@example.com exists"

    token = run_vitae(env, cwd, "users", "token", "--email", "Twice@Example.com")
    assert token.returncode == 0, token.stderr
    new = token.stdout.strip()
    assert token.stdout.count("\n") == 1  # the token alone, for TOKEN=$(vitae users token …)
    claims = jwt.decode(new, JWT_SECRET, algorithms=["HS256"])
    assert claims["sub"] == jwt.decode(first, JWT_SECRET, algorithms=["HS256"])["sub"]


def test_a_token_for_nobody_and_an_unreachable_store_are_one_line(
    services: Services, tmp_path: Path
) -> None:
    env, cwd, _ = process_environ(services, tmp_path, VITAE_LOG_LEVEL="info")
    nobody = run_vitae(env, cwd, "users", "token", "--email", "nobody@example.com")
    assert nobody.returncode == 2
    assert nobody.stderr.strip() == (
        "vitae: no user with e-mail nobody@example.com: "
        "create one with `vitae users create --email nobody@example.com`"
    )
    down = {**env, "VITAE_MONGODB_URL": "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=500"}
    unreachable = run_vitae(down, cwd, "users", "create", "--email", "x@example.com")
    assert unreachable.returncode == 2
    lines = unreachable.stderr.strip().splitlines()
    assert len(lines) == 1, unreachable.stderr
    assert lines[0].startswith("vitae: MongoDB did not answer"), lines
