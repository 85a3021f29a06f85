"""Vitae as ``vitae dev`` runs it, as real processes on loopback: embedded Valkey (append-only
file) and the MongoDB-wire store (SQLite file) from ``vitae.embedded``, optionally moto's S3
server and a counting proxy in front of the store, ``python -m vitae api`` and
``python -m vitae worker`` processes. Logs go to files as JSON; the per-user limits on
exports and streams are off.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import redis
from measure import BenchError, Reader, cpu_seconds, tree_cpu_seconds
from processes import VITAE, Child, Children, descendants, wait_for_text

from vitae.cli import create_user
from vitae.embedded import free_port, start_mongo, start_redis, wait_for_port
from vitae.settings import PREFIX, settings_from_env

if TYPE_CHECKING:
    from collections.abc import Mapping

S3_BUCKET = "vitae-bench"
S3_KEY = "testing"
READY_TIMEOUT = 60.0
PROXY = Path(__file__).with_name("measure.py")


@dataclass(frozen=True, slots=True)
class StackConfig:
    """One shape of the service: worker processes, render processes per worker (None: the
    default, one per CPU), storage, and whether the store is reached through the counting
    proxy (one more hop: its latencies are not comparable).
    """

    workers: int = 1
    render: int | None = None
    storage: Literal["local", "s3"] = "local"
    count_store: bool = False

    @property
    def label(self) -> str:
        """A short name for tables."""
        name = f"{self.storage}, {self.workers} worker{'s' * (self.workers > 1)}"
        if self.render is None:
            return name
        return f"{name} ({self.render} render process{'es' * (self.render > 1)})"


@dataclass
class Stack:
    """A running service: its processes by role, the API's port and a user's bearer token."""

    config: StackConfig
    children: Children
    workdir: Path
    env: dict[str, str]
    port: int
    token: str = ""
    servers: dict[str, Child] = field(default_factory=dict[str, Child])
    api: Child | None = None
    workers: list[Child] = field(default_factory=list[Child])
    _redis: Any = None

    def pids(self) -> dict[str, int]:
        """Every process of the stack by role."""
        pids = {"api": self.api.pid} if self.api else {}
        pids |= {w.name: w.pid for w in self.workers}
        return pids | {name: child.pid for name, child in self.servers.items()}

    def readers(self) -> dict[str, Reader]:
        """CPU readers by role; a worker's render processes count apart (``render-N``)."""
        readers: dict[str, Reader] = {n: partial(cpu_seconds, p) for n, p in self.pids().items()}
        for index, worker in enumerate(self.workers, 1):
            readers[f"render-{index}"] = partial(_render_cpu, worker.pid)
        return readers

    def render_pids(self) -> list[int]:
        """The workers' render processes."""
        return [pid for worker in self.workers for pid in descendants(worker.pid)]

    def counters(self) -> dict[str, float]:
        """Commands served so far: Valkey's ``INFO commandstats`` (``redis:<command>``) and,
        behind the counting proxy, the store's (``mongo:<command>``).
        """
        if self._redis is None:
            self._redis = redis.Redis(port=self.servers["valkey"].port)
        stats: dict[str, Any] = self._redis.info("commandstats")  # pyright: ignore[reportAssignmentType]
        counts = {
            "redis:" + k.removeprefix("cmdstat_"): float(v["calls"]) for k, v in stats.items()
        }
        seen = self.workdir / "mongo-commands.json"
        if self.config.count_store and seen.exists():
            found: dict[str, int] = json.loads(seen.read_text(encoding="utf-8"))
            counts |= {"mongo:" + name: float(value) for name, value in found.items()}
        return counts

    def check_alive(self) -> None:
        """Fail with the log's tail if a process of the stack died."""
        for child in [*self.servers.values(), *([self.api] if self.api else []), *self.workers]:
            if not child.alive():
                raise BenchError(f"{child.name} exited during the run:\n{child.tail()}")

    def spawn(self, name: str, command: list[str], env: Mapping[str, str]) -> Child:
        """Start a process of the stack, logging to ``workdir/NAME.log``."""
        log = self.workdir / f"{name.replace(' ', '-')}.log"
        return self.children.spawn(name, command, env=dict(env), cwd=self.workdir, log=log)

    def wait_port(self, child: Child, port: int) -> None:
        """``wait_for_port``, failing as a benchmark error with the log's end."""
        try:
            wait_for_port(port, child.process, timeout=READY_TIMEOUT)
        except (RuntimeError, TimeoutError) as error:
            raise BenchError(f"{child.name}: {error}\n{child.tail()}") from None

    def start_worker(self) -> Child:
        """One more ``vitae worker``, once it says it is ready."""
        worker = self.spawn(f"worker-{len(self.workers) + 1}", [*VITAE, "worker"], self.env)
        self.workers.append(worker)
        wait_for_text(worker, "worker ready", READY_TIMEOUT)
        return worker

    def stop(self) -> None:
        """Stop every process the stack started."""
        if self._redis is not None:
            self._redis.close()
        self.children.stop_all()


def _render_cpu(worker: int) -> float:
    """CPU of a worker's render processes: its tree's less its own."""
    return tree_cpu_seconds(worker) - cpu_seconds(worker)


def start_stack(
    config: StackConfig,
    children: Children,
    workdir: Path,
    *,
    workers: bool = True,
    env: Mapping[str, str] | None = None,
) -> Stack:
    """Start the servers, the API and (unless ``workers`` is false) the configured workers,
    and create a user with credits (no watermark); ``env`` adds settings of the service.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    base = {k: v for k, v in os.environ.items() if not k.startswith(PREFIX)}
    base["PYTHONUNBUFFERED"] = "1"
    stack = Stack(config, children, workdir, base, free_port())
    valkey = children.add(Child.of_server(start_redis(data_dir=workdir / "valkey")))
    store = children.add(Child.of_server(start_mongo(path=workdir / "mongo.sqlite3")))
    stack.servers = {"valkey": valkey, "mongoeco": store}
    store_port = store.port
    if config.count_store:
        store_port = free_port()
        command = [sys.executable, str(PROXY), str(store_port), str(store.port)]
        proxy = stack.spawn("store proxy", [*command, str(workdir / "mongo-commands.json")], base)
        stack.wait_port(proxy, store_port)
        stack.servers["store proxy"] = proxy
    stack.env = base | {
        PREFIX + "REDIS_URL": f"redis://127.0.0.1:{valkey.port}/0",
        PREFIX + "MONGODB_URL": f"mongodb://127.0.0.1:{store_port}/?directConnection=true",
        PREFIX + "JWT_SECRET": secrets.token_urlsafe(32),
        PREFIX + "PORT": str(stack.port),
        PREFIX + "DATA_DIR": str(workdir),
        PREFIX + "LOG_FORMAT": "json",
        PREFIX + "EXPORTS_PER_MINUTE": "0",
        PREFIX + "STREAMS_PER_USER": "100000",  # one user follows every export of the load
        PREFIX + "STORAGE": config.storage,
    }
    if config.render is not None:
        stack.env[PREFIX + "RENDER_PROCESSES"] = str(config.render)
    if config.storage == "s3":
        stack.env |= _start_moto(stack, base)
    stack.env |= env or {}
    stack.api = stack.spawn("api", [*VITAE, "api"], stack.env)
    stack.wait_port(stack.api, stack.port)
    wait_for_text(stack.api, "API ready", READY_TIMEOUT)
    settings = settings_from_env(stack.env)
    _, stack.token = asyncio.run(create_user(settings, "bench@vitae.test", "Bench", 5))
    for _ in range(config.workers if workers else 0):
        stack.start_worker()
    return stack


def _start_moto(stack: Stack, base: dict[str, str]) -> dict[str, str]:
    """Moto's S3 server as a process of its own, the bucket created; the service's settings."""
    import boto3  # noqa: PLC0415  (only the S3 shape needs it)

    port = free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    stack.servers["moto"] = moto = stack.spawn("moto", command, base)
    stack.wait_port(moto, port)
    url = f"http://127.0.0.1:{port}"
    boto3.client(
        "s3", endpoint_url=url, aws_access_key_id=S3_KEY, aws_secret_access_key=S3_KEY,
        region_name="us-east-1",
    ).create_bucket(Bucket=S3_BUCKET)  # fmt: skip
    return {
        PREFIX + "S3_ENDPOINT_URL": url,
        PREFIX + "S3_BUCKET": S3_BUCKET,
        PREFIX + "S3_ACCESS_KEY_ID": S3_KEY,
        PREFIX + "S3_SECRET_ACCESS_KEY": S3_KEY,
    }
