"""Helpers shared by the tests: where the session's servers listen, the API and a worker in
this event loop, ``vitae`` as real processes (the harness of the process tests), a webhook
receiver on loopback, and waiting on a condition with a deadline instead of sleeping."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import os
import secrets
import subprocess
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator
from contextlib import asynccontextmanager, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from processes import VITAE, Child, spawn_vitae, wait_for_text
from saq import Worker

from vitae.app import create_app
from vitae.embedded import Server, free_port, wait_for_port
from vitae.settings import Settings, settings_from_env
from vitae.worker import create_delivery_worker, create_worker

type Headers = dict[str, str]
type MakeUser = Callable[..., Awaitable[Headers]]  # the ``make_user`` fixture

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "jsonresume-sample.json"
ARTIFACTS = ROOT / "test-artifacts"
TERMINAL = {"completed", "failed", "cancelled"}
# Drawn per run (a secret written in the project's files is refused by `vitae api`), through
# the environment so that every import of this module agrees.
JWT_SECRET = os.environ.setdefault("TESTS_JWT_SECRET", secrets.token_hex(32))


async def wait_until(
    condition: Callable[[], bool | Awaitable[bool]],
    what: str | Callable[[], str],
    timeout: float = 10.0,  # noqa: ASYNC109  (a deadline for polling, not a cancel scope)
    interval: float = 0.02,
) -> None:
    """Poll ``condition`` (a plain or async callable) until it holds; fail with ``what`` once
    ``timeout`` seconds have passed (``what`` may be a callable, to describe the last state).
    The one way tests wait: never a bare sleep."""
    deadline = time.monotonic() + timeout
    while True:
        held = condition()
        if inspect.isawaitable(held):
            held = await held
        if held:
            return
        if time.monotonic() >= deadline:
            pytest.fail(f"{what() if callable(what) else what} (waited {timeout} s)")
        await asyncio.sleep(interval)


# -- the session's servers ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Services:
    """Where the session's servers listen."""

    redis: Server
    mongo: Server
    s3_endpoint: str


def env_for(services: Services, data_dir: Path, **extra: str) -> dict[str, str]:
    """The ``VITAE_*`` environment that points a process at the session's servers."""
    return {
        "VITAE_REDIS_URL": services.redis.url,
        "VITAE_MONGODB_URL": services.mongo.url,
        "VITAE_MONGODB_DATABASE": "vitae_test",
        "VITAE_JWT_SECRET": JWT_SECRET,
        "VITAE_DATA_DIR": str(data_dir),
        "VITAE_S3_ENDPOINT_URL": services.s3_endpoint,
        "VITAE_S3_ACCESS_KEY_ID": "testing",
        "VITAE_S3_SECRET_ACCESS_KEY": "testing",
        "VITAE_SWEEP_INTERVAL": "2",
        "VITAE_JOB_HEARTBEAT": "3",
        # Every render counts as slow, so that its progress events are seen.
        "VITAE_PROGRESS_AFTER": "0",
        **extra,
    }


def make_settings(services: Services, data_dir: Path, **extra: str) -> Settings:
    """Settings for an in-process API or worker."""
    return settings_from_env(env_for(services, data_dir, **extra))


# -- the API and a worker in this event loop ---------------------------------------------------


@asynccontextmanager
async def running_api(settings: Settings) -> AsyncGenerator[httpx.AsyncClient]:
    """The API on a real uvicorn server on a free port in this event loop, and a client of it.

    A real server (rather than an in-memory transport) keeps this loop free while a request
    is in flight, so an in-process worker goes on working meanwhile, as it would in production.
    """
    port = free_port()
    settings = dataclasses.replace(settings, port=port, public_url=f"http://127.0.0.1:{port}")
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())

    def started() -> bool:
        assert not task.done(), "the API server exited during start-up"
        return server.started

    await wait_until(started, "the API server did not start", timeout=20)
    try:
        async with httpx.AsyncClient(base_url=settings.public_url, timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def running_worker(
    settings: Settings, *, renders: bool = True
) -> AsyncGenerator[Worker[Any]]:
    """The worker as ``vitae worker`` runs it, in this event loop: a real SAQ worker on the
    settings' queue and the webhook delivery worker beside it (alone, with ``renders=False``).
    """
    deliveries = create_delivery_worker(settings)
    workers = [create_worker(settings), deliveries] if renders else [deliveries]
    for worker in workers:
        await worker.queue.connect()
    tasks = [asyncio.create_task(worker.start()) for worker in workers]
    try:
        yield workers[0]
    finally:
        for worker, task in zip(workers, tasks, strict=True):
            await worker.stop()
            await task
            await worker.queue.disconnect()


async def create_resume(
    client: httpx.AsyncClient, headers: Headers, content: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    """POST a résumé and return its body."""
    response = await client.post(
        "/api/resumes", json={"title": "My résumé", "content": content, **fields}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()


async def wait_for_export(
    client: httpx.AsyncClient,
    headers: Headers,
    export_id: str,
    statuses: set[str] = TERMINAL,
    timeout: float = 30.0,  # noqa: ASYNC109  (a deadline for polling, not a cancel scope)
) -> dict[str, Any]:
    """Poll ``GET /api/exports/{id}`` (as the product story's client does) until a status."""
    body: dict[str, Any] = {}

    async def reached() -> bool:
        nonlocal body
        response = await client.get(f"/api/exports/{export_id}", headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        return body["status"] in statuses

    await wait_until(reached, lambda: f"export stuck at {body}", timeout, 0.05)
    return body


async def sse_events(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """Parse a ``text/event-stream`` body into events, as a browser's EventSource does;
    comment lines are kept under ``comment`` so heartbeats can be seen."""
    event: dict[str, Any] = {}
    async for line in response.aiter_lines():
        if not line:
            if event:
                yield event
            event = {}
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if not field:
            event["comment"] = value
        elif field == "data" and "data" in event:
            event["data"] += "\n" + value
        else:
            event[field] = value
    if event:
        yield event


async def wait_for_subscribers(redis_url: str, channel: str, count: int = 1) -> None:
    """Block until ``count`` clients subscribe to ``channel`` (an open stream), 10 s at most."""
    from redis.asyncio import Redis  # noqa: PLC0415

    redis = Redis.from_url(redis_url)
    try:

        async def subscribed() -> bool:
            return dict(await redis.pubsub_numsub(channel)).get(channel.encode(), 0) >= count

        await wait_until(subscribed, f"fewer than {count} subscribed to {channel}")
    finally:
        await redis.aclose()


# -- ``vitae`` as real processes (the harness itself is bench/processes.py) -----------------


def bare_environ(**extra: str) -> dict[str, str]:
    """The test's environment without any ``VITAE_*`` variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VITAE_")}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


def run_command(
    command: list[str], env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run a command to its end (``vitae …``, or bash with the README's blocks), its output
    captured as text; the caller checks its status."""
    return subprocess.run(  # noqa: S603  (our own command lines)
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


def create_user_token(env: dict[str, str], cwd: Path, email: str, *more: str) -> str:
    """Run ``vitae users create``; the last line of its output is the bearer token."""
    result = run_command([*VITAE, "users", "create", "--email", email, *more], env, cwd)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines, result.stderr
    assert email in result.stdout
    token = lines[-1].strip()
    assert token.count(".") == 2, result.stdout  # a JWT
    return token


def service_environ(services: Services, tmp_path: Path, port: int) -> dict[str, str]:
    """``VITAE_*`` pointing at the session's servers, with this module's database and queue."""
    return bare_environ(
        **env_for(
            services,
            tmp_path / "data",
            VITAE_PORT=str(port),
            VITAE_MONGODB_DATABASE="vitae_proc",
            VITAE_QUEUE_NAME="proc",
            VITAE_WEBHOOK_ALLOW_HTTP="true",
            VITAE_WEBHOOK_ALLOW_NETWORKS="127.0.0.0/8",
            # Every line a request or a job can write, for the test that no secret leaks.
            VITAE_LOG_LEVEL="debug",
        )
    )


def process_environ(
    services: Services, tmp_path: Path, **extra: str
) -> tuple[dict[str, str], Path, int]:
    """For ``vitae`` processes of one test: ``service_environ`` plus ``extra``, an empty
    working directory (no ``.env`` of the checkout is read) and the API's free port."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    port = free_port()
    return {**service_environ(services, tmp_path, port), **extra}, cwd, port


def start_api(env: dict[str, str], cwd: Path, logs: Path) -> Child:
    """``vitae api``, once its port accepts connections."""
    api = spawn_vitae("api", ["api"], env=env, cwd=cwd, logs=logs)
    try:
        wait_for_port(int(env["VITAE_PORT"]), api.process, timeout=30)
    except (RuntimeError, TimeoutError) as error:
        api.stop()
        pytest.fail(f"vitae api did not start: {error}\n{api.tail()}")
    return api


def start_worker(env: dict[str, str], cwd: Path, logs: Path) -> Child:
    """``vitae worker``, once it logs that it is ready."""
    worker = spawn_vitae("worker", ["worker"], env=env, cwd=cwd, logs=logs)
    wait_for_text(worker, "worker ready")
    return worker


# -- a webhook receiver -------------------------------------------------------------------------


@dataclasses.dataclass
class Received:
    """One request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclasses.dataclass
class Receiver:
    """``answers`` are status codes used in turn (then 200); ``hold`` blocks every answer
    until it is set; ``delay`` sleeps before answering.
    """

    url: str
    answers: list[int] = dataclasses.field(default_factory=list[int])
    delay: float = 0.0
    hold: threading.Event = dataclasses.field(default_factory=threading.Event)
    requests: list[Received] = dataclasses.field(default_factory=list[Received])
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def next_answer(self) -> int:
        """The scripted status code to answer next."""
        with self.lock:
            return self.answers.pop(0) if self.answers else 200

    async def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:  # noqa: ASYNC109
        """Wait (without blocking the event loop) until ``count`` requests came."""
        await wait_until(
            lambda: len(self.requests) >= count,
            lambda: f"{len(self.requests)} of {count} requests came",
            timeout,
        )
        return list(self.requests)


@contextmanager
def running_receiver() -> Generator[Receiver]:
    """Start the receiver on a free loopback port; stop it afterwards."""
    state: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            receiver = state[0]
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            receiver.requests.append(
                Received(
                    self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.time()
                )
            )
            receiver.hold.wait(30)
            if receiver.delay:
                time.sleep(receiver.delay)
            status = receiver.next_answer()
            self.send_response(status)
            if status == 429:
                self.send_header("Retry-After", "1")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    host, port = server.server_address[:2]
    receiver = Receiver(url=f"http://{host}:{port}/hooks")
    receiver.hold.set()
    state.append(receiver)
    with serving(server, receiver.hold):
        yield receiver


@contextmanager
def serving(server: ThreadingHTTPServer, release: threading.Event) -> Generator[None]:
    """Serve in a thread; afterwards set ``release`` (so that no handler stays blocked on
    it), then stop the server."""
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        release.set()
        server.shutdown()
        server.server_close()
