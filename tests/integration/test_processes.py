"""The service as separate OS processes (`vitae api`, `vitae worker`, `vitae users create`,
`vitae dev`), driven over HTTP only, as an operator would run it."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from processes import STOP_TIMEOUT, VITAE, Child, alive, descendants, spawn_vitae, wait_for_text
from pypdf import PdfReader

from support import (
    JWT_SECRET,
    Services,
    bare_environ,
    create_resume,
    create_user_token,
    running_receiver,
    service_environ,
    start_api,
    start_worker,
    wait_for_export,
    wait_until,
)
from vitae.embedded import free_port, wait_for_port
from vitae.settings import read_env_file
from vitae.webhooks.signing import verify


def accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None, url
    return port


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


async def export_once(
    client: httpx.AsyncClient, headers: dict[str, str], resume: dict[str, Any]
) -> tuple[dict[str, Any], bytes]:
    """Create a résumé, export it, wait until done (30 s), and download the file."""
    resume_id = (await create_resume(client, headers, resume, title="CV"))["id"]
    response = await client.post("/api/exports", json={"resumeId": resume_id}, headers=headers)
    assert response.status_code == 202, response.text
    body = await wait_for_export(client, headers, response.json()["exportId"])
    assert body["status"] == "completed", body

    pdf = await client.get(body["fileUrl"])
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    assert len(pdf.content) == body["fileSize"]
    return body, pdf.content


# What each process logs once it has shut down in good order.
SHUTDOWN_LOG = {"api": "Application shutdown complete", "worker": "shutting down"}


@dataclasses.dataclass
class Stack:
    """``vitae api`` and ``vitae worker`` as separate processes."""

    base_url: str
    env: dict[str, str]
    cwd: Path


@pytest.fixture
def stack(services: Services, tmp_path: Path) -> Iterator[Stack]:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    port = free_port()
    env = service_environ(services, tmp_path, port)
    procs: list[Child] = []
    try:
        procs.append(start_worker(env, cwd, tmp_path))
        procs.append(start_api(env, cwd, tmp_path))
        yield Stack(f"http://127.0.0.1:{port}", env, cwd)
    finally:
        for proc in procs:
            proc.stop()  # SIGTERM; fails the test if it had to kill
    # Both shut down in good order on SIGTERM (their exit status: see the test below).
    for proc in procs:
        assert SHUTDOWN_LOG[proc.name] in proc.text(), proc.tail()
    assert not accepts_connections(port)


@pytest.mark.slow
async def test_api_and_worker_processes_export_a_watermarked_pdf(
    stack: Stack, sample_resume: dict[str, Any]
) -> None:
    token = create_user_token(stack.env, stack.cwd, "someone@example.com", "--credits", "0")
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as client:
        me = await client.get("/api/users/me", headers=headers)
        assert me.status_code == 200, me.text
        assert me.json()["email"] == "someone@example.com"
        assert me.json()["creditBalance"] == 0

        body, pdf = await export_once(client, headers, sample_resume)
        assert body["watermarked"] is True
        assert body["fileUrl"].startswith(f"{stack.base_url}/files/")
        text = pdf_text(pdf)
        assert "Richard Hendriks" in text
        assert "CEO/President" in text


@pytest.mark.slow
@pytest.mark.parametrize("role", ["worker", "api"])
def test_sigterm_is_a_graceful_shutdown_with_status_0(
    services: Services, tmp_path: Path, role: str
) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    env = service_environ(services, tmp_path, free_port())
    proc = start_api(env, cwd, tmp_path) if role == "api" else start_worker(env, cwd, tmp_path)
    code = proc.stop(signal.SIGTERM)
    log = proc.text()
    assert SHUTDOWN_LOG[role] in log, log
    assert "Traceback" not in log, log
    assert code == 0, proc.tail()


@pytest.mark.parametrize("command", ["api", "worker"])
def test_service_commands_refuse_to_start_without_their_urls(tmp_path: Path, command: str) -> None:
    env = bare_environ(
        VITAE_DATA_DIR=str(tmp_path / "data"),
        VITAE_JWT_SECRET=JWT_SECRET,
        VITAE_PORT=str(free_port()),
    )
    result = subprocess.run(  # noqa: S603  (our own command line)
        [*VITAE, command],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "VITAE_REDIS_URL" in result.stderr
    assert "VITAE_MONGODB_URL" in result.stderr
    assert "Traceback" not in result.stderr


def dev_environ(data_dir: Path, port: int) -> dict[str, str]:
    return bare_environ(VITAE_DATA_DIR=str(data_dir), VITAE_PORT=str(port))


@dataclasses.dataclass
class Dev:
    """A running ``vitae dev`` and what it started."""

    proc: Child
    port: int
    redis_port: int
    mongo_port: int
    children: list[int]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_dev(data_dir: Path, cwd: Path, logs: Path, name: str) -> Dev:
    port = free_port()
    proc = spawn_vitae(name, ["dev"], env=dev_environ(data_dir, port), cwd=cwd, logs=logs)
    try:
        wait_for_port(port, proc.process, timeout=45)
        wait_for_text(proc, "Vitae is up")
    except (RuntimeError, TimeoutError) as error:
        proc.stop(signal.SIGINT)
        pytest.fail(f"vitae dev did not start: {error}\n{proc.tail()}")
    # The state file that commands run from the checkout read to reach this instance.
    state = read_env_file(data_dir / "dev.env")
    redis_port = port_of(state["VITAE_REDIS_URL"])
    mongo_port = port_of(state["VITAE_MONGODB_URL"])
    log = proc.text()
    assert "started embedded Valkey" in log, log
    # For a person: the links last, once the API and the worker answer; no library reprs.
    assert log.index("worker ready") < log.index("API docs: http") < log.index("Vitae is up")
    assert log.index("Application startup complete") < log.index("API docs: http")
    assert "RedisQueue<" not in log
    assert "started embedded MongoDB-wire store" in log, log
    assert accepts_connections(redis_port)
    assert accepts_connections(mongo_port)
    children = descendants(proc.process.pid)
    assert len(children) >= 4, children  # Valkey, the MongoDB-wire store, the API, a worker
    return Dev(proc, port, redis_port, mongo_port, children)


def stop_dev(dev: Dev, data_dir: Path, *, group: bool) -> None:
    """Interrupt ``vitae dev``: it exits 0 in time and leaves nothing running behind."""
    code = dev.proc.stop(signal.SIGINT, group=group, timeout=STOP_TIMEOUT)
    assert code == 0, dev.proc.tail()
    for name, port in (("valkey", dev.redis_port), ("mongo", dev.mongo_port), ("api", dev.port)):
        assert not accepts_connections(port), f"{name} still listens on {port}"
    assert not [pid for pid in dev.children if alive(pid)], dev.proc.tail()
    assert not (data_dir / "dev.env").exists()


@pytest.mark.slow
async def test_dev_runs_everything_on_a_bare_config_and_keeps_data(
    tmp_path: Path, sample_resume: dict[str, Any]
) -> None:
    cwd = tmp_path / "checkout"
    cwd.mkdir()
    data_dir = tmp_path / "data"

    dev = start_dev(data_dir, cwd, tmp_path, "dev")
    try:
        # A command run from the checkout, with no URL, finds the running instance.
        token = create_user_token(dev_environ(data_dir, dev.port), cwd, "dev@example.com")
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=dev.base_url, timeout=30) as client:
            health = await client.get("/health")
            assert health.status_code == 200, health.text
            me = await client.get("/api/users/me", headers=headers)
            assert me.status_code == 200, me.text
            assert me.json()["email"] == "dev@example.com"
            body, pdf = await export_once(client, headers, sample_resume)
            assert body["watermarked"] is True
            assert "Richard Hendriks" in pdf_text(pdf)
    finally:
        stop_dev(dev, data_dir, group=False)  # SIGINT to the launcher alone

    # Data survives a restart: the same data dir, the same signing secret, the same user.
    again = start_dev(data_dir, cwd, tmp_path, "dev-again")
    try:
        async with httpx.AsyncClient(base_url=again.base_url, timeout=30) as client:
            me = await client.get("/api/users/me", headers=headers)
            assert me.status_code == 200, me.text
            assert me.json()["email"] == "dev@example.com"
    finally:
        stop_dev(again, data_dir, group=True)  # Ctrl-C in a terminal: the whole group


@pytest.mark.slow
async def test_a_killed_dev_leaves_nothing_running(tmp_path: Path) -> None:
    cwd = tmp_path / "checkout"
    cwd.mkdir()
    dev = start_dev(tmp_path / "data", cwd, tmp_path, "dev-killed")
    dev.proc.process.kill()  # SIGKILL: no handler of the launcher runs
    dev.proc.process.wait()
    ports = {"valkey": dev.redis_port, "mongo": dev.mongo_port, "api": dev.port}

    def left() -> str:
        running = [pid for pid in dev.children if alive(pid)]
        listening = [name for name, port in ports.items() if accepts_connections(port)]
        return (
            f"still running: {running}; still listening: {listening}"
            if running or listening
            else ""
        )

    await wait_until(lambda: not left(), lambda: f"{left()}\n{dev.proc.tail()}", timeout=15)


@pytest.mark.slow
async def test_two_api_replicas_share_live_events(services: Services, tmp_path: Path) -> None:
    """A client streaming from one replica sees, live, an export requested through the other
    and run by a separate worker: events travel over Redis, not inside a process."""
    from support import sse_events, wait_for_subscribers  # noqa: PLC0415

    cwd = tmp_path / "cwd"
    cwd.mkdir()
    ports = [free_port(), free_port()]
    envs = [service_environ(services, tmp_path, port) for port in ports]
    procs: list[Child] = []
    try:
        procs.append(start_worker(envs[0], cwd, tmp_path))
        for index, env in enumerate(envs):
            logs = tmp_path / f"replica-{index}"
            logs.mkdir()
            procs.append(start_api(env, cwd, logs))
        token = create_user_token(envs[0], cwd, "replicas@example.com")
        headers = {"Authorization": f"Bearer {token}"}
        one, two = (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) for port in ports
        )
        async with one, two:
            dashboard = (await one.get("/api/users/me", headers=headers)).json()["eventsUrl"]
            seen: list[tuple[str, str]] = []

            async def watch() -> None:
                async with one.stream("GET", dashboard) as response:
                    async for event in sse_events(response):
                        data = json.loads(event["data"])
                        seen.append((event["event"], data.get("stage") or data["status"]))
                        if data["status"] == "completed":
                            return

            watcher = asyncio.create_task(watch())
            me = (await one.get("/api/users/me", headers=headers)).json()
            await wait_for_subscribers(services.redis.url, f"vitae:users:{me['id']}:exports")
            resume = await two.post(
                "/api/resumes",
                json={"title": "CV", "content": {"basics": {"name": "Two Replicas"}}},
                headers=headers,
            )
            created = await two.post(
                "/api/exports", json={"resumeId": resume.json()["id"]}, headers=headers
            )
            assert created.status_code == 202, created.text
            async with asyncio.timeout(30):
                await watcher
            # The per-export stream, opened on replica one after the fact, ends at once with
            # the final state, the same one replica two's polling answer gives.
            url = created.json()["eventsUrl"]
            async with one.stream("GET", url) as response:
                final = [json.loads(e["data"]) async for e in sse_events(response)]
            polled = (await two.get(created.headers["location"], headers=headers)).json()
    finally:
        for proc in reversed(procs):
            proc.stop()
    assert seen[0] == ("status", "pending")
    assert ("progress", "rendering") in seen
    assert seen[-1] == ("status", "completed")
    assert [(f["status"], f["version"]) for f in final] == [(polled["status"], polled["version"])]


@pytest.mark.slow
async def test_logs_are_structured_and_leak_nothing(stack: Stack, tmp_path: Path) -> None:
    token = create_user_token(stack.env, stack.cwd, "quiet@example.com")
    headers = {"Authorization": f"Bearer {token}"}
    secret_line = "Confidential: salary expectations 250k"
    resume = {"basics": {"name": "Private Person", "summary": secret_line}}
    with running_receiver() as receiver:
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as client:
            hook = await client.post("/api/webhooks", json={"url": receiver.url}, headers=headers)
            assert hook.status_code == 201, hook.text
            body, _ = await export_once(client, headers, resume)
            [delivered] = await receiver.wait_for(1)
            # The worker process made the call, signed with the endpoint's secret.
            assert verify(
                hook.json()["secret"],
                delivered.headers["vitae-signature"],
                delivered.body,
                now=time.time(),
            )
            assert json.loads(delivered.body)["data"]["id"] == body["id"]
            me = (await client.get("/api/users/me", headers=headers)).json()
            created_stream = me["eventsUrl"]
            stream_token = created_stream.split("token=", 1)[1]
            await client.get(
                created_stream.replace("/api/exports/events", "/api/exports/nope/events")
            )
            await client.get(body["fileUrl"])
    signature = body["fileUrl"].split("signature=", 1)[1]
    api_log = (tmp_path / "api.log").read_text(encoding="utf-8")
    worker_log = (tmp_path / "worker.log").read_text(encoding="utf-8")
    for text in (api_log, worker_log):
        for secret in (
            token,
            stream_token,
            signature,
            secret_line,
            "Private Person",
            hook.json()["secret"],
            delivered.headers["vitae-signature"],
        ):
            assert secret not in text
    api_lines = [json.loads(line) for line in api_log.splitlines() if line.startswith("{")]
    requests = [line for line in api_lines if line["event"] == "request"]
    assert requests
    assert all(line["request_id"] and "?" not in line["path"] for line in requests)
    assert any(line.get("user_id") for line in requests), requests[:3]
    worker_lines = [json.loads(line) for line in worker_log.splitlines() if line.startswith("{")]
    rendered = [line for line in worker_lines if line.get("export_id") == body["id"]]
    assert rendered
    assert all(line["attempt"] == 1 for line in rendered)
