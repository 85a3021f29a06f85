"""The export jobs: thin functions that load, call the service and report progress."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NotRequired

from bson import ObjectId
from saq.job import Status
from saq.types import Context
from structlog.contextvars import bind_contextvars, unbind_contextvars

from vitae.db import find_by_id
from vitae.errors import VitaeError
from vitae.exports.metrics import JOB_RETRIES, JOBS_IN_FLIGHT, RENDER_TIME, STORE_TIME
from vitae.exports.models import ExportStatus
from vitae.queue import RENDER_EXPORT
from vitae.rendering import RenderError, RenderOptions
from vitae.resumes.models import Resume
from vitae.storage import export_key
from vitae.timeutil import utcnow

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    from odmantic import AIOEngine
    from saq import Job
    from saq.queue.redis import RedisQueue

    from vitae.exports.models import Export
    from vitae.exports.service import ExportService
    from vitae.rendering import Renderer
    from vitae.settings import Settings
    from vitae.storage import Storage

log = logging.getLogger(__name__)

LOST_JOB = "the export's job was lost before it finished; request a new export"


@dataclass(frozen=True, slots=True)
class WorkerDeps:
    """Clients and the export service, built once in the worker's startup hook
    (``vitae.wiring.render_worker``) and shared by every job.
    """

    settings: Settings
    engine: AIOEngine
    storage: Storage
    renderer: Renderer
    queue: RedisQueue
    exports: ExportService


class WorkerContext(Context):
    """SAQ's job context plus our dependencies."""

    deps: NotRequired[WorkerDeps]
    gauges: NotRequired[asyncio.Task[None]]


def deps_of(ctx: WorkerContext) -> WorkerDeps:
    """The dependencies the startup hook placed in the context."""
    deps = ctx.get("deps")
    if deps is None:
        raise RuntimeError("the worker's startup hook did not run")
    return deps


@contextlib.asynccontextmanager
async def heartbeat(job: Job, interval: float) -> AsyncGenerator[None]:
    """Touch the job while work goes on, so that only a dead worker's job looks stuck."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(interval)
            await job.update()

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class Progress:
    """Progress events for followers of a slow export only. A render that finishes within
    ``after`` seconds completes before a progress bar would tell anyone anything, and each
    event costs both processes ≈ 1.5 ms; so stages are published from ``after`` on: the
    current one when the delay ends, then each new one at once.
    """

    def __init__(self, service: ExportService, export: Export) -> None:
        self.service = service
        self.export = export
        self.stage: tuple[str, int] | None = None
        self.due = False

    async def report(self, stage: str, percent: int) -> None:
        """The job has reached ``stage``."""
        self.stage = (stage, percent)
        if self.due:
            await self.service.progress(self.export, stage, percent)

    async def _due_in(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self.due = True
        if self.stage is not None:
            await self.service.progress(self.export, *self.stage)

    @contextlib.asynccontextmanager
    async def after(self, delay: float) -> AsyncGenerator[Progress]:
        """Report stages while the job runs, publishing from ``delay`` seconds on."""
        timer = asyncio.create_task(self._due_in(delay))
        try:
            yield self
        finally:
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer


class StageError(VitaeError):
    """A transient failure of one stage, worth a retry."""


async def render_export(
    ctx: WorkerContext,
    *,
    exportId: str,  # noqa: N803  (job data keys are the product story's camelCase)
    resumeId: str,  # noqa: N803
    userId: str,  # noqa: N803
    watermarked: bool,
) -> dict[str, Any]:
    """Render an export's PDF and store it. Idempotent: a re-run overwrites the same key."""
    job = ctx.get("job")
    attempt = job.attempts if job else 1
    with JOBS_IN_FLIGHT.track_inprogress():
        return await _render_export(
            ctx, job, attempt, exportId, resumeId, userId, watermarked=watermarked
        )


async def _render_export(
    ctx: WorkerContext,
    job: Job | None,
    attempt: int,
    exportId: str,  # noqa: N803
    resumeId: str,  # noqa: N803
    userId: str,  # noqa: N803
    *,
    watermarked: bool,
) -> dict[str, Any]:
    deps = deps_of(ctx)
    service = deps.exports
    export = await service.start(exportId, attempt)
    if export is None:
        return {"skipped": True}
    beat_every = max(deps.settings.jobs.heartbeat / 3, 0.5)
    async with contextlib.AsyncExitStack() as stack:
        if job is not None:
            await stack.enter_async_context(heartbeat(job, beat_every))
        progress = Progress(service, export)
        await stack.enter_async_context(progress.after(deps.settings.jobs.progress_after))
        await progress.report("rendering", 10)
        resume = await find_by_id(deps.engine, Resume, ObjectId(resumeId))
        if resume is None:
            await service.fail(export.id, "the résumé was deleted before it could be rendered")
            return {"failed": "resume missing"}
        options = RenderOptions(
            template=export.template,
            paper_size="letter" if export.paper_size == "letter" else "a4",
            watermark=watermarked,
            options=export.options,
        )
        try:
            with RENDER_TIME.time():
                pdf = await deps.renderer.render(resume.content, options, owner=userId)
        except RenderError as error:
            # A template or data error gives the same result on every attempt: fail now.
            await service.fail(export.id, f"rendering failed: {error.message}")
            return {"failed": "render"}
        await progress.report("storing", 70)
        key = export_key(userId, exportId)
        try:
            with STORE_TIME.time():
                stored = await deps.storage.put(key, pdf, filename=export.file_name)
        except Exception as error:
            raise StageError(f"could not store the PDF: {error}") from error
        if await service.complete(export.id, stored) is None:
            # Cancelled while rendering: no PDF may outlive its record's promise.
            await deps.storage.delete(key)
            return {"cancelled": True}
    return {"size": stored.size}


def readable(error: BaseException | None, job: Job) -> str:
    """A one-line message for the export's ``error`` field, never a traceback."""
    if isinstance(error, VitaeError):
        return error.message
    if isinstance(error, TimeoutError):
        return f"rendering took longer than the {job.timeout} s limit"
    if error is None:
        return job.error.splitlines()[-1] if job.error else LOST_JOB
    return f"unexpected {type(error).__name__}: {error}"[:500]


LOG_CONTEXT = ("job", "export_id", "user_id", "attempt")


async def before_job(ctx: WorkerContext) -> None:
    """Every log line of a job, SAQ's own included, names the export and the attempt."""
    job = ctx.get("job")
    if job is not None and job.function == RENDER_EXPORT:
        kwargs = job.kwargs or {}
        bind_contextvars(
            job=job.function, export_id=job.key, user_id=kwargs.get("userId"), attempt=job.attempts
        )
    elif job is not None:
        bind_contextvars(job=job.function)


async def after_job(ctx: WorkerContext) -> None:
    """When a render job has spent its last attempt, its export fails with a readable error."""
    job = ctx.get("job")
    try:
        if job is not None and job.function == RENDER_EXPORT:
            await _settle(ctx, job)
    finally:
        unbind_contextvars(*LOG_CONTEXT)


async def _settle(ctx: WorkerContext, job: Job) -> None:
    error = ctx.get("exception")
    service = deps_of(ctx).exports
    # ABORTED is not final here: a user's cancel already set the export's status, and a
    # sweep's abort is followed by a retry (or, with no attempt left, the reconciler fails it).
    if job.status is Status.FAILED:
        attempts = f" (after {job.attempts} attempt{'s' if job.attempts != 1 else ''})"
        await service.fail(job.key, readable(error, job) + attempts)
    elif job.status is Status.QUEUED and error is not None:
        JOB_RETRIES.inc()
        await service.note_retry(
            job.key, f"attempt {job.attempts} failed, retrying: {readable(error, job)}"
        )


async def reconcile_exports(ctx: WorkerContext) -> dict[str, int]:
    """Periodic: an active export whose job is gone is re-enqueued once, or failed if its job
    ended or it has waited past its deadline; so none stays pending or processing forever.
    """
    deps = deps_of(ctx)
    service = deps.exports
    settings = deps.settings
    deadline = timedelta(seconds=settings.jobs.reconcile_after * 5)
    requeued = failed = 0
    for export in await service.stale(timedelta(seconds=settings.jobs.reconcile_after)):
        job = await deps.queue.job(str(export.id))
        if job is not None and job.status in {Status.NEW, Status.QUEUED, Status.ACTIVE}:
            continue
        age = utcnow() - export.created_at
        if job is None and export.status is ExportStatus.PENDING and age < deadline:
            await service.enqueue(export)  # keyed by the export id: a no-op if already queued
            requeued += 1
        elif await service.fail(export.id, LOST_JOB):
            failed += 1
    if requeued or failed:
        log.warning("reconciled exports: %d re-enqueued, %d failed", requeued, failed)
    return {"requeued": requeued, "failed": failed}


PURGE_BATCH = 500


async def purge_expired_exports(ctx: WorkerContext) -> dict[str, int]:
    """Periodic: delete finished exports (records and files) older than the retention."""
    deps = deps_of(ctx)
    days = deps.settings.jobs.retention_days
    if days <= 0:
        return {"purged": 0}
    service = deps.exports
    purged = 0
    while batch := await service.expired(timedelta(days=days), PURGE_BATCH):
        for export in batch:
            await service.purge(export)
        purged += len(batch)
    if purged:
        log.info("purged %d exports older than %d days", purged, days)
    return {"purged": purged}
