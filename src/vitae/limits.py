"""Limits on abuse: a per-user rate limit on new exports, shared by every API replica."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar.exceptions import TooManyRequestsException
from litestar.middleware.rate_limit import CacheObject, RateLimitConfig, RateLimitMiddleware

if TYPE_CHECKING:
    from litestar import Request
    from litestar.types import Receive, Scope, Send

RATE_LIMIT_STORE = "rate_limit"
MAX_BODY_BYTES = 2 * 1024 * 1024


class ExportRateLimitMiddleware(RateLimitMiddleware):
    """Litestar's limiter, with ``Retry-After`` on a 429 as HTTP clients expect, and the
    limit and its setting named in the refusal.
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
