"""``vitae dev``: the whole service on a bare machine, embedded servers included."""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from vitae.embedded import Server, start_mongo, start_redis, wait_for_port
from vitae.settings import DEV_ENV_FILE, PREFIX, read_env_file

log = logging.getLogger("vitae.dev")


def _dev_secret(data_dir: Path) -> str:
    """A signing secret kept in the data dir, so tokens survive a restart of ``just dev``."""
    path = data_dir / "jwt-secret"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def _configured() -> dict[str, str]:
    """The user's own settings: the environment and ``.env``, never a stale dev state file."""
    env = read_env_file(Path(".env"))
    env.update({k: v for k, v in os.environ.items() if k.startswith(PREFIX)})
    return env


def run_dev() -> int:
    """Start what is missing, then the API and a worker; stop them all on Ctrl-C."""
    env = _configured()
    data_dir = Path(env.get(PREFIX + "DATA_DIR") or ".vitae").resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    servers: list[Server] = []
    children: list[subprocess.Popen[bytes]] = []
    state_file = data_dir / DEV_ENV_FILE
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        log.info("received %s, stopping", signal.Signals(signum).name)
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        if not env.get(PREFIX + "REDIS_URL"):
            server = start_redis(data_dir=data_dir / "valkey")
            servers.append(server)
            env[PREFIX + "REDIS_URL"] = server.url
            log.info("started embedded Valkey at %s (data in %s)", server.url, data_dir / "valkey")
        else:
            log.info("using Redis at %s", env[PREFIX + "REDIS_URL"])
        if not env.get(PREFIX + "MONGODB_URL"):
            sqlite = data_dir / "mongo.sqlite3"
            server = start_mongo(path=sqlite)
            servers.append(server)
            env[PREFIX + "MONGODB_URL"] = server.url
            log.info("started embedded MongoDB-wire store at %s (SQLite %s)", server.url, sqlite)
        else:
            log.info("using MongoDB at %s", env[PREFIX + "MONGODB_URL"])
        env.setdefault(PREFIX + "JWT_SECRET", _dev_secret(data_dir))
        env[PREFIX + "DATA_DIR"] = str(data_dir)
        storage = env.get(PREFIX + "STORAGE", "local")
        if storage == "local":
            log.info("storing PDFs locally under %s", data_dir / "files")
        state_file.write_text(
            "".join(f"{k}={v}\n" for k, v in sorted(env.items())), encoding="utf-8"
        )
        state_file.chmod(0o600)
        child_env = {**os.environ, **env}
        for role in ("api", "worker"):
            children.append(subprocess.Popen([sys.executable, "-m", "vitae", role], env=child_env))  # noqa: S603
        port = int(env.get(PREFIX + "PORT", "8000"))
        wait_for_port(port, children[0], timeout=30)
        log.info(
            "Vitae is up at http://%s:%d (API docs at /schema); Ctrl-C stops everything",
            env.get(PREFIX + "HOST", "127.0.0.1"),
            port,
        )
        while not stopping:
            if any(child.poll() is not None for child in children):
                log.error("a child process exited; stopping the rest")
                return 1
            time.sleep(0.2)
        return 0
    finally:
        for child in reversed(children):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in reversed(children):
            try:
                child.wait(timeout=35)
            except subprocess.TimeoutExpired:
                child.kill()
        for server in reversed(servers):
            server.stop()
            log.info("stopped %s", server.name)
        state_file.unlink(missing_ok=True)
