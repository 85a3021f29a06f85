"""A burst: 1,000 exports submitted at once to two worker processes. Every one completes,
once, with its file; none is lost. Long, so it runs with `just chaos`, not `just test`."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from motor.motor_asyncio import AsyncIOMotorClient

from support import (
    Services,
    create_user_token,
    process_environ,
    start_api,
    start_worker,
    wait_until,
)

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(900)]

BURST = 1000


async def test_a_burst_of_exports_to_two_workers(services: Services, tmp_path: Path) -> None:
    env, cwd, port = process_environ(
        services,
        tmp_path,
        VITAE_QUEUE_NAME="burst",
        VITAE_EXPORTS_PER_MINUTE="0",
        VITAE_LOG_FORMAT="json",
    )
    procs = []
    for index in range(2):
        logs = tmp_path / f"worker-{index}"
        logs.mkdir()
        procs.append(start_worker(env, cwd, logs))
    procs.append(start_api(env, cwd, tmp_path))
    try:
        headers = {"Authorization": f"Bearer {create_user_token(env, cwd, 'burst@example.com')}"}
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=60, limits=limits
        ) as client:
            resume = (
                await client.post(
                    "/api/resumes",
                    json={"title": "CV", "content": {"basics": {"name": "Burst"}}},
                    headers=headers,
                )
            ).json()
            started = time.monotonic()
            responses = await asyncio.gather(
                *(
                    client.post("/api/exports", json={"resumeId": resume["id"]}, headers=headers)
                    for _ in range(BURST)
                )
            )
            assert [r.status_code for r in responses] == [202] * BURST
            ids = {r.json()["exportId"] for r in responses}
            assert len(ids) == BURST
            collection = AsyncIOMotorClient(env["VITAE_MONGODB_URL"])["vitae_proc"]["exports"]

            async def all_ended() -> bool:
                active = {"status": {"$in": ["pending", "processing"]}}
                return await collection.count_documents(active) == 0

            await wait_until(all_ended, "exports still active after 10 minutes", 600, 1)
            elapsed = time.monotonic() - started
            docs = [
                doc async for doc in collection.find({}, {"status": 1, "version": 1, "attempts": 1})
            ]
    finally:
        for proc in reversed(procs):
            proc.stop()
    print(f"{BURST} exports in {elapsed:.1f} s ({BURST / elapsed:.1f}/s)")  # noqa: T201
    assert len(docs) == BURST
    failures = {doc.get("error") for doc in docs if doc["status"] != "completed"}
    assert {doc["status"] for doc in docs} == {"completed"}, failures
    # pending → processing → completed: no record was changed by two runs.
    assert {doc["version"] for doc in docs} == {3}
    assert {doc["attempts"] for doc in docs} == {1}
    files = list((tmp_path / "data" / "files").rglob("*.pdf"))
    assert sorted(f.stem for f in files) == sorted(ids)
