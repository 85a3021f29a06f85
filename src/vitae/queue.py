"""The export job queue (SAQ on Redis): its name, its options and how a job is enqueued."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from saq import Job
from saq.queue.redis import RedisQueue

if TYPE_CHECKING:
    from vitae.settings import JobSettings, Settings

RENDER_EXPORT = "render_export"


def redis_client(url: str) -> Redis:
    """A Redis client that survives a server restart: pooled connections that went stale are
    retried on a fresh one instead of failing the first command after the restart.
    """
    return Redis.from_url(
        url,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=3),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        health_check_interval=10,
        socket_connect_timeout=5,
    )


def _redis(settings: Settings, redis: Redis | None) -> Redis:
    if redis is not None:
        return redis
    settings.require("redis_url")
    assert settings.redis_url is not None  # noqa: S101  (narrowed by require)
    return redis_client(settings.redis_url)


def open_queue(settings: Settings, redis: Redis | None = None) -> RedisQueue:
    """The export queue; call ``connect()`` before use. With ``redis``, it shares that client."""
    return RedisQueue(_redis(settings, redis), name=settings.queue_name)


def delivery_queue_name(settings: Settings) -> str:
    """Webhook deliveries have their own queue, so they never wait behind renders."""
    return f"{settings.queue_name}-webhooks"


def open_delivery_queue(settings: Settings, redis: Redis | None = None) -> RedisQueue:
    """The webhook delivery queue; with ``redis``, it shares that client (enqueue only)."""
    return RedisQueue(_redis(settings, redis), name=delivery_queue_name(settings))


def export_job(key: str, kwargs: dict[str, Any], jobs: JobSettings, *, attempts: int = 0) -> Job:
    """A render job. Its key is the export id, so enqueueing one export twice is a no-op;
    ``attempts`` already spent (by a lost job of the same export) count towards the limit.
    """
    return Job(
        function=RENDER_EXPORT,
        kwargs=kwargs,
        key=key,
        retries=jobs.attempts,
        retry_delay=jobs.retry_delay,
        retry_backoff=True,
        timeout=jobs.timeout,
        heartbeat=jobs.heartbeat,
        ttl=jobs.retention,
        attempts=attempts,
    )
