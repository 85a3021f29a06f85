"""Limits on abuse: a per-user rate limit on new exports, shared by every API replica."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from litestar.exceptions import TooManyRequestsException
from litestar.middleware.rate_limit import (
    DURATION_VALUES,
    CacheObject,
    RateLimitConfig,
    RateLimitMiddleware,
)
from redis.exceptions import RedisError

if TYPE_CHECKING:
    from litestar import Request
    from litestar.stores.base import Store
    from litestar.types import Receive, Scope, Send

log = logging.getLogger(__name__)

RATE_LIMIT_STORE = "rate_limit"
MAX_BODY_BYTES = 2 * 1024 * 1024
# The limiter waits no longer than this for Redis before letting the request through.
STORE_WAIT = 0.5


class ExportRateLimitMiddleware(RateLimitMiddleware):
    """Litestar's limiter, with ``Retry-After`` on a 429 as HTTP clients expect, and the
    limit and its setting named in the refusal. It fails open: while Redis is down exports are
    still accepted (their records wait in the outbox), unlimited, rather than refused by the
    limiter in front of them.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Litestar's limiter; its bare 429 gets a message that names the limit."""
        try:
            await super().__call__(scope, receive, send)
        except TooManyRequestsException as error:
            detail = (
                f"at most {self.max_requests} new exports per minute per user "
                "(VITAE_EXPORTS_PER_MINUTE); retry after `Retry-After` seconds"
            )
            raise TooManyRequestsException(
                detail=detail,
                headers=error.headers,
                extra=[{"key": "exports", "message": detail}],
            ) from None

    async def retrieve_cached_history(self, key: str, store: Store) -> CacheObject:
        """The user's recent requests; none while the store does not answer."""
        try:
            async with asyncio.timeout(STORE_WAIT):
                return await super().retrieve_cached_history(key, store)
        except (RedisError, OSError) as error:  # TimeoutError is an OSError
            log.warning("rate limit not checked, its store is unavailable: %s", error)
            return CacheObject(history=[], reset=int(time.time()) + DURATION_VALUES[self.unit])

    async def set_cached_history(self, key: str, cache_object: CacheObject, store: Store) -> None:
        """Count this request; skipped while the store does not answer."""
        try:
            async with asyncio.timeout(STORE_WAIT):
                await super().set_cached_history(key, cache_object, store)
        except (RedisError, OSError) as error:
            log.warning("rate limit not counted, its store is unavailable: %s", error)

    def create_response_headers(self, cache_object: CacheObject) -> dict[str, str]:
        """The RateLimit headers plus ``Retry-After`` (seconds until the window resets)."""
        headers = super().create_response_headers(cache_object)
        headers["Retry-After"] = str(max(int(headers[self.config.rate_limit_reset_header_key]), 1))
        return headers


def _user_id(request: Request[Any, Any, Any]) -> str:
    """Limits count per authenticated user, not per address (replicas sit behind proxies)."""
    return f"user:{request.user.id}"


def export_rate_limit(per_minute: int) -> RateLimitConfig:
    """The limit on ``POST /api/exports`` (0 turns it off)."""
    return RateLimitConfig(
        rate_limit=("minute", max(per_minute, 1)),
        identifier_for_request=_user_id,
        check_throttle_handler=lambda request: per_minute > 0 and request.method == "POST",
        middleware_class=ExportRateLimitMiddleware,
        store=RATE_LIMIT_STORE,
    )
