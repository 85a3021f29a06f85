"""Faults on real processes and servers: a killed worker, a restarted Redis, a restarted
MongoDB-wire store. Whatever happens, an export ends completed (once) or failed, never stuck."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import httpx
import pytest
from processes import alive, descendants

import probe
from support import (
    MakeUser,
    Services,
    create_resume,
    create_user_token,
    make_settings,
    process_environ,
    running_api,
    running_worker,
    sse_events,
    start_api,
    start_worker,
    wait_for_export,
    wait_for_subscribers,
    wait_until,
)
from vitae.embedded import start_mongo

pytestmark = pytest.mark.slow


def slow_export_environ(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """``env`` with the probe template, whose slow mode gives a render of a few seconds:
    long enough to stop a worker mid-render (a real résumé that slow passes no size limit).
    """
    return {**env, "VITAE_TEMPLATES_DIR": str(probe.templates_with_probe(tmp_path))}


SLOW = probe.slow(2.0)


async def test_killed_worker_mid_render_completes_exactly_once(
    services: Services, tmp_path: Path
) -> None:
    env, cwd, port = process_environ(
        services,
        tmp_path,
        VITAE_QUEUE_NAME="faults",
        VITAE_JOB_HEARTBEAT="1",
        VITAE_SWEEP_INTERVAL="1",
    )
    env = slow_export_environ(env, tmp_path)
    first = start_worker(env, cwd, tmp_path)
    api = start_api(env, cwd, tmp_path)
    second = None
    try:
        headers = {"Authorization": f"Bearer {create_user_token(env, cwd, 'crash@example.com')}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            resume = await create_resume(client, headers, SLOW, template=probe.NAME)
            created = (
                await client.post("/api/exports", json={"resumeId": resume["id"]}, headers=headers)
            ).json()
            rendering = await wait_for_export(client, headers, created["exportId"], {"processing"})
            assert rendering["attempts"] == 1
            helpers = descendants(first.process.pid)  # its fork server and render processes
            assert helpers
            os.kill(first.process.pid, signal.SIGKILL)  # mid-render: no goodbye, no heartbeat
            first.process.wait()
            # None of them goes on compiling for a worker that is gone.
            await wait_until(
                lambda: not any(alive(pid) for pid in helpers),
                "render processes outlived their worker",
            )
            logs = tmp_path / "second"
            logs.mkdir()
            second = start_worker(env, cwd, logs)
            done = await wait_for_export(client, headers, created["exportId"], timeout=90)
    finally:
        for proc in (second, api):
            if proc is not None:
                proc.stop()
    assert done["status"] == "completed", done
    assert done["attempts"] == 2
    # pending → processing → processing (the retry) → completed: one completion, no more.
    assert done["version"] == 4
    files = list((tmp_path / "data" / "files").rglob("*.pdf"))
    assert [f.name for f in files] == [f"{created['exportId']}.pdf"]


async def test_redis_restart_mid_flight(
    services: Services, data_dir: Path, make_user: MakeUser
) -> None:
    settings = make_settings(services, data_dir, VITAE_QUEUE_NAME="restart")
    headers = await make_user()
    async with running_api(settings) as client, running_worker(settings):
        resume = await create_resume(client, headers, {"basics": {"name": "Outage"}})
        me = (await client.get("/api/users/me", headers=headers)).json()
        seen: list[str] = []

        async def watch() -> None:
            async with client.stream("GET", me["eventsUrl"]) as response:
                async for event in sse_events(response):
                    if "data" in event:
                        seen.append(json.loads(event["data"])["status"])
                        if seen[-1] == "completed":
                            return

        watcher = asyncio.create_task(watch())
        await wait_for_subscribers(services.redis.url, f"vitae:users:{me['id']}:exports")
        services.redis.stop()
        try:
            # Accepted while Redis is down: the records wait in the outbox, polling works.
            during = [
                await client.post("/api/exports", json={"resumeId": resume["id"]}, headers=headers)
                for _ in range(3)
            ]
            assert [r.status_code for r in during] == [202, 202, 202], during[-1].text
            polled = await client.get(during[0].json()["statusUrl"], headers=headers)
            assert polled.json()["status"] == "pending"
        finally:
            services.redis.restart()
        # The relay hands them to the queue once Redis answers; a new one goes straight in.
        after = await client.post("/api/exports", json={"resumeId": resume["id"]}, headers=headers)
        assert after.status_code == 202, after.text
        for response in (*during, after):
            done = await wait_for_export(client, headers, response.json()["exportId"])
            assert done["status"] == "completed", done
        # The stream opened before the outage ends cleanly (EventSource then reconnects)
        # or carries on; it never hangs.
        async with asyncio.timeout(20):
            await watcher
        # A reconnecting client gets the final state.
        async with client.stream(
            "GET", f"/api/exports/{after.json()['exportId']}/events", headers=headers
        ) as response:
            final = [json.loads(e["data"])["status"] async for e in sse_events(response)]
    assert not seen or seen[-1] == "completed"
    assert final == ["completed"]


async def test_mongodb_restart_mid_flight(
    services: Services, tmp_path: Path, make_user: MakeUser
) -> None:
    store = start_mongo(path=tmp_path / "mongo.sqlite3")
    try:
        settings = make_settings(
            services, tmp_path, VITAE_MONGODB_URL=store.url, VITAE_QUEUE_NAME="mongo-restart"
        )
        from vitae.cli import create_user  # noqa: PLC0415

        _, token = await create_user(settings, "durable@example.com", "", 0)
        headers = {"Authorization": f"Bearer {token}"}
        async with running_api(settings) as client, running_worker(settings):
            resume = await create_resume(client, headers, {"basics": {"name": "Durable"}})
            first = (
                await client.post("/api/exports", json={"resumeId": resume["id"]}, headers=headers)
            ).json()
            assert (await wait_for_export(client, headers, first["exportId"]))[
                "status"
            ] == "completed"
            store.stop()
            try:
                down = await client.get("/api/exports", headers=headers)
                assert down.status_code == 503, down.text
                ready = await client.get("/ready")
                assert ready.status_code == 503
                assert ready.json()["checks"]["mongodb"] != "ok"
            finally:
                store.restart()
            second = (
                await client.post("/api/exports", json={"resumeId": resume["id"]}, headers=headers)
            ).json()
            done = await wait_for_export(client, headers, second["exportId"])
            assert done["status"] == "completed"
            listed = (await client.get("/api/exports", headers=headers)).json()
        # SQLite kept everything across the restart; nothing is left active.
        assert [e["status"] for e in listed["items"]] == ["completed", "completed"]
    finally:
        store.stop()


async def test_sigterm_lets_a_running_render_finish(services: Services, tmp_path: Path) -> None:
    """A worker asked to stop finishes the job in hand (within its grace period), then exits 0."""
    env, cwd, port = process_environ(services, tmp_path, VITAE_QUEUE_NAME="graceful")
    env = slow_export_environ(env, tmp_path)
    worker = start_worker(env, cwd, tmp_path)
    api = start_api(env, cwd, tmp_path)
    try:
        headers = {"Authorization": f"Bearer {create_user_token(env, cwd, 'calm@example.com')}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            resume = await create_resume(client, headers, SLOW, template=probe.NAME)
            created = (
                await client.post("/api/exports", json={"resumeId": resume["id"]}, headers=headers)
            ).json()
            await wait_for_export(client, headers, created["exportId"], {"processing"})
            assert worker.stop(signal.SIGTERM) == 0
            done = (await client.get(created["statusUrl"], headers=headers)).json()
    finally:
        api.stop()
    assert done["status"] == "completed", done
    assert done["attempts"] == 1
