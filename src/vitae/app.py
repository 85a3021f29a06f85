"""The one place that builds the HTTP API: plugins, route groups, errors and lifespan."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.plugins.prometheus import PrometheusConfig
from litestar.stores.redis import RedisStore
from pymongo.errors import ConnectionFailure
from redis.exceptions import RedisError

from vitae import __version__, wiring
from vitae.admin import queue_view
from vitae.errors import VitaeError
from vitae.exports.controller import ExportController
from vitae.exports.stream import all_export_events, export_events
from vitae.gallery import GALLERY_ROUTES
from vitae.http import (
    BODY_ERRORS,
    add_security_headers,
    backend_down_handler,
    body_error_handler,
    check_request,
    http_error_handler,
    vitae_error_handler,
)
from vitae.limits import MAX_BODY_BYTES, RATE_LIMIT_STORE, export_rate_limit
from vitae.logs import log_requests_first
from vitae.metrics_port import metrics_server
from vitae.netpolicy import UrlPolicy
from vitae.queue import redis_client
from vitae.resumes.controller import ResumeController
from vitae.settings import Settings, get_settings
from vitae.system import download_file, health, ready
from vitae.users.auth import build_jwt_auth
from vitae.users.controller import me
from vitae.web import web_handlers
from vitae.web.docs import openapi_config
from vitae.webhooks.controller import WebhookController, export_deliveries

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    from litestar.types import Scope

log = logging.getLogger("vitae")
# Paths are grouped by route template, so the label set stays bounded (no ids).
# Errors of an unreachable Redis or store: answered 503 with ``Retry-After``.
BACKEND_DOWN = (RedisError, ConnectionFailure)
metrics = PrometheusConfig(app_name="vitae", prefix="vitae_http", group_path=True)


async def log_exception(error: Exception, scope: Scope) -> None:
    """An unexpected error is logged with its traceback; the client gets a plain 500. A
    backend that does not answer (answered 503) is one warning line: its traceback says
    nothing an operator can act on, and an outage would flood the log with them.
    """
    if isinstance(error, BACKEND_DOWN):
        log.warning("%s on %s: %s", type(error).__name__, scope.get("path"), error)
    elif not isinstance(error, (VitaeError, HTTPException, *BODY_ERRORS)):
        log.error("unhandled error on %s", scope.get("path"), exc_info=error)


def create_app(settings: Settings | None = None) -> Litestar:
    """Build the API. Connections open in the lifespan, so building is cheap and pure."""
    settings = settings or get_settings()
    settings.require("redis_url", "mongodb_url")
    jwt_secret = settings.require_signing_secret()
    assert settings.redis_url is not None  # noqa: S101
    UrlPolicy.from_settings(settings.webhooks)  # a malformed allowed network stops the start
    # One Redis client for the export events this replica publishes and receives; the hub
    # multiplexes every open stream over one pub/sub connection.
    redis = redis_client(settings.redis_url)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None]:
        try:
            with metrics_server(settings.host, settings.metrics_port):
                async with wiring.api(settings, redis) as graph:
                    app.state.update(graph.state())
                    log.info(
                        "API ready: storage=%s, templates=%s",
                        settings.storage,
                        settings.templates_dir,
                    )
                    yield
        finally:
            await wiring.close_quietly(redis.aclose)

    return Litestar(
        route_handlers=[
            Router(
                "/",
                route_handlers=[ExportController],
                middleware=[export_rate_limit(settings.exports_per_minute).middleware],
            ),
            export_events,
            all_export_events,
            ResumeController,
            WebhookController,
            export_deliveries,
            me,
            queue_view,
            *GALLERY_ROUTES,
            health,
            ready,
            download_file,
            *web_handlers(),
        ],
        lifespan=[lifespan],
        stores={RATE_LIMIT_STORE: RedisStore(redis, namespace="vitae:rate-limit")},
        request_max_body_size=MAX_BODY_BYTES,
        middleware=[metrics.middleware],
        after_exception=[log_exception],
        before_send=[add_security_headers],
        before_request=check_request(settings.quotas.max_header_bytes),
        state=State({"settings": settings}),
        on_app_init=[build_jwt_auth(jwt_secret).on_app_init, log_requests_first],
        exception_handlers={
            VitaeError: vitae_error_handler,
            HTTPException: http_error_handler,
            **dict.fromkeys(BODY_ERRORS, body_error_handler),
            **dict.fromkeys(BACKEND_DOWN, backend_down_handler),
        },
        openapi_config=openapi_config(version=__version__),
        # Logging is configured once per process by the CLI (`vitae.logs`), not by the app.
        logging_config=None,
    )
