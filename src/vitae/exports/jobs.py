"""The export jobs: thin functions that load, call the service and report progress."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NotRequired

import msgspec
from bson import ObjectId
from saq.job import Status
from saq.types import Context
from saq.utils import now, seconds
from structlog.contextvars import bind_contextvars, unbind_contextvars

from vitae.db import find_by_id
from vitae.errors import VitaeError
from vitae.exports.metrics import JOB_RETRIES, JOBS_IN_FLIGHT, RENDER_TIME, STORE_TIME
from vitae.exports.photos import prepare_photo
from vitae.queue import RENDER_EXPORT
from vitae.rendering import RenderError, RenderOptions
from vitae.resumes.models import Resume
from vitae.storage import export_key

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
# Seconds between two passes of the outbox relay.
RELAY_EVERY = 2.0


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
    relay: NotRequired[asyncio.Task[None]]


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
        # The snapshot taken at request time; an export recorded without one (before
        # snapshots existed) renders the résumé as it is now.
        content = msgspec.json.decode(export.content) if export.content is not None else None
        if content is None:
            resume = await find_by_id(deps.engine, Resume, ObjectId(resumeId))
            if resume is None:
                await service.fail(export.id, "the résumé was deleted before it could be rendered")
                return {"failed": "resume missing"}
            content = resume.content
        # The content as a value: an https photo is fetched here, where there is network.
        # Its time comes out of the render's wait for a process, so that fetch, wait and
        # compile together stay within what the settings check against the job's timeout.
        fetch_started = time.monotonic()
        prepared = await prepare_photo(
            content,
            export.template,
            export.options,
            deps.settings.templates_dir,
            deps.settings.photos,
        )
        options = RenderOptions(
            template=export.template,
            paper_size="letter" if export.paper_size == "letter" else "a4",
            watermark=watermarked,
            options=export.options,
        )
        try:
            with RENDER_TIME.time():
                pdf = await deps.renderer.render(
                    prepared.content,
                    options,
                    owner=userId,
                    wait=max(deps.settings.render.wait - (time.monotonic() - fetch_started), 0),
                )
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
        if await service.complete(export.id, stored, prepared.warnings) is None:
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


# Job states in which the queue still owns the export's work: it is waiting, running, being
# swept or aborted, or scheduled for its next attempt (a retry is queued with a delay).
QUEUE_OWNS = {Status.NEW, Status.QUEUED, Status.ACTIVE, Status.ABORTING}


def job_is_gone(job: Job | None, stale: timedelta) -> bool:
    """Whether nobody will run the export's job any more: no job, a finished one (while the
    export is still active), or one left aborting by a sweeper that died (untouched for
    ``stale``).
    """
    if job is None:
        return True
    if job.status is Status.ABORTING:
        return seconds(now() - job.touched) > stale.total_seconds()
    return job.status not in QUEUE_OWNS


async def reconcile_exports(ctx: WorkerContext) -> dict[str, int]:
    """Periodic: an active export untouched for a while is judged with its job. While the
    queue still owns the job (queued, running, swept, aborting, waiting for a retry) it is
    left alone; when the job is gone, the export is enqueued again if it has attempts left
    (the new job keeps the attempts spent), else failed with the reason. Exports still in the
    outbox are the relay's.
    """
    deps = deps_of(ctx)
    service = deps.exports
    jobs = deps.settings.jobs
    stale = timedelta(seconds=jobs.reconcile_after)
    requeued = failed = 0
    for export in await service.stale(stale):
        if export.enqueued_at is None:
            continue
        job = await deps.queue.job(str(export.id))
        if not job_is_gone(job, stale):
            continue
        if export.attempts < jobs.attempts:
            await service.enqueue(export)
            requeued += 1
        elif await service.fail(export.id, lost_reason(job, export)):
            failed += 1
    if requeued or failed:
        log.warning("reconciled exports: %d re-enqueued, %d failed", requeued, failed)
    return {"requeued": requeued, "failed": failed}


def lost_reason(job: Job | None, export: Export) -> str:
    """Why an export whose job is gone failed, for its ``error`` field."""
    attempts = f" (after {export.attempts} attempt{'s' if export.attempts != 1 else ''})"
    if job is not None and job.error:
        return f"{job.error.strip().splitlines()[-1][:300]}{attempts}"
    return f"{LOST_JOB}{attempts}"


async def relay_outbox(ctx: WorkerContext, every: float = RELAY_EVERY) -> None:
    """Hand the outbox's exports to the queue every ``every`` seconds (so within seconds of
    Redis coming back); a failing pass is logged and the next one tries again.
    """
    while True:
        try:
            await deps_of(ctx).exports.relay()
        except Exception as error:  # noqa: BLE001  (Redis or the store down: try again later)
            log.warning("the outbox relay could not hand exports over: %s", error)
        await asyncio.sleep(every)


class ExportSweepHooks:
    """What the sweep (``vitae.sweep``) asks about render jobs, answered from the exports."""

    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx  # the worker's context: its deps exist once the startup hook ran

    async def ended(self, jobs: list[Job]) -> set[str]:
        """The render jobs whose export is finished or gone (one query)."""
        keys = [job.key for job in jobs if job.function == RENDER_EXPORT]
        if not keys:
            return set()
        active = await deps_of(self.ctx).exports.active_among(keys)
        return set(keys) - active

    async def gave_up(self, job: Job, reason: str) -> None:
        """A swept render job had no attempt left: its export fails, saying so."""
        if job.function == RENDER_EXPORT:
            attempts = f" (after {job.attempts} attempt{'s' if job.attempts != 1 else ''})"
            await deps_of(self.ctx).exports.fail(job.key, reason + attempts)


PURGE_BATCH = 500


async def purge_expired_exports(ctx: WorkerContext) -> dict[str, int]:
    """Periodic: delete finished exports (records and files) older than the retention."""
    deps = deps_of(ctx)
    days = deps.settings.jobs.retention_days
    if days <= 0:
        return {"purged": 0}
    service = deps.exports
    purged = 0
    before: ObjectId | None = None
    while True:
        batch, before = await service.expired(timedelta(days=days), PURGE_BATCH, before=before)
        for export in batch:
            await service.purge(export)
        purged += len(batch)
        if before is None:
            break
    if purged:
        log.info("purged %d exports older than %d days", purged, days)
    return {"purged": purged}
