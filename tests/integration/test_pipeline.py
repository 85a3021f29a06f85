"""The worker's promises on real servers: S3 storage, retries with backoff, permanent failure
with a readable error, idempotent jobs, reconciliation of lost jobs."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import aioboto3
import httpx
import pytest
from bson import ObjectId
from redis.asyncio import Redis
from saq import Queue

from support import (
    Headers,
    MakeUser,
    Services,
    create_resume,
    make_settings,
    running_api,
    running_worker,
    wait_for_export,
)
from vitae import wiring
from vitae.exports.jobs import WorkerDeps, reconcile_exports, render_export
from vitae.exports.models import Export, ExportStatus
from vitae.queue import open_queue
from vitae.settings import Settings
from vitae.storage import StoredFile


def s3_settings(services: Services, data_dir: Path, bucket: str, **extra: str) -> Settings:
    return make_settings(
        services,
        data_dir,
        VITAE_STORAGE="s3",
        VITAE_S3_BUCKET=bucket,
        VITAE_QUEUE_NAME=f"s3-{bucket}",
        **extra,
    )


async def create_bucket(settings: Settings) -> None:
    session = aioboto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    # aioboto3's client factory is untyped; its result is an async context manager.
    client: Any = session.client("s3", endpoint_url=settings.s3.endpoint_url)
    async with client as s3:
        await s3.create_bucket(Bucket=settings.s3.bucket)


async def request_export(
    client: httpx.AsyncClient, headers: Headers, content: dict[str, Any]
) -> str:
    resume = await create_resume(client, headers, content)
    response = await client.post("/api/exports", json={"resumeId": resume["id"]}, headers=headers)
    assert response.status_code == 202, response.text
    return response.json()["exportId"]


async def test_s3_export_has_a_presigned_link_with_the_owners_name(
    services: Services, data_dir: Path, make_user: MakeUser, sample_resume: dict[str, Any]
) -> None:
    settings = s3_settings(services, data_dir, f"ok-{uuid.uuid4().hex[:8]}")
    await create_bucket(settings)
    headers = await make_user(credits=2)
    async with running_api(settings) as client, running_worker(settings):
        export_id = await request_export(client, headers, sample_resume)
        done = await wait_for_export(client, headers, export_id)
    assert done["status"] == "completed", done
    url = done["fileUrl"]
    assert url.startswith(f"{services.s3_endpoint}/{settings.s3.bucket}/exports/")
    assert f"/{export_id}.pdf?" in url
    assert "X-Amz-Expires=900" in url
    async with httpx.AsyncClient() as http:
        response = await http.get(url)
    assert response.status_code == 200
    assert response.content.startswith(b"%PDF")
    assert len(response.content) == done["fileSize"]
    assert response.headers["content-type"] == "application/pdf"
    assert 'filename="Richard-Hendriks-Resume.pdf"' in response.headers["content-disposition"]


async def test_storage_outage_is_retried_with_backoff_then_succeeds(
    services: Services, data_dir: Path, make_user: MakeUser
) -> None:
    settings = s3_settings(services, data_dir, f"late-{uuid.uuid4().hex[:8]}")
    headers = await make_user()
    async with running_api(settings) as client, running_worker(settings):
        export_id = await request_export(client, headers, {"basics": {"name": "Patience"}})
        # The bucket does not exist yet: the first attempt fails and waits out its backoff.
        first = await wait_for_export(client, headers, export_id, {"processing"})
        while "error" not in first:
            first = await wait_for_export(client, headers, export_id, {"processing"})
        assert first["attempts"] == 1
        assert first["error"].startswith("attempt 1 failed, retrying: could not store the PDF")
        await create_bucket(settings)
        done = await wait_for_export(client, headers, export_id)
    assert done["status"] == "completed", done
    assert done["attempts"] >= 2
    assert "error" not in done


async def test_permanent_failure_ends_failed_with_a_readable_error(
    services: Services, data_dir: Path, make_user: MakeUser
) -> None:
    settings = s3_settings(
        services, data_dir, f"never-{uuid.uuid4().hex[:8]}", VITAE_JOB_RETRY_DELAY="0.2"
    )
    headers = await make_user()
    async with running_api(settings) as client, running_worker(settings) as worker:
        export_id = await request_export(client, headers, {"basics": {"name": "Doomed"}})
        failed = await wait_for_export(client, headers, export_id)
        assert failed["status"] == "failed"
        assert failed["attempts"] == 3
        assert failed["error"].startswith("could not store the PDF:")
        assert "NoSuchBucket" in failed["error"]
        assert failed["error"].endswith("(after 3 attempts)")
        assert "Traceback" not in failed["error"]
        # The worker survived: the next export (once the bucket exists) completes.
        await create_bucket(settings)
        next_id = await request_export(client, headers, {"basics": {"name": "Survivor"}})
        assert (await wait_for_export(client, headers, next_id))["status"] == "completed"
        assert not worker.event.is_set()


@asynccontextmanager
async def worker_deps(settings: Settings) -> AsyncGenerator[WorkerDeps]:
    """What the render worker's startup hook builds, on a queue no worker reads."""
    queue = open_queue(settings)
    try:
        async with wiring.render_worker(settings, queue) as deps:
            yield deps
    finally:
        await queue.disconnect()


async def test_job_is_idempotent_and_transitions_are_guarded(
    idle_client: httpx.AsyncClient, idle_settings: Settings, make_user: MakeUser
) -> None:
    headers = await make_user()
    export_id = await request_export(idle_client, headers, {"basics": {"name": "Twice"}})
    async with worker_deps(idle_settings) as deps:
        exports = deps.exports
        export = await deps.engine.find_one(Export, Export.id == ObjectId(export_id))
        assert export is not None
        kwargs = {
            "exportId": export_id,
            "resumeId": str(export.resume_id),
            "userId": str(export.user_id),
            "watermarked": True,
        }
        first = await render_export({"deps": deps}, **kwargs)  # pyright: ignore[reportArgumentType]
        done = await exports.get(export.user_id, export_id)
        second = await render_export({"deps": deps}, **kwargs)  # pyright: ignore[reportArgumentType]
        again = await exports.get(export.user_id, export_id)
        # Enqueueing the same export again is a no-op: the job's key is the export id.
        await exports.enqueue(again)
        assert await deps.queue.count("queued") == 1
        # A late failure or a second completion cannot move a finished export.
        assert await exports.fail(export.id, "late failure") is None
        stored = StoredFile(key="k", size=1, location="nowhere")
        assert await exports.complete(export.id, stored) is None
    assert first["size"] > 0
    assert second == {"skipped": True}
    assert done.status is ExportStatus.COMPLETED
    assert again.version == done.version
    assert (again.file_size, again.status) == (first["size"], ExportStatus.COMPLETED)


async def test_concurrent_transitions_move_an_export_once(
    idle_client: httpx.AsyncClient, idle_settings: Settings, make_user: MakeUser
) -> None:
    headers = await make_user()
    export_id = await request_export(idle_client, headers, {"basics": {"name": "Race"}})
    stored = StoredFile(key="k", size=1, location="nowhere")
    async with worker_deps(idle_settings) as deps:
        exports = deps.exports
        started = await exports.start(export_id, attempt=1)
        assert started is not None
        moves = [exports.complete(started.id, stored) for _ in range(8)]
        results = await asyncio.gather(*moves, exports.fail(started.id, "late failure"))
        stored_now = await exports.get(started.user_id, export_id)
    winners = [result for result in results if result is not None]
    assert len(winners) == 1
    assert stored_now.version == started.version + 1
    # What the transition returned (and published) is what was stored.
    assert winners[0].model_dump() == stored_now.model_dump()


async def test_reconciler_requeues_lost_pending_and_fails_lost_processing(
    idle_client: httpx.AsyncClient, idle_settings: Settings, make_user: MakeUser, redis: Redis
) -> None:
    headers = await make_user()
    lost_pending = await request_export(idle_client, headers, {"basics": {"name": "Lost"}})
    lost_processing = await request_export(idle_client, headers, {"basics": {"name": "Gone"}})
    await redis.flushdb()  # the queue loses both jobs
    async with worker_deps(idle_settings) as deps:
        exports = deps.exports
        await exports.start(lost_processing, attempt=1)
        # Age both records past the reconciliation threshold.
        past = {
            "$set": {
                "updatedAt": (await exports.stale(timedelta(0)))[0].updated_at - timedelta(hours=1)
            }
        }
        await exports.collection.update_many({}, past)
        summary = await reconcile_exports({"deps": deps})  # type: ignore[typeddict-item]
        job = await deps.queue.job(lost_pending)
    assert summary == {"requeued": 1, "failed": 1}
    assert job is not None
    assert job.status == "queued"
    gone = (await idle_client.get(f"/api/exports/{lost_processing}", headers=headers)).json()
    assert gone["status"] == "failed"
    assert "job was lost" in gone["error"]
    pending = (await idle_client.get(f"/api/exports/{lost_pending}", headers=headers)).json()
    assert pending["status"] == "pending"


@pytest.mark.parametrize(
    ("per_minute", "detail", "recorded"),
    [
        # The rate limiter, in front, finds Redis down: nothing is written.
        ("60", "the queue is unavailable; retry shortly", []),
        # Without it, the record is written, the enqueue fails and the record is failed.
        ("0", "the export queue is unavailable; retry shortly", ["failed"]),
    ],
)
async def test_queue_outage_answers_503_and_leaves_nothing_pending(
    services: Services,
    data_dir: Path,
    make_user: MakeUser,
    per_minute: str,
    detail: str,
    recorded: list[str],
) -> None:
    from vitae.embedded import free_port  # noqa: PLC0415

    settings = make_settings(
        services,
        data_dir,
        VITAE_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        VITAE_EXPORTS_PER_MINUTE=per_minute,
    )
    headers = await make_user()
    async with running_api(settings) as client:
        resume = await create_resume(client, headers, {})
        response = await client.post(
            "/api/exports", json={"resumeId": resume["id"]}, headers=headers
        )
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert response.json()["detail"] == detail
        listed = (await client.get("/api/exports", headers=headers)).json()
    assert [e["status"] for e in listed["items"]] == recorded


async def test_a_dead_workers_job_is_swept_and_retried(
    services: Services, data_dir: Path, make_user: MakeUser
) -> None:
    """A worker that takes a job and dies leaves it active without heartbeats; another
    worker's sweep hands it back to the queue and the export completes on the next attempt."""
    settings = make_settings(
        services,
        data_dir,
        VITAE_QUEUE_NAME="sweep",
        VITAE_JOB_HEARTBEAT="1",
        VITAE_SWEEP_INTERVAL="1",
    )
    headers = await make_user()
    async with running_api(settings) as client:
        export_id = await request_export(client, headers, {"basics": {"name": "Phoenix"}})
        # The dead worker: it dequeues the job and marks it active, then never beats again.
        queue = Queue.from_url(settings.redis_url or "", name=settings.queue_name)
        job = await queue.dequeue()
        assert job is not None
        assert job.key == export_id
        job.attempts += 1
        await job.update(status="active")
        await queue.disconnect()
        async with running_worker(settings):
            done = await wait_for_export(client, headers, export_id, timeout=30)
    assert done["status"] == "completed", done
    assert done["attempts"] == 2
