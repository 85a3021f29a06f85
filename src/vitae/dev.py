"""``vitae dev``: the whole service on a bare machine, embedded servers included."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from vitae import wiring
from vitae.embedded import Server, free_port, spawn, start_mongo, start_redis, wait_for_port
from vitae.settings import DEV_ENV_FILE, PREFIX, Settings, read_env_file, settings_from_env
from vitae.users import user_token

log = logging.getLogger("vitae.dev")
LOCAL_USER = "local@vitae.dev"


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


async def local_user_token(settings: Settings) -> str:
    """A token for the dev instance's local user, created on first use with a few credits."""
    async with wiring.command(settings) as users:
        user = await users.get_or_create(LOCAL_USER, name="Local User", credit_balance=10)
    return user_token(user, settings)


def _start_missing_servers(env: dict[str, str], data_dir: Path) -> list[Server]:
    """Start embedded Valkey and the MongoDB-wire store where no URL is configured."""
    servers: list[Server] = []
    if env.get(PREFIX + "REDIS_URL"):
        log.info("using Redis at %s", env[PREFIX + "REDIS_URL"])
    else:
        server = start_redis(data_dir=data_dir / "valkey")
        servers.append(server)
        env[PREFIX + "REDIS_URL"] = server.url
        log.info("started embedded Valkey at %s (data in %s)", server.url, data_dir / "valkey")
    if env.get(PREFIX + "MONGODB_URL"):
        log.info("using MongoDB at %s", env[PREFIX + "MONGODB_URL"])
    else:
        sqlite = data_dir / "mongo.sqlite3"
        server = start_mongo(path=sqlite)
        servers.append(server)
        env[PREFIX + "MONGODB_URL"] = server.url
        log.info("started embedded MongoDB-wire store at %s (SQLite %s)", server.url, sqlite)
    return servers


def _stop(children: list[subprocess.Popen[bytes]], servers: list[Server]) -> None:
    """API and worker first (the worker finishes its running jobs), then the servers."""
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=40)
        except subprocess.TimeoutExpired:
            child.kill()
    for server in reversed(servers):
        server.stop()
        log.info("stopped %s", server.name)


def run_dev() -> int:
    """Start what is missing, then the API and a worker; stop them all on Ctrl-C."""
    env = _configured()
    data_dir = Path(env.get(PREFIX + "DATA_DIR") or ".vitae").resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    state_file = data_dir / DEV_ENV_FILE
    stopping: list[str] = []

    def stop(signum: int, _frame: FrameType | None) -> None:
        stopping.append(signal.Signals(signum).name)

    # A closed terminal (SIGHUP) stops everything in order too; a SIGKILL cannot be caught,
    # and each child then gets SIGTERM from the kernel (`vitae.embedded.spawn`).
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)
    servers: list[Server] = []
    children: list[subprocess.Popen[bytes]] = []
    try:
        servers = _start_missing_servers(env, data_dir)
        env.setdefault(PREFIX + "JWT_SECRET", _dev_secret(data_dir))
        env[PREFIX + "DATA_DIR"] = str(data_dir)
        # A receiver on this machine is how webhooks are tried out: allow it, and say so.
        env.setdefault(PREFIX + "WEBHOOK_ALLOW_HTTP", "true")
        env.setdefault(PREFIX + "WEBHOOK_ALLOW_NETWORKS", "127.0.0.0/8,::1/128")
        log.info(
            "webhooks may call http URLs and %s (production: https on public addresses only)",
            env[PREFIX + "WEBHOOK_ALLOW_NETWORKS"] or "no private network",
        )
        # The worker opens its metrics port once it is ready: how this launcher knows it is.
        if not int(env.get(PREFIX + "WORKER_METRICS_PORT") or 0):
            env[PREFIX + "WORKER_METRICS_PORT"] = str(free_port())
        if env.get(PREFIX + "STORAGE", "local") == "local":
            log.info("storing PDFs locally under %s", data_dir / "files")
        # Commands run from the checkout (e.g. `vitae users create`) find this instance here.
        state_file.write_text("".join(f"{k}={v}\n" for k, v in sorted(env.items())), "utf-8")
        state_file.chmod(0o600)
        child_env = {"VITAE_LOG_FORMAT": "console", **os.environ, **env}
        children = [
            spawn([sys.executable, "-m", "vitae", role], env=child_env)
            for role in ("api", "worker")
        ]
        port = int(env.get(PREFIX + "PORT", "8000"))
        try:
            wait_for_port(port, children[0], timeout=60)
            wait_for_port(int(env[PREFIX + "WORKER_METRICS_PORT"]), children[1], timeout=60)
        except (RuntimeError, TimeoutError) as error:
            log.error("Vitae did not start: %s (its log is above)", error)  # noqa: TRY400
            return 1
        host = env.get(PREFIX + "HOST", "127.0.0.1")
        token = asyncio.run(local_user_token(settings_from_env(env)))
        # Last, once the API and the worker answer: what a person came for.
        log.info("API docs: http://%s:%d/schema", host, port)
        log.info(
            "Vitae is up (Ctrl-C stops everything). Open the page as %s: http://%s:%d/#token=%s",
            LOCAL_USER,
            host,
            port,
            token,
        )
        while not stopping:
            if any(child.poll() is not None for child in children):
                log.error("a child process exited; stopping the rest")
                return 1
            time.sleep(0.2)
        log.info("received %s, stopping", stopping[0])
        return 0
    finally:
        _stop(children, servers)
        state_file.unlink(missing_ok=True)
