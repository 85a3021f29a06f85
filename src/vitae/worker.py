"""The one place that builds the worker: its functions, schedule, hooks and clients."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from prometheus_client import start_http_server
from saq import CronJob, Worker
from saq.queue.redis import RedisQueue
from saq.types import Context, PartialTimersDict

from vitae import wiring
from vitae.exports.jobs import (
    ExportSweepHooks,
    WorkerContext,
    after_job,
    before_job,
    purge_expired_exports,
    reconcile_exports,
    relay_outbox,
    render_export,
)
from vitae.exports.metrics import QUEUE_DEPTH
from vitae.netpolicy import UrlPolicy
from vitae.queue import RENDER_EXPORT, open_delivery_queue, open_queue
from vitae.sweep import Sweeper
from vitae.webhooks.jobs import DeliveryContext, deliver_webhook, reconcile_webhooks
from vitae.webhooks.service import DELIVER_WEBHOOK

if TYPE_CHECKING:
    from vitae.settings import Settings

log = logging.getLogger("vitae.worker")


class VitaeWorker[C: Context](Worker[C]):
    """SAQ's worker whose upkeep loops wake on shutdown instead of finishing their sleep, so a
    stop waits for running jobs only, not for the longest timer; and whose sweep is
    ``vitae.sweep`` (a dead worker's jobs handed back in one pass) instead of SAQ's.

    ``upkeep`` is SAQ's private method: ``saq`` is pinned to the minor version it copies, and
    ``tests/unit/test_saq_upkeep.py`` fails if that shape changes (docs/saq-upkeep.md).
    """

    sweeper: Sweeper | None = None

    async def upkeep(self) -> list[asyncio.Task[None]]:
        """SAQ's four timers (abort, schedule, sweep, worker info), each an interruptible loop."""
        assert isinstance(self.queue, RedisQueue)  # noqa: S101  (every Vitae queue is)
        sweeper = self.sweeper or Sweeper(self.queue)

        async def poll(func: Callable[[int], Awaitable[object]], sleep: int, arg: int) -> None:
            while not self.event.is_set():
                try:
                    await func(arg)
                except Exception:
                    log.exception("upkeep task %s failed", func.__name__)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.event.wait(), sleep)

        timers = self.timers
        loops = [
            (self.abort, timers["abort"], timers["abort"]),
            (self.schedule, timers["schedule"], timers["schedule"]),
            (sweeper.sweep, timers["sweep"], timers["sweep"]),
            (self.worker_info, timers["worker_info"], timers["worker_info"] + 1),
        ]
        return [asyncio.create_task(poll(func, sleep, arg)) for func, sleep, arg in loops]


async def watch_queue_depth(queue: RedisQueue, every: float = 5.0) -> None:
    """Keep the queue-depth gauge current (scrapes must not wait on Redis)."""
    while True:
        try:
            for state in ("queued", "active"):
                QUEUE_DEPTH.labels(state=state).set(await queue.count(state))
        except Exception:
            log.warning("could not read the queue depth", exc_info=True)
        await asyncio.sleep(every)


def upkeep_timers(settings: Settings) -> PartialTimersDict:
    """Seconds between SAQ's upkeep passes; the same for both workers of a process."""
    return {"schedule": 1, "worker_info": 10, "sweep": settings.jobs.sweep_interval, "abort": 1}


def create_worker(settings: Settings) -> Worker[WorkerContext]:
    """Build a worker. Its clients and services (``vitae.wiring.render_worker``) open in its
    startup hook and close in its shutdown hook.
    """
    settings.require("redis_url", "mongodb_url")
    queue = open_queue(settings)
    UrlPolicy.from_settings(settings.photos, "VITAE_PHOTO")  # a malformed network stops the start
    resources = contextlib.AsyncExitStack()

    async def startup(ctx: WorkerContext) -> None:
        ctx["deps"] = await resources.enter_async_context(wiring.render_worker(settings, queue))
        if settings.jobs.metrics_port:
            start_http_server(settings.jobs.metrics_port)
        ctx["gauges"] = asyncio.create_task(watch_queue_depth(queue))
        ctx["relay"] = asyncio.create_task(relay_outbox(ctx))
        log.info(
            "worker ready: concurrency=%d, storage=%s", settings.jobs.concurrency, settings.storage
        )

    async def shutdown(ctx: WorkerContext) -> None:
        for task in (ctx.get("gauges"), ctx.get("relay")):
            if task is not None:
                task.cancel()
        await resources.aclose()

    worker = VitaeWorker[WorkerContext](
        queue,
        functions=[(RENDER_EXPORT, render_export)],
        cron_jobs=[
            CronJob(reconcile_exports, cron="* * * * *", timeout=60),
            CronJob(purge_expired_exports, cron="17 * * * *", timeout=600),
        ],
        concurrency=settings.jobs.concurrency,
        startup=[startup],
        shutdown=[shutdown],
        before_process=[before_job],
        after_process=[after_job],
        timers=upkeep_timers(settings),
        shutdown_grace_period_s=settings.jobs.timeout,
        # Idle dequeues return each second, so a stop never waits on a blocked BLMOVE.
        dequeue_timeout=1.0,
    )
    worker.sweeper = Sweeper(queue, ExportSweepHooks(worker.context))
    return worker


class DeliveryWorker(VitaeWorker[DeliveryContext]):
    """Runs beside the render worker in the same process; the render worker owns the signals
    and stops it.
    """

    SIGNALS = []  # noqa: RUF012  (SAQ's class attribute)


def create_delivery_worker(settings: Settings) -> Worker[DeliveryContext]:
    """Build the webhook delivery worker: its own queue and slots, so a slow receiver never
    delays a render, and per-host shares, so it never delays other receivers much either.
    """
    settings.require("redis_url", "mongodb_url")
    queue = open_delivery_queue(settings)
    hooks = settings.webhooks
    UrlPolicy.from_settings(hooks)  # a malformed allowed network stops the start

    resources = contextlib.AsyncExitStack()

    async def startup(ctx: DeliveryContext) -> None:
        ctx["deliveries"] = await resources.enter_async_context(
            wiring.delivery_worker(settings, queue)
        )

    async def shutdown(_ctx: DeliveryContext) -> None:
        await resources.aclose()

    return DeliveryWorker(
        queue,
        functions=[(DELIVER_WEBHOOK, deliver_webhook)],
        cron_jobs=[CronJob(reconcile_webhooks, cron="* * * * *", timeout=60)],
        concurrency=hooks.concurrency,
        startup=[startup],
        shutdown=[shutdown],
        timers=upkeep_timers(settings),
        shutdown_grace_period_s=int(hooks.timeout) + 5,
        dequeue_timeout=1.0,
    )


async def run_worker(settings: Settings) -> None:
    """Run until SIGINT or SIGTERM; running jobs get a grace period to finish."""
    worker = create_worker(settings)
    deliveries = create_delivery_worker(settings)
    await worker.queue.connect()
    await deliveries.queue.connect()
    delivering = asyncio.create_task(deliveries.start())
    try:
        await worker.start()
    finally:
        await deliveries.stop()
        await delivering
        await deliveries.queue.disconnect()
        await worker.queue.disconnect()
