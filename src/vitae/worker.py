"""The one place that builds the worker: its functions, schedule, hooks and clients."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from saq import CronJob, Worker

from vitae import db
from vitae.exports.jobs import (
    WorkerContext,
    WorkerDeps,
    after_job,
    reconcile_exports,
    render_export,
)
from vitae.exports.models import Export
from vitae.queue import RENDER_EXPORT, open_queue
from vitae.rendering import Renderer
from vitae.resumes.models import Resume
from vitae.storage import open_storage
from vitae.users.models import User

if TYPE_CHECKING:
    from vitae.settings import Settings

log = logging.getLogger("vitae.worker")


def create_worker(settings: Settings) -> Worker[WorkerContext]:
    """Build a worker. Clients open in its startup hook and close in its shutdown hook."""
    settings.require("redis_url", "mongodb_url")
    queue = open_queue(settings)

    async def startup(ctx: WorkerContext) -> None:
        assert settings.mongodb_url is not None  # noqa: S101  (narrowed by require)
        engine = db.open_engine(settings.mongodb_url, settings.mongodb_database)
        await db.prepare(engine, (User, Resume, Export))
        renderer = Renderer(settings.templates_dir, threads=settings.jobs.render_threads or None)
        storage = await open_storage(settings)
        ctx["deps"] = WorkerDeps(
            settings=settings, engine=engine, storage=storage, renderer=renderer, queue=queue
        )
        log.info(
            "worker ready: concurrency=%d, storage=%s", settings.jobs.concurrency, settings.storage
        )

    async def shutdown(ctx: WorkerContext) -> None:
        deps = ctx.get("deps")
        if deps is not None:
            await deps.storage.close()
            deps.renderer.close()
            db.close_engine(deps.engine)

    return Worker(
        queue,
        functions=[(RENDER_EXPORT, render_export)],
        cron_jobs=[CronJob(reconcile_exports, cron="* * * * *", timeout=60)],
        concurrency=settings.jobs.concurrency,
        startup=[startup],
        shutdown=[shutdown],
        after_process=[after_job],
        timers={"sweep": settings.jobs.sweep_interval},
        shutdown_grace_period_s=settings.jobs.timeout,
    )


async def run_worker(settings: Settings) -> None:
    """Run until SIGINT or SIGTERM; running jobs get a grace period to finish."""
    worker = create_worker(settings)
    await worker.queue.connect()
    try:
        await worker.start()
    finally:
        await worker.queue.disconnect()
