"""The worker's sweep: jobs left active by a dead or stuck worker go back to the queue.

SAQ 0.26's ``RedisQueue.sweep`` handles the stuck jobs one at a time, and for each one asks
its worker to abort it and waits up to 5 s for an answer (``abort`` is a parameter of
``sweep``, but the upkeep loop never passes it, and waiting 0 means waiting forever). A dead
worker never answers, so a worker that died holding 50 jobs costs 250 s of sweeping, even for
jobs whose exports had already ended; and when a pass outlasts the sweep lock (the sweep
interval), a second worker sweeps the same jobs. This sweep reads the same lists and hands
jobs back the same way (``Queue.retry`` / ``Queue.finish``), but:

- it waits only for workers that are alive (their SAQ worker-info entry has not expired), all
  at once, and never for a dead one: a dead worker's jobs are handed back in one pass;
- a job whose work has already ended (the export is completed, failed or cancelled) is closed
  at once instead of retried;
- one sweeper at a time: a lock held by its owner until the pass ends (or expires).

See docs/saq-upkeep.md for the upstream report.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, cast

from saq.job import Status

if TYPE_CHECKING:
    from saq import Job
    from saq.queue.redis import RedisQueue

log = logging.getLogger(__name__)

SWEPT = "swept: its worker stopped before it finished"
ENDED = "swept: its work had already ended"
# A job in the active list that is not marked active is one a worker has just dequeued (it
# marks it active a moment later) or one whose worker died in that moment. It is handed back
# only once this sweeper has seen it so for this many seconds: SAQ leaves ``touched`` unset
# until a job is first updated, so the record cannot tell how long it has been there.
SETTLE = 5.0
# A pass holds the lock at most this long, even if its sweeper dies mid-pass.
LOCK_SECONDS = 60
# How long a live worker gets to stop a stuck job before it is handed back anyway.
ABORT_WAIT = 5.0

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class SweepHooks(Protocol):
    """What the sweep asks the domain whose jobs it sweeps."""

    async def ended(self, jobs: list[Job]) -> set[str]:
        """The keys of the ``jobs`` whose work has already ended (nothing left to retry)."""
        ...

    async def gave_up(self, job: Job, reason: str) -> None:
        """``job`` was swept with no attempt left: record why its work failed."""
        ...


@dataclass(frozen=True, slots=True)
class Swept:
    """What one pass did, by job key."""

    retried: list[str]
    closed: list[str]
    failed: list[str]

    @property
    def keys(self) -> list[str]:
        """Every key the pass handled."""
        return [*self.retried, *self.closed, *self.failed]


class Sweeper:
    """Sweeps one queue's active jobs; ``hooks`` (optional) know whether a job's work ended."""

    def __init__(self, queue: RedisQueue, hooks: SweepHooks | None = None) -> None:
        self.queue = queue
        self.hooks = hooks
        self.lock_key = queue.namespace("vitae-sweep-lock")
        # Jobs seen in the active list without being marked active: id → when first seen.
        self._unmarked: dict[str, float] = {}

    async def sweep(self, _interval: int = 0) -> list[str]:
        """One pass, if no other sweeper is in one; the keys of the jobs it handled. Takes
        the upkeep loop's argument (the interval) as SAQ's ``sweep`` does, and ignores it.
        """
        redis = self.queue.redis
        token = secrets.token_hex(8)
        if not await redis.set(self.lock_key, token, nx=True, ex=LOCK_SECONDS):
            return []
        try:
            swept = await self._pass()
        finally:
            await redis.eval(_RELEASE, 1, self.lock_key, token)  # pyright: ignore[reportGeneralTypeIssues, reportUnknownMemberType]
        if swept.keys:
            log.warning(
                "swept %d jobs: %d retried, %d closed (ended), %d failed (no attempt left)",
                len(swept.keys),
                len(swept.retried),
                len(swept.closed),
                len(swept.failed),
            )
        return swept.keys

    async def _pass(self) -> Swept:
        jobs = await self._lost_jobs()
        swept = Swept([], [], [])
        if not jobs:
            return swept
        queue = self.queue
        ended = await self.hooks.ended(jobs) if self.hooks else set[str]()
        alive = await self._live_workers(jobs)
        waited = [job for job in jobs if job.worker_id in alive and job.key not in ended]
        # A live worker is asked to stop its stuck jobs, all at once; a dead one is not.
        await asyncio.gather(*(self._abort(job) for job in waited))
        for job in jobs:
            if job.key in ended:
                await queue.finish(job, Status.ABORTED, error=ENDED)
                swept.closed.append(job.key)
            elif job.retryable:
                await queue.retry(job, error=SWEPT)
                swept.retried.append(job.key)
            else:
                await queue.finish(job, Status.ABORTED, error=SWEPT)
                if self.hooks:
                    await self.hooks.gave_up(job, SWEPT)
                swept.failed.append(job.key)
        return swept

    async def _lost_jobs(self) -> list[Job]:
        """The active list's jobs that need handing back: active ones past their timeout or
        heartbeat (SAQ's ``stuck``), and unmarked ones seen for ``SETTLE`` seconds; ids whose
        record is gone are dropped from the lists.
        """
        queue = self.queue
        redis = queue.redis
        ids = cast("list[bytes]", await redis.lrange(queue.namespace("active"), 0, -1))  # pyright: ignore[reportGeneralTypeIssues]
        if not ids:
            return []
        lost: list[Job] = []
        seen_at = time.monotonic()
        unmarked, self._unmarked = self._unmarked, {}
        for job_id, data in zip(ids, await redis.mget(ids), strict=True):
            job = queue.deserialize(data)
            if job is None:
                await self._drop(job_id.decode())
            elif job.status in {Status.ACTIVE, Status.ABORTING}:
                if job.stuck:
                    lost.append(job)
            elif seen_at - unmarked.get(job.id, seen_at) >= SETTLE:
                lost.append(job)
            else:
                self._unmarked[job.id] = unmarked.get(job.id, seen_at)
        return lost

    async def _drop(self, job_id: str) -> None:
        """Remove the id of a job whose record expired or was deleted from the lists."""
        async with self.queue.redis.pipeline(transaction=True) as pipe:
            pipe.lrem(self.queue.namespace("active"), 0, job_id)  # pyright: ignore[reportUnusedCoroutine]
            pipe.zrem(self.queue.namespace("incomplete"), job_id)  # pyright: ignore[reportUnusedCoroutine]
            await pipe.execute()
        log.info("swept missing job %s", job_id)

    async def _live_workers(self, jobs: list[Job]) -> set[str]:
        """The ids of the jobs' workers whose worker-info entry (SAQ's worker heartbeat,
        written every ``worker_info`` seconds with a TTL one second longer) still exists.
        """
        workers = sorted({job.worker_id for job in jobs if job.worker_id})
        if not workers:
            return set()
        keys = [self.queue.namespace(f"worker_info:{worker}") for worker in workers]
        found = await self.queue.redis.mget(keys)
        return {worker for worker, info in zip(workers, found, strict=True) if info is not None}

    async def _abort(self, job: Job) -> None:
        """Ask the job's live worker to stop it; wait up to ``ABORT_WAIT`` for it to."""
        key = job.key
        await self.queue.abort(job, error=SWEPT)
        try:
            await job.refresh(ABORT_WAIT)
        except TimeoutError:
            log.info("worker %s did not stop job %s in time", job.worker_id, key)
        except RuntimeError:  # the job's record is gone meanwhile
            return
