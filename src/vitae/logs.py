"""Structured logs for every process: JSON in production, readable in a terminal.

Context (request id, user id, export id, job attempt) is bound in contextvars and added to
every line, including those of Litestar, SAQ and uvicorn. Résumé content and tokens are
never logged: request lines carry the path without its query string (stream tokens and
signed links live there), and uvicorn's own access log is off.
"""

from __future__ import annotations

import logging
import sys
import time
import uuid
from typing import TYPE_CHECKING, Any, Literal

import structlog
from structlog.contextvars import (
    bind_contextvars,
    bound_contextvars,
    merge_contextvars,
)

if TYPE_CHECKING:
    from litestar.config.app import AppConfig
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

type LogFormat = Literal["json", "console"]

log = structlog.get_logger("vitae.http")


def configure_logging(fmt: LogFormat | None = None, level: int = logging.INFO) -> None:
    """Route structlog and the standard library through one renderer."""
    fmt = fmt or ("console" if sys.stderr.isatty() else "json")
    shared: list[Any] = [
        merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    # Its lines carry query strings, where stream tokens and signed links live.
    logging.getLogger("uvicorn.access").disabled = True
    for noisy in ("httpx", "botocore", "aiobotocore", "pymongo"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def log_requests_first(config: AppConfig) -> AppConfig:
    """An ``on_app_init`` hook, listed after authentication's: request logging becomes the
    outermost middleware, so refused requests are logged too and every line of a request,
    the authenticated user's included, carries its request id.
    """
    config.middleware.insert(0, RequestLogMiddleware)
    return config


def bind_user(user_id: str) -> None:
    """Add the authenticated user to the current request's log context."""
    bind_contextvars(user_id=user_id)


class RequestLogMiddleware:
    """An ASGI middleware: a request id (``X-Request-ID``, or a new one) bound for every log
    line of the request, echoed in the response, and one line per request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        with bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                log.info(
                    "request",
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 1),
                )
