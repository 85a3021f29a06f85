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
from typing import TYPE_CHECKING, Any, Literal, override

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
        # The level check first: a line below the level costs no processing at all.
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
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
    saq = logging.getLogger("saq")
    for existing in [f for f in saq.filters if isinstance(f, SaqPerJobLines)]:
        saq.removeFilter(existing)
    if level > logging.DEBUG:
        saq.addFilter(SaqPerJobLines())


class SaqPerJobLines(logging.Filter):
    """Drops SAQ's INFO lines of every job (enqueuing, processing, finished): like request
    lines they are debug detail, and cost ≈ 2 ms of CPU per export. Its worker-start line
    goes too: a 700-character repr of the queue's Redis client, where "worker ready" says
    what a person needs. Its other lines (stop, retries, sweeps, aborts) and its warnings
    and errors are kept.
    """

    LINES = frozenset({"Enqueuing %s", "Processing %s", "Finished %s", "Worker starting: %s"})

    @override
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno <= logging.INFO and record.msg in self.LINES)


def log_level(name: str | None) -> int:
    """``VITAE_LOG_LEVEL`` (``debug``, ``info``, ``warning``, ``error``); INFO by default."""
    level = logging.getLevelNamesMapping().get((name or "INFO").upper())
    if level is None:
        raise ValueError(f"unknown log level {name!r}; use debug, info, warning or error")
    return level


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


def request_level(status: int) -> int:
    """Successful requests are logged at DEBUG (one line each would cost more CPU than
    serving many of them), refused ones at INFO, server errors at WARNING.
    """
    if status >= 500:  # noqa: PLR2004  (HTTP status classes)
        return logging.WARNING
    return logging.INFO if status >= 400 else logging.DEBUG  # noqa: PLR2004


class RequestLogMiddleware:
    """An ASGI middleware: a request id (``X-Request-ID``, or a new one) bound for every log
    line of the request, echoed in the response, and one line per request (at the level
    ``request_level`` gives its status).
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
                log.log(
                    request_level(status),
                    "request",
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 1),
                )
