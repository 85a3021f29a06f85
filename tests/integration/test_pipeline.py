"""The worker's promises on real servers: S3 storage, retries with backoff, permanent failure
with a readable error, idempotent jobs, reconciliation of lost jobs."""

from __future__ import annotations

import asyncio
import io
import json
import time
import uuid
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import aioboto3
import httpx
from bson import ObjectId
from pypdf import PdfReader
from redis.asyncio import Redis
from saq import Queue
from saq.job import Status
from saq.utils import now

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
from vitae.exports.jobs import ExportSweepHooks, WorkerDeps, reconcile_exports, render_export
from vitae.exports.models import Export, ExportStatus
from vitae.queue import open_queue
from vitae.resumes.models import Resume
from vitae.settings import Settings
from vitae.storage import StoredFile
from vitae.sweep import ENDED, SWEPT, Sweeper
from vitae.timeutil import utcnow


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


async def render_job(deps: WorkerDeps, export: Export) -> dict[str, Any]:
    """Run the export's render job as the worker would (first attempt)."""
    kwargs = {
        "exportId": str(export.id),
        "resumeId": str(export.resume_id),
        "userId": str(export.user_id),
        "watermarked": True,
    }
    return await render_export({"deps": deps}, **kwargs)  # pyright: ignore[reportArgumentType]


async def test_the_pdf_shows_the_resume_as_it_was_when_the_export_was_requested(
    idle_client: httpx.AsyncClient, idle_settings: Settings, make_user: MakeUser
) -> None:
    headers = await make_user()
    resume = await create_resume(idle_client, headers, {"basics": {"name": "Asked Before"}})
    created = await idle_client.post(
        "/api/exports", json={"resumeId": resume["id"]}, headers=headers
    )
    assert created.status_code == 202, created.text
    assert "content" not in created.json()
    edited = await idle_client.patch(
        f"/api/resumes/{resume['id']}",
        json={"content": {"basics": {"name": "Edited After"}}},
        headers=headers,
    )
    assert edited.status_code == 200, edited.text
    export_id = created.json()["exportId"]
    async with worker_deps(idle_settings) as deps:
        stored = await deps.engine.get_collection(Export).find_one({"_id": ObjectId(export_id)})
        assert stored is not None
        assert json.loads(stored["content"]) == {"basics": {"name": "Asked Before"}}
        # Reads that show the export leave the snapshot in the store.
        assert (await deps.exports.get(stored["userId"], export_id)).content is None
        [listed], _ = await deps.exports.list(stored["userId"])
        assert listed.content is None
        assert (await render_job(deps, Export.model_validate_doc(stored)))["size"] > 0
        done = await deps.engine.get_collection(Export).find_one({"_id": ObjectId(export_id)})
    assert done is not None
    assert done["status"] == "completed"
    assert done["content"] is None, "the finished record keeps no copy of the résumé"
    body = await wait_for_export(idle_client, headers, export_id)
    assert "content" not in body
    pdf = await idle_client.get(body["fileUrl"])
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "Asked Before" in text
    assert "Edited After" not in text


async def test_an_export_recorded_without_a_snapshot_renders_the_resume_or_fails_if_deleted(
    idle_client: httpx.AsyncClient, idle_settings: Settings, make_user: MakeUser
) -> None:
    # Records written before snapshots existed: the worker reads the résumé, as it did then.
    headers = await make_user()
    kept = await request_export(idle_client, headers, {"basics": {"name": "Read Now"}})
    gone = await request_export(idle_client, headers, {"basics": {"name": "Gone"}})
    async with worker_deps(idle_settings) as deps:
        exports = deps.engine.get_collection(Export)
        await exports.update_many(
            {"_id": {"$in": [ObjectId(kept), ObjectId(gone)]}}, {"$unset": {"content": ""}}
        )
        records = {
            e: await deps.engine.find_one(Export, Export.id == ObjectId(e)) for e in (kept, gone)
        }
        doomed = records[gone]
        assert doomed is not None
        # Deleted behind the cascade's back (which would have cancelled the export).
        await deps.engine.get_collection(Resume).delete_one({"_id": doomed.resume_id})
        results = {e: await render_job(deps, r) for e, r in records.items() if r is not None}
    assert results[kept]["size"] > 0
    assert results[gone] == {"failed": "resume missing"}
    failed = await wait_for_export(idle_client, headers, gone)
    assert failed["error"] == "the résumé was deleted before it could be rendered"


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


async def test_reconciler_requeues_lost_jobs_with_attempts_left_and_fails_the_rest(
    idle_client: httpx.AsyncClient, idle_settings: Settings, make_user: MakeUser, redis: Redis
) -> None:
    headers = await make_user()
    names = ("Lost", "Gone", "Spent", "Swept")
    lost, gone, spent, swept = [
        await request_export(idle_client, headers, {"basics": {"name": name}}) for name in names
    ]
    async with worker_deps(idle_settings) as deps:
        exports = deps.exports
        # The queue loses the first three jobs; the fourth is being swept: a sweep marks it
        # aborting while it waits for its worker to stop it.
        aborting = await deps.queue.job(swept)
        assert aborting is not None
        await redis.flushdb()
        await deps.queue.update(aborting, status=Status.ABORTING)
        await exports.start(gone, attempt=1)
        await exports.start(spent, attempt=idle_settings.jobs.attempts)
        await exports.start(swept, attempt=1)
        # Age every record past the reconciliation threshold and the relay's grace.
        past = utcnow() - timedelta(hours=1)
        await exports.collection.update_many({}, {"$set": {"updatedAt": past, "createdAt": past}})
        summary = await reconcile_exports({"deps": deps})  # type: ignore[typeddict-item]
        # The export no worker started is still in the outbox: the relay's, not the
        # reconciler's; it hands the job over again.
        relayed = await exports.relay()
        jobs = {export_id: await deps.queue.job(export_id) for export_id in (lost, gone, swept)}
    assert summary == {"requeued": 1, "failed": 1}
    assert relayed == 1
    # Re-enqueued jobs keep the attempts already spent, so the total stays within the limit.
    assert [(j.status, j.attempts) for j in (jobs[lost], jobs[gone]) if j] == [
        ("queued", 0),
        ("queued", 1),
    ]
    still_swept = jobs[swept]
    assert still_swept is not None
    assert still_swept.status == "aborting"
    states = {
        export_id: (await idle_client.get(f"/api/exports/{export_id}", headers=headers)).json()
        for export_id in (lost, gone, spent, swept)
    }
    assert [states[e]["status"] for e in (lost, gone, spent, swept)] == [
        "pending",
        "processing",
        "failed",
        "processing",
    ]
    assert "job was lost" in states[spent]["error"]
    assert states[spent]["error"].endswith("(after 3 attempts)")


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


async def test_the_sweep_hands_back_dead_workers_jobs_at_once_and_closes_ended_ones(
    idle_client: httpx.AsyncClient, idle_settings: Settings, make_user: MakeUser, redis: Redis
) -> None:
    """Four jobs taken by workers, none beating any more: a dead worker's job with attempts
    left is retried and one with none is finished (its export failed, saying why), without
    waiting; one whose export already ended is closed; a live worker's job is aborted first
    (it has up to 5 s to stop it). A second sweeper meanwhile does nothing."""
    headers = await make_user()
    names = ("Retried", "Spent", "Ended", "Live")
    ids = [await request_export(idle_client, headers, {"basics": {"name": n}}) for n in names]
    retried, spent, ended, live = ids
    async with worker_deps(idle_settings) as deps:
        queue = deps.queue
        for export_id in ids:
            job = await queue.dequeue()
            assert job is not None
            assert job.key == export_id
            job.attempts = idle_settings.jobs.attempts if export_id == spent else 1
            job.worker_id = "live-worker" if export_id == live else "dead-worker"
            job.status = Status.ACTIVE
            job.touched = now() - 60_000  # a minute without a heartbeat: stuck
            await redis.set(job.id, queue.serialize(job))
            await deps.exports.start(export_id, job.attempts)
        await redis.set(queue.namespace("worker_info:live-worker"), "{}", ex=30)
        await deps.exports.fail(ended, "ended elsewhere")
        sweeper = Sweeper(queue, ExportSweepHooks({"deps": deps}))  # type: ignore[typeddict-item]
        started = time.monotonic()
        first, second = await asyncio.gather(sweeper.sweep(), Sweeper(queue).sweep())
        elapsed = time.monotonic() - started
        jobs = {export_id: await queue.job(export_id) for export_id in ids}
        assert await queue.count("active") == 0
    assert sorted(first) == sorted(ids)
    assert second == []  # one sweeper at a time
    assert elapsed < 5 + 2  # only the live worker's job was waited for
    states = {i: (j.status, j.error) for i, j in jobs.items() if j is not None}
    assert states == {
        retried: (Status.QUEUED, SWEPT),
        spent: (Status.ABORTED, SWEPT),
        ended: (Status.ABORTED, ENDED),
        live: (Status.QUEUED, SWEPT),
    }
    spent_export = (await idle_client.get(f"/api/exports/{spent}", headers=headers)).json()
    assert spent_export["status"] == "failed"
    assert spent_export["error"] == f"{SWEPT} (after 3 attempts)"
