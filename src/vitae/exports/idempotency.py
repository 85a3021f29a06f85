"""``Idempotency-Key`` on ``POST /api/exports``: a retried request gets the same export.

The first request with a key claims it in Redis with its body's fingerprint; a repeat with the
same body gets the export the first one created, a repeat with another body gets 422, and a
repeat while the first is still being handled gets 409. Keys live for a day.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from vitae.errors import ConflictError, UnprocessableError

if TYPE_CHECKING:
    from redis.asyncio import Redis

PENDING = "pending"
TTL = 86_400


def fingerprint(body: bytes) -> str:
    """A digest of the canonical request body."""
    return hashlib.sha256(body).hexdigest()


class IdempotencyKeys:
    """Claims and answers for idempotency keys, per user."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    @staticmethod
    def _slot(user_id: str, key: str) -> str:
        return f"vitae:idempotency:{user_id}:{hashlib.sha256(key.encode()).hexdigest()}"

    async def claim(self, user_id: str, key: str, digest: str) -> str | None:
        """``None`` if this request may proceed; the earlier export's id if it already ran."""
        slot = self._slot(user_id, key)
        if await self.redis.set(slot, f"{digest} {PENDING}", nx=True, ex=TTL):
            return None
        stored: bytes | None = await self.redis.get(slot)  # pyright: ignore[reportAssignmentType]
        if stored is None:  # expired between the two calls: try once more
            return await self.claim(user_id, key, digest)
        stored_digest, export_id = stored.decode().split(" ", 1)
        if stored_digest != digest:
            raise UnprocessableError(
                "this Idempotency-Key was used with a different request body",
                field="Idempotency-Key",
            )
        if export_id == PENDING:
            raise ConflictError(
                "a request with this Idempotency-Key is still being handled",
                field="Idempotency-Key",
            )
        return export_id

    async def record(self, user_id: str, key: str, digest: str, export_id: str) -> None:
        """Remember which export the key produced."""
        await self.redis.set(self._slot(user_id, key), f"{digest} {export_id}", ex=TTL)

    async def release(self, user_id: str, key: str) -> None:
        """Forget a claim whose request failed, so the client can retry with the same key."""
        await self.redis.delete(self._slot(user_id, key))
