"""How many event streams each user holds open, counted across every API process in Redis.

Each open stream holds a lease: a member of the user's sorted set whose score is when it
lapses. A stream renews its lease while it runs and drops it when it ends; a process that dies
leaves leases that lapse by themselves, so the count heals within ``lease_seconds``. Taking a
lease is one script (prune, count, add), so concurrent openings cannot overshoot the limit.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from vitae.errors import QuotaExceededError

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    from litestar.response import ServerSentEventMessage
    from redis.asyncio import Redis

PREFIX = "vitae:streams:"
# KEYS[1] the user's set; ARGV: now, limit, member, lapses at, key ttl.
TAKE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


class StreamLeases:
    """At most ``per_user`` open event streams per user, over every API replica."""

    def __init__(self, redis: Redis, *, per_user: int, lease_seconds: float) -> None:
        self.redis = redis
        self.per_user = per_user
        self.lease_seconds = lease_seconds
        self._take = redis.register_script(TAKE)

    async def take(self, user_id: str) -> Lease:
        """A lease for a new stream, or a 429 naming the limit."""
        lease = Lease(self, PREFIX + user_id, uuid.uuid4().hex)
        now = time.time()
        taken = await self._take(
            keys=[lease.key],
            args=[now, self.per_user, lease.member, now + self.lease_seconds, self.ttl()],
        )
        if not taken:
            raise QuotaExceededError(
                f"at most {self.per_user} open event streams per user "
                "(VITAE_STREAMS_PER_USER); close one first",
                field="streams",
            )
        lease.renewed = now
        return lease

    def ttl(self) -> int:
        """How long the user's set outlives its last lease, in whole seconds."""
        return int(self.lease_seconds) + 1


class Lease:
    """One open stream's hold on its user's count."""

    def __init__(self, leases: StreamLeases, key: str, member: str) -> None:
        self.leases = leases
        self.key = key
        self.member = member
        self.renewed = 0.0

    async def renew(self) -> None:
        """Push the lapse back, at most every third of the lease (streams renew often)."""
        now = time.time()
        if now - self.renewed < self.leases.lease_seconds / 3:
            return
        self.renewed = now
        redis = self.leases.redis
        with contextlib.suppress(RedisError, OSError):  # the lease lapses; the hub reconnects
            await redis.zadd(self.key, {self.member: now + self.leases.lease_seconds}, xx=True)
            await redis.expire(self.key, self.leases.ttl())

    async def release(self) -> None:
        """Give the lease back (it lapses anyway if Redis cannot be told)."""
        with contextlib.suppress(RedisError, OSError):
            await self.leases.redis.zrem(self.key, self.member)


async def leased(
    messages: AsyncGenerator[ServerSentEventMessage | None], lease: Lease
) -> AsyncGenerator[ServerSentEventMessage]:
    """The stream's messages while it holds ``lease``: renewed as they flow, released when
    the stream ends or its client goes away. ``None`` (a stream's "ready") is not sent.
    """
    try:
        async for message in messages:
            await lease.renew()
            if message is not None:
                yield message
    finally:
        await messages.aclose()
        await lease.release()
