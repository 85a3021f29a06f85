"""Recovery with real processes: the outbox while Redis is unreachable, workers killed with
many jobs in hand, an API killed mid-request with idempotency keys, a store that stops
answering. Every accepted export ends completed; none is failed by the recovery itself.

The measured recovery times are printed (``-s``) and summarised in docs/reliability.md; the
bounds asserted are generous correctness checks, not benchmarks.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from motor.motor_asyncio import AsyncIOMotorClient
from processes import Child

import probe
from support import (
    Headers,
    Services,
    create_resume,
    create_user_token,
    make_settings,
    process_environ,
    running_api,
    running_worker,
    start_api,
    start_worker,
    wait_for_export,
    wait_until,
)
from vitae.cli import create_user
from vitae.embedded import free_port, start_mongo

pytestmark = pytest.mark.slow


def logs_of(tmp_path: Path, name: str) -> Path:
    """A folder of its own for one process's log (names repeat across restarts)."""
    folder = tmp_path / name
    folder.mkdir()
    return folder


async def statuses(
    client: httpx.AsyncClient, headers: Headers, ids: list[str]
) -> dict[str, dict[str, Any]]:
    """Each export's body, by id (``GET``, as a polling client sees it)."""
    bodies = [(await client.get(f"/api/exports/{i}", headers=headers)).json() for i in ids]
    return {body["id"]: body for body in bodies}


async def wait_all_completed(
    client: httpx.AsyncClient,
    headers: Headers,
    ids: list[str],
    timeout: float = 120.0,  # noqa: ASYNC109
) -> dict[str, dict[str, Any]]:
    """Wait until every export ended; all of them completed."""
    ended: dict[str, dict[str, Any]] = {}
    for export_id in ids:
        ended[export_id] = await wait_for_export(client, headers, export_id, timeout=timeout)
    assert {b["status"] for b in ended.values()} == {"completed"}, [
        (i, b["status"], b.get("error")) for i, b in ended.items() if b["status"] != "completed"
    ]
    return ended


async def post_exports(
    client: httpx.AsyncClient, headers: Headers, resume_ids: list[str]
) -> list[str]:
    """One export per résumé; every one accepted."""
    ids: list[str] = []
    for resume_id in resume_ids:
        response = await client.post("/api/exports", json={"resumeId": resume_id}, headers=headers)
        assert response.status_code == 202, response.text
        ids.append(response.json()["exportId"])
    return ids


# -- 1. the outbox ------------------------------------------------------------------------------


async def test_exports_are_accepted_while_redis_is_unreachable_and_relayed_when_it_answers(
    services: Services, data_dir: Path
) -> None:
    # A database of its own: every worker's relay serves its deployment's whole outbox, and
    # the session's worker (another queue) must not take these records.
    own = {"VITAE_QUEUE_NAME": "outbox", "VITAE_MONGODB_DATABASE": f"outbox_{uuid.uuid4().hex}"}
    unreachable = f"redis://127.0.0.1:{free_port()}/0"
    down = make_settings(services, data_dir, VITAE_REDIS_URL=unreachable, **own)
    up = make_settings(services, data_dir, **own)
    _, token = await create_user(up, "outbox@example.com", "", 0)
    headers = {"Authorization": f"Bearer {token}"}
    async with running_api(down) as client:
        resume = await create_resume(client, headers, {"basics": {"name": "Outbox"}})
        answers: list[httpx.Response] = []
        for key in ("a", "b", "c", "a"):
            started = time.monotonic()
            answers.append(
                await client.post(
                    "/api/exports",
                    json={"resumeId": resume["id"]},
                    headers={**headers, "Idempotency-Key": key},
                )
            )
            # The hand-over gives up on Redis within its bounds: the answer does not wait.
            assert time.monotonic() - started < 5
        assert [a.status_code for a in answers] == [202] * 4, answers[0].text
        ids = [a.json()["exportId"] for a in answers]
        assert ids[3] == ids[0]  # the key's retry is the same export
        # Polling works throughout; the records wait in the outbox.
        listed = (await client.get("/api/exports", headers=headers)).json()
        assert sorted(e["status"] for e in listed["items"]) == ["pending"] * 3
        store: AsyncIOMotorClient[dict[str, Any]] = AsyncIOMotorClient(services.mongo.url)
        try:
            outbox = store[up.mongodb_database]["exports"].find({"enqueuedAt": None})
            assert sorted([str(doc["_id"]) async for doc in outbox]) == sorted(set(ids))
        finally:
            store.close()
        # A worker that reaches Redis relays them and renders them.
        async with running_worker(up):
            done = await wait_all_completed(client, headers, ids[:3], timeout=30)
    assert {body["attempts"] for body in done.values()} == {1}


# -- 2 and 3: dead workers ------------------------------------------------------------------------


def worker_environ(
    services: Services, tmp_path: Path, **extra: str
) -> tuple[dict[str, str], Path, int]:
    """Process settings for the kill tests: one render thread, so that a worker holds many
    jobs at once while the first one renders."""
    return process_environ(
        services,
        tmp_path,
        VITAE_QUEUE_NAME="recovery",
        VITAE_RENDER_THREADS="1",
        # Renders queue for the one process: let them wait, within the job's 30 s.
        VITAE_RENDER_TIMEOUT="5",
        VITAE_RENDER_WAIT="20",
        VITAE_EXPORTS_PER_MINUTE="0",
        # The probe template renders as slowly as asked: a real résumé that slow is refused
        # at the door.
        VITAE_TEMPLATES_DIR=str(probe.templates_with_probe(tmp_path)),
        **extra,
    )


async def held_by_a_killed_worker(
    services: Services,
    tmp_path: Path,
    jobs: int,
    heartbeat: int,
    sweep: int,
    *,
    cancel_rest: bool = False,
) -> None:
    """Worker A takes ``jobs`` exports (they wait in turn for its one render thread) and is
    killed with -9; worker B starts. Every export A held runs again (its second attempt)
    within heartbeat + sweep interval + 5 s of the kill, or of B's start if that came later
    (a worker whose start takes longer than the heartbeat sweeps at once); all complete
    (or, with ``cancel_rest``, are cancelled by their owner once measured).
    """
    env, cwd, port = worker_environ(
        services,
        tmp_path,
        VITAE_JOB_HEARTBEAT=str(heartbeat),
        VITAE_SWEEP_INTERVAL=str(sweep),
        VITAE_WORKER_CONCURRENCY=str(jobs + 10),
    )
    api = start_api(env, cwd, tmp_path)
    first = start_worker(env, cwd, tmp_path)
    second: Child | None = None
    try:
        headers = {"Authorization": f"Bearer {create_user_token(env, cwd, 'held@example.com')}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            # About 1.3 s each on A's one render thread: A holds most of them for a while.
            slow = await create_resume(client, headers, probe.slow(1.3), template=probe.NAME)
            ids = await post_exports(client, headers, [slow["id"]] * jobs)

            async def held() -> list[str]:
                bodies = (await statuses(client, headers, ids)).values()
                return [b["id"] for b in bodies if b["status"] == "processing"]

            async def all_taken() -> bool:
                bodies = (await statuses(client, headers, ids)).values()
                return all(b["status"] != "pending" for b in bodies)

            await wait_until(all_taken, f"worker A did not take all {jobs} exports", 30, 0.1)
            os.kill(first.pid, signal.SIGKILL)
            killed = time.monotonic()
            first.process.wait()
            holding = await held()
            assert len(holding) >= jobs // 2, f"worker A held only {len(holding)} exports"
            # B starts after the kill (a worker's start takes seconds on a busy machine, and
            # A would have rendered much of its work meanwhile); it sweeps A's jobs.
            second = start_worker(env, cwd, logs_of(tmp_path, "second"))
            ready = time.monotonic()

            async def running_again() -> bool:
                bodies = (await statuses(client, headers, holding)).values()
                return all(b["attempts"] >= 2 for b in bodies)

            limit = heartbeat + sweep + 5 + 30  # the promise, plus B's start on 2 busy cores
            await wait_until(
                running_again, "the dead worker's exports were not retried", limit, 0.1
            )
            recovered = time.monotonic() - killed
            print(  # noqa: T201  (the measurement, shown with -s)
                f"\n{len(holding)} jobs held by a killed worker: all running again "
                f"{recovered:.1f} s after the kill ({ready - killed:.1f} s of it starting B)"
            )
            if cancel_rest:
                # The measurement is done; the owner cancels what is left rather than wait for
                # B's one thread (a render past its 30 s timeout would fail, by design).
                for export_id in ids:
                    await client.delete(f"/api/exports/{export_id}", headers=headers)
                done = {i: await wait_for_export(client, headers, i) for i in ids}
            else:
                done = await wait_all_completed(client, headers, ids)
    finally:
        for child in (second, api):
            if child is not None:
                child.stop()
    assert {body["status"] for body in done.values()} <= {"completed", "cancelled"}
    # Each ran again; a render that waited past VITAE_RENDER_WAIT for the one render process
    # is retried once more, which is the render pool's choice, not the sweep's.
    assert all(done[export_id]["attempts"] >= 2 for export_id in holding)
    # A's jobs are stuck ``heartbeat`` s after the kill; B sweeps on start, then every
    # ``sweep`` s; a retried job waits up to 1 s (backoff) and 1 s (scheduling); 2 s of slack.
    assert recovered <= max(heartbeat, ready - killed) + sweep + 5 + 2


async def test_a_worker_killed_holding_many_jobs_is_recovered_in_one_sweep(
    services: Services, tmp_path: Path
) -> None:
    """SAQ's own sweep waited 5 s per job of a dead worker, one job at a time."""
    await held_by_a_killed_worker(services, tmp_path, jobs=8, heartbeat=2, sweep=1)


@pytest.mark.chaos
@pytest.mark.timeout(600)
async def test_a_worker_killed_holding_50_jobs_with_default_timers(
    services: Services, tmp_path: Path
) -> None:
    await held_by_a_killed_worker(
        services, tmp_path, jobs=50, heartbeat=10, sweep=15, cancel_rest=True
    )


async def test_every_worker_killed_mid_batch_then_one_restarted(
    services: Services, tmp_path: Path
) -> None:
    """Kill -9 every worker with a batch in flight, start one: every export completes and
    none is failed, even with the reconciler looking at them early."""
    env, cwd, port = worker_environ(
        services,
        tmp_path,
        VITAE_JOB_HEARTBEAT="2",
        VITAE_SWEEP_INTERVAL="1",
        VITAE_WORKER_CONCURRENCY="6",
        VITAE_RECONCILE_AFTER="1",
    )
    api = start_api(env, cwd, tmp_path)
    workers = [start_worker(env, cwd, logs_of(tmp_path, name)) for name in ("one", "two")]
    survivor: Child | None = None
    try:
        headers = {"Authorization": f"Bearer {create_user_token(env, cwd, 'batch@example.com')}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            slow = await create_resume(client, headers, probe.slow(2.0), template=probe.NAME)
            quick = await create_resume(client, headers, {"basics": {"name": "Quick"}})
            ids = await post_exports(client, headers, [slow["id"], quick["id"]] * 10)

            async def in_flight() -> bool:
                bodies = (await statuses(client, headers, ids)).values()
                return sum(b["status"] == "processing" for b in bodies) >= 4

            await wait_until(in_flight, "the batch did not start", 30, 0.05)
            for worker in workers:
                os.kill(worker.pid, signal.SIGKILL)
            for worker in workers:
                worker.process.wait()
            survivor = start_worker(env, cwd, logs_of(tmp_path, "survivor"))
            done = await wait_all_completed(client, headers, ids)
    finally:
        for child in (survivor, api):
            if child is not None:
                child.stop()
    assert max(body["attempts"] for body in done.values()) <= 3


# -- 4. idempotency across an API crash ------------------------------------------------------------


async def test_api_killed_during_keyed_posts_a_retry_gets_the_same_export(
    services: Services, tmp_path: Path
) -> None:
    env, cwd, port = worker_environ(services, tmp_path)
    worker = start_worker(env, cwd, tmp_path)
    api = start_api(env, cwd, tmp_path)
    try:
        headers = {"Authorization": f"Bearer {create_user_token(env, cwd, 'keys@example.com')}"}
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            resume = await create_resume(client, headers, {"basics": {"name": "Keys"}})
            body = {"resumeId": resume["id"]}
            keys = [f"order-{n}" for n in range(30)]

            async def post(key: str) -> str | None:
                try:
                    response = await client.post(
                        "/api/exports", json=body, headers={**headers, "Idempotency-Key": key}
                    )
                except httpx.HTTPError:
                    return None  # the API died under this request
                return response.json()["exportId"] if response.status_code == 202 else None

            tasks = [asyncio.create_task(post(key)) for key in keys]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            os.kill(api.pid, signal.SIGKILL)
            api.process.wait()
            first = dict(zip(keys, await asyncio.gather(*tasks), strict=True))
            api = start_api(env, cwd, logs_of(tmp_path, "restarted"))
            retried = {key: await post(key) for key in keys}
            ids = [i for i in retried.values() if i is not None]
            listed = (await client.get("/api/exports?limit=100", headers=headers)).json()
            await wait_all_completed(client, headers, ids)
    finally:
        api.stop()
        worker.stop()
    answered = {key: export_id for key, export_id in first.items() if export_id is not None}
    print(f"\n{len(answered)} of {len(keys)} keyed POSTs answered before the kill")  # noqa: T201
    assert answered, "the API was killed before answering any request"
    assert all(export_id is not None for export_id in retried.values())
    assert {key: retried[key] for key in answered} == answered  # the same export on retry
    assert listed["total"] == len(keys) == len(set(ids))  # each key created one export


# -- 5. the store stops answering ---------------------------------------------------------------


async def test_a_store_outage_answers_503_fast_and_creates_nothing_afterwards(
    services: Services, tmp_path: Path
) -> None:
    store = start_mongo(path=tmp_path / "store.sqlite3")
    try:
        settings = make_settings(
            services,
            tmp_path,
            VITAE_MONGODB_URL=store.url,
            VITAE_QUEUE_NAME="store-outage",
            VITAE_EXPORTS_PER_MINUTE="0",
        )
        _, token = await create_user(settings, "outage@example.com", "", 0)
        headers = {"Authorization": f"Bearer {token}"}
        async with running_api(settings) as client, running_worker(settings) as worker:
            await wait_until(lambda: "deps" in worker.context, "the worker did not start", 30)
            resume = await create_resume(client, headers, {"basics": {"name": "Outage"}})
            accepted: list[str] = []
            refused: list[float] = []
            stop = asyncio.Event()

            async def keep_posting() -> None:
                while not stop.is_set():
                    started = time.monotonic()
                    response = await client.post(
                        "/api/exports", json={"resumeId": resume["id"]}, headers=headers
                    )
                    if response.status_code == 202:
                        accepted.append(response.json()["exportId"])
                    else:
                        assert response.status_code == 503, response.text
                        assert response.headers["retry-after"]
                        refused.append(time.monotonic() - started)

            posters = [asyncio.create_task(keep_posting()) for _ in range(4)]
            await wait_until(lambda: len(accepted) >= 4, "no export accepted before the outage")
            # The store stops answering (as a hung or partitioned server does): requests in
            # flight, some mid-write, wait on it.
            store.process.send_signal(signal.SIGSTOP)
            try:
                await wait_until(lambda: len(refused) >= 8, "requests were not refused", 30)
            finally:
                store.process.send_signal(signal.SIGCONT)
            stop.set()
            await asyncio.gather(*posters)
            await wait_all_completed(client, headers, accepted, timeout=60)
            # Writes the store took in while it was stopped, answered 503, are withdrawn.
            records: AsyncIOMotorClient[dict[str, Any]] = AsyncIOMotorClient(store.url)
            try:
                exports = records["vitae_test"]["exports"]

                async def only_accepted() -> bool:
                    return await exports.count_documents({}) == len(accepted)

                await wait_until(only_accepted, "exports exist that were answered 503", 15)
                stored = sorted([str(doc["_id"]) async for doc in exports.find({}, {"_id": 1})])
            finally:
                records.close()
    finally:
        store.stop()
    print(f"\nstore outage: {len(refused)} refused, slowest {max(refused):.1f} s")  # noqa: T201
    # Most refusals come at the store timeout. Under load a few wait longer for one of Motor's
    # threads (abandoned operations hold theirs until the socket times out); none may come
    # after a client's usual 10 s.
    assert statistics.median(refused) <= settings.mongodb_timeout + 1
    assert max(refused) <= 10
    assert stored == sorted(accepted)
