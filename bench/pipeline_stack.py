# ruff: noqa: INP001  (a helper of bench/pipeline.py, not a package)
"""Vitae as ``vitae dev`` runs it, as real processes on loopback: embedded Valkey (append-only
file, as in dev) and the MongoDB-wire store (SQLite file) from ``vitae.embedded``, optionally
moto's S3 server, ``python -m vitae api`` and one or more ``python -m vitae worker``. Logs go
to files as JSON; the export rate limit is off for the run.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pipeline_common import BenchError
from processes import VITAE, Child, Children, wait_for_text

from vitae.cli import create_user
from vitae.embedded import free_port, start_mongo, start_redis, wait_for_port
from vitae.settings import PREFIX, settings_from_env

type StorageKind = Literal["local", "s3"]
S3_BUCKET = "vitae-bench"
S3_KEY = "testing"
READY_TIMEOUT = 30.0
MONGO_PROXY = Path(__file__).with_name("pipeline_mongoproxy.py")


@dataclass(frozen=True, slots=True)
class StackConfig:
    """One shape of the service to measure."""

    workers: int
    storage: StorageKind
    concurrency: int | None = None
    render_threads: int | None = None

    @property
    def label(self) -> str:
        """A short name for tables and the plot."""
        name = f"{self.storage}, {self.workers} worker{'s' if self.workers > 1 else ''}"
        knobs = []
        if self.concurrency is not None:
            knobs.append(f"concurrency {self.concurrency}")
        if self.render_threads is not None:
            knobs.append(f"{self.render_threads} render thread{'s' * (self.render_threads > 1)}")
        return f"{name} ({', '.join(knobs)})" if knobs else name


@dataclass
class Stack:
    """A running service: its processes by role, its port and a user's bearer token."""

    config: StackConfig
    workdir: Path
    port: int
    token: str
    servers: dict[str, Child] = field(default_factory=dict[str, Child])
    api: Child | None = None
    workers: list[Child] = field(default_factory=list[Child])
    mongo_counts: Path | None = None
    _redis: Any = None

    def pids(self) -> dict[str, int]:
        """Every process whose CPU is measured: Vitae's own and the data servers."""
        pids = {"api": self.api.pid} if self.api else {}
        pids |= {f"worker-{i + 1}": w.pid for i, w in enumerate(self.workers)}
        pids |= {name: child.pid for name, child in self.servers.items()}
        return pids

    def counters(self) -> dict[str, float]:
        """Commands served so far: Valkey's ``INFO commandstats`` (``redis:<command>``) and,
        behind the counting proxy (``--count-store``), MongoDB commands (``mongo:<command>``).
        """
        import redis  # noqa: PLC0415

        if self._redis is None:
            self._redis = redis.Redis(port=self.servers["valkey"].port)
        stats: dict[str, Any] = self._redis.info("commandstats")  # pyright: ignore[reportAssignmentType]
        counts = {
            "redis:" + name.removeprefix("cmdstat_"): float(value["calls"])
            for name, value in stats.items()
        }
        if self.mongo_counts is not None and self.mongo_counts.exists():
            seen: dict[str, int] = json.loads(self.mongo_counts.read_text(encoding="utf-8"))
            counts |= {"mongo:" + name: float(value) for name, value in seen.items()}
        return counts

    def close(self) -> None:
        """Close the counters' connection."""
        if self._redis is not None:
            self._redis.close()

    def check_alive(self) -> None:
        """Fail with the log's tail if a process of the stack died."""
        for child in [*self.servers.values(), *([self.api] if self.api else []), *self.workers]:
            if not child.alive():
                raise BenchError(f"{child.name} exited during the run:\n{child.tail()}")


def _start_moto(children: Children, workdir: Path, env: dict[str, str]) -> tuple[Child, int]:
    """Moto's S3 server as a process of its own, with the bucket created."""
    import boto3  # noqa: PLC0415  (only the S3 configuration needs it)

    port = free_port()
    child = children.spawn(
        "moto",
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        cwd=workdir,
        log=workdir / "moto.log",
    )
    _wait_for_port(child, port)
    client = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id=S3_KEY,
        aws_secret_access_key=S3_KEY,
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=S3_BUCKET)
    return child, port


def _wait_for_port(child: Child, port: int) -> None:
    """``vitae.embedded.wait_for_port``, failing as a benchmark error with the log's end."""
    try:
        wait_for_port(port, child.process, timeout=READY_TIMEOUT)
    except (RuntimeError, TimeoutError) as error:
        raise BenchError(f"{child.name}: {error}\n{child.tail()}") from None


def _start_mongo_proxy(children: Children, workdir: Path, target: int) -> tuple[Child, int, Path]:
    """bench/pipeline_mongoproxy.py in front of the store; its port and its counts file."""
    port, counts = free_port(), workdir / "mongo-commands.json"
    child = children.spawn(
        "mongo proxy",
        [sys.executable, str(MONGO_PROXY), str(port), str(target), str(counts)],
        env=dict(os.environ),
        cwd=workdir,
        log=workdir / "mongo-proxy.log",
    )
    _wait_for_port(child, port)
    return child, port, counts


def start_stack(
    config: StackConfig, children: Children, workdir: Path, *, count_mongo: bool = False
) -> Stack:
    """Start every process of one configuration and a user with credits (no watermark);
    with ``count_mongo``, Vitae reaches the store through a proxy that counts its commands.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    base = {k: v for k, v in os.environ.items() if not k.startswith(PREFIX)}
    base["PYTHONUNBUFFERED"] = "1"
    redis = children.add(Child.of_server(start_redis(data_dir=workdir / "valkey")))
    mongo = children.add(Child.of_server(start_mongo(path=workdir / "mongo.sqlite3")))
    servers = {"valkey": redis, "mongoeco": mongo}
    mongo_port, mongo_counts = mongo.port, None
    if count_mongo:
        proxy, mongo_port, mongo_counts = _start_mongo_proxy(children, workdir, mongo.port)
        servers["mongo proxy"] = proxy
    port = free_port()
    env = base | {
        PREFIX + "REDIS_URL": f"redis://127.0.0.1:{redis.port}/0",
        PREFIX + "MONGODB_URL": f"mongodb://127.0.0.1:{mongo_port}/?directConnection=true",
        PREFIX + "JWT_SECRET": secrets.token_urlsafe(32),
        PREFIX + "PORT": str(port),
        PREFIX + "DATA_DIR": str(workdir),
        PREFIX + "LOG_FORMAT": "json",
        PREFIX + "EXPORTS_PER_MINUTE": "0",
        PREFIX + "STORAGE": config.storage,
    }
    if config.concurrency is not None:
        env[PREFIX + "WORKER_CONCURRENCY"] = str(config.concurrency)
    if config.render_threads is not None:
        env[PREFIX + "RENDER_THREADS"] = str(config.render_threads)
    if config.storage == "s3":
        moto, moto_port = _start_moto(children, workdir, base)
        servers["moto"] = moto
        env |= {
            PREFIX + "S3_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}",
            PREFIX + "S3_BUCKET": S3_BUCKET,
            PREFIX + "S3_ACCESS_KEY_ID": S3_KEY,
            PREFIX + "S3_SECRET_ACCESS_KEY": S3_KEY,
        }
    api = children.spawn("api", [*VITAE, "api"], env=env, cwd=workdir, log=workdir / "api.log")
    _wait_for_port(api, port)
    wait_for_text(api, "API ready", READY_TIMEOUT)
    _, token = asyncio.run(
        create_user(settings_from_env(env), "bench@vitae.test", "Bench", credit_balance=5)
    )
    workers = [
        children.spawn(
            f"worker-{i + 1}",
            [*VITAE, "worker"],
            env=env,
            cwd=workdir,
            log=workdir / f"worker-{i + 1}.log",
        )
        for i in range(config.workers)
    ]
    for worker in workers:
        wait_for_text(worker, "worker ready", READY_TIMEOUT)
    return Stack(config, workdir, port, token, servers, api, workers, mongo_counts)
