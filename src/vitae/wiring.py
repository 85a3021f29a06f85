"""Which process builds which services: the one place that opens clients and wires services.

Every service gets each collaborator it needs as a required argument, and a side effect that
crosses domains is a hook given here:

- a résumé's deletion cancels its exports (``ResumeService.on_delete``);
- an export's end queues its webhooks (``ExportService.on_end``), and a purged export's
  delivery log is deleted with it (``ExportService.on_purge``);
- a ``callbackUrl`` is checked, and its secret created, by the webhooks
  (``ExportService.callbacks``).

The processes build these graphs:

- the API (``api``, in the app's lifespan): every service, the event hub and the caches of
  one app instance (users, rendered events, template previews);
- the render worker (``render_worker``, in its startup hook): every service, the renderer and
  the cache of users' webhook endpoints;
- the delivery worker (``delivery_worker``): every service, the HTTP client and the per-host
  slots that deliveries share;
- one-off commands (``command``, ``probe``): the users, or the clients a readiness probe needs.
"""

from __future__ import annotations

import asyncio
import contextlib
from contextlib import asynccontextmanager
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import httpx
from redis.asyncio import Redis

from vitae import db
from vitae.exports.events import ExportEvents
from vitae.exports.hub import EventHub
from vitae.exports.jobs import WorkerDeps
from vitae.exports.leases import StreamLeases
from vitae.exports.models import Export
from vitae.exports.service import ExportService
from vitae.exports.stream import RenderedEvents
from vitae.gallery.previews import PreviewCache
from vitae.queue import open_delivery_queue, open_queue
from vitae.readiness import check_dependencies
from vitae.rendering import Renderer, list_templates
from vitae.resumes.models import Resume
from vitae.resumes.service import ResumeService
from vitae.storage import open_storage
from vitae.users.auth import UserCache
from vitae.users.deleted import DeletedUsers
from vitae.users.models import User
from vitae.users.service import UserService
from vitae.webhooks.delivery import Deliverer, HostSlots
from vitae.webhooks.jobs import DeliveryDeps
from vitae.webhooks.models import Delivery, WebhookEndpoint
from vitae.webhooks.service import EndpointCache, WebhookService

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence

    from odmantic import AIOEngine
    from saq.queue.redis import RedisQueue

    from vitae.rendering import TemplateInfo
    from vitae.settings import Settings
    from vitae.storage import Storage

MODELS = (User, Resume, Export, WebhookEndpoint, Delivery)
# A backing server that is already gone must not hold up a shutdown longer than this.
CLOSE_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class Services:
    """Every domain service of a process, each with all of its collaborators."""

    users: UserService
    webhooks: WebhookService
    exports: ExportService
    resumes: ResumeService


def build_services(
    settings: Settings,
    engine: AIOEngine,
    *,
    redis: Redis,
    queue: RedisQueue,
    deliveries: RedisQueue,
    storage: Storage,
    templates: Sequence[TemplateInfo],
    endpoints: EndpointCache | None = None,
) -> Services:
    """The service graph, the same in every process; ``redis`` carries export events and
    webhook changes, ``queue`` takes render jobs and ``deliveries`` webhook attempts;
    ``endpoints`` (the render worker's) spares dispatch its read of a user's endpoints.
    """
    users = UserService(engine)
    webhooks = WebhookService(engine, settings, queue=deliveries, redis=redis, cache=endpoints)
    exports = ExportService(
        engine,
        settings,
        queue=queue,
        storage=storage,
        events=ExportEvents(redis),
        templates=templates,
        callbacks=webhooks,
        on_end=[webhooks.dispatch],
        on_purge=[webhooks.forget],
    )
    resumes = ResumeService(
        engine,
        templates=[template.name for template in templates],
        on_delete=exports.cancel_pending_by_resume_id,
        per_user=settings.quotas.resumes_per_user,
    )
    return Services(users=users, webhooks=webhooks, exports=exports, resumes=resumes)


def _mongodb_url(settings: Settings) -> str:
    settings.require("mongodb_url")
    assert settings.mongodb_url is not None  # noqa: S101  (narrowed by require)
    return settings.mongodb_url


@asynccontextmanager
async def _database(settings: Settings, models: Sequence[type]) -> AsyncGenerator[AIOEngine]:
    """An engine whose collections and indexes exist; closed on exit."""
    engine = db.open_engine(
        _mongodb_url(settings), settings.mongodb_database, settings.mongodb_timeout
    )
    try:
        await db.prepare(engine, models)
        yield engine
    finally:
        db.close_engine(engine)


@asynccontextmanager
async def _storage(settings: Settings) -> AsyncGenerator[Storage]:
    storage = await open_storage(settings)
    try:
        yield storage
    finally:
        await storage.close()


async def close_quietly(close: Callable[[], Awaitable[object]]) -> None:
    """Close a client whose server may be gone: a failure or a hang does not stop a shutdown."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(CLOSE_TIMEOUT):
            await close()


# -- The API ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApiGraph:
    """What one app instance holds in its state (``request.app.state.<field>``)."""

    engine: AIOEngine
    queue: RedisQueue
    storage: Storage
    hub: EventHub
    templates: list[TemplateInfo]
    services: Services
    user_cache: UserCache
    rendered: RenderedEvents
    previews: PreviewCache
    stream_leases: StreamLeases

    def state(self) -> dict[str, object]:
        """The fields as the app's state takes them."""
        return {field.name: getattr(self, field.name) for field in fields(self)}


@asynccontextmanager
async def api(settings: Settings, redis: Redis) -> AsyncGenerator[ApiGraph]:
    """The API's clients and services; ``redis`` is the app's own client (events, rate
    limits), which the app closes.
    """
    settings.require("redis_url", "mongodb_url")
    assert settings.redis_url is not None  # noqa: S101  (narrowed by require)
    async with contextlib.AsyncExitStack() as stack:
        engine = await stack.enter_async_context(_database(settings, MODELS))
        queue = open_queue(settings)
        storage = await stack.enter_async_context(_storage(settings))
        await queue.connect()
        stack.push_async_callback(close_quietly, queue.disconnect)
        # The hub's own client: every open stream is multiplexed over its one subscription.
        hub = EventHub(Redis.from_url(settings.redis_url, socket_connect_timeout=5))
        await hub.start()
        stack.push_async_callback(hub.stop)  # ends open streams cleanly
        templates = list_templates(settings.templates_dir)
        services = build_services(
            settings,
            engine,
            redis=redis,
            queue=queue,
            deliveries=open_delivery_queue(settings, queue.redis),
            storage=storage,
            templates=templates,
        )
        yield ApiGraph(
            engine=engine,
            queue=queue,
            storage=storage,
            hub=hub,
            templates=templates,
            services=services,
            user_cache=UserCache(services.users, DeletedUsers(redis)),
            rendered=RenderedEvents(),
            previews=PreviewCache(),
            # A lease outlives a few heartbeats: a live stream renews it well before it lapses.
            stream_leases=StreamLeases(
                redis,
                per_user=settings.quotas.streams_per_user,
                lease_seconds=max(60.0, 4 * settings.sse_heartbeat),
            ),
        )


# -- The workers --------------------------------------------------------------------------


@asynccontextmanager
async def render_worker(settings: Settings, queue: RedisQueue) -> AsyncGenerator[WorkerDeps]:
    """The render worker's clients and services; ``queue`` is the worker's own."""
    async with contextlib.AsyncExitStack() as stack:
        engine = await stack.enter_async_context(_database(settings, MODELS))
        storage = await stack.enter_async_context(_storage(settings))
        renderer = Renderer(settings.templates_dir, settings.render)
        stack.callback(renderer.close)
        # Every export's end dispatches its webhooks: the users' endpoints are cached here.
        endpoints = EndpointCache(queue.redis)
        await endpoints.start()
        stack.push_async_callback(endpoints.stop)
        services = build_services(
            settings,
            engine,
            redis=queue.redis,
            queue=queue,
            deliveries=open_delivery_queue(settings, queue.redis),
            storage=storage,
            templates=list_templates(settings.templates_dir),
            endpoints=endpoints,
        )
        yield WorkerDeps(
            settings=settings,
            engine=engine,
            storage=storage,
            renderer=renderer,
            queue=queue,
            exports=services.exports,
        )


@asynccontextmanager
async def delivery_worker(settings: Settings, queue: RedisQueue) -> AsyncGenerator[DeliveryDeps]:
    """The delivery worker's clients and services; ``queue`` is the worker's own (deliveries).
    Payloads show exports as GET does, so it has the export service too.
    """
    hooks = settings.webhooks
    async with contextlib.AsyncExitStack() as stack:
        engine = await stack.enter_async_context(_database(settings, MODELS))
        storage = await stack.enter_async_context(_storage(settings))
        client = httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,
            timeout=hooks.timeout,
            limits=httpx.Limits(max_connections=hooks.concurrency, max_keepalive_connections=0),
        )
        stack.push_async_callback(client.aclose)
        services = build_services(
            settings,
            engine,
            redis=queue.redis,
            queue=open_queue(settings, queue.redis),
            deliveries=queue,
            storage=storage,
            templates=list_templates(settings.templates_dir),
        )
        deliverer = Deliverer(
            services.webhooks, services.exports, client, HostSlots(hooks.per_host)
        )
        yield DeliveryDeps(webhooks=services.webhooks, deliverer=deliverer)


# -- One-off commands ---------------------------------------------------------------------


@asynccontextmanager
async def command(settings: Settings) -> AsyncGenerator[UserService]:
    """What ``vitae users create`` and the dev launcher's token need: the users."""
    async with _database(settings, (User,)) as engine:
        yield UserService(engine)


@asynccontextmanager
async def user_deletion(settings: Settings) -> AsyncGenerator[tuple[UserService, DeletedUsers]]:
    """What ``vitae users delete`` needs: the users, and Redis to tell every API process."""
    settings.require("redis_url", "mongodb_url")
    assert settings.redis_url is not None  # noqa: S101  (narrowed by require)
    redis = Redis.from_url(settings.redis_url, socket_connect_timeout=5)
    try:
        async with _database(settings, (User,)) as engine:
            yield UserService(engine), DeletedUsers(redis)
    finally:
        await close_quietly(redis.aclose)


async def probe(settings: Settings) -> dict[str, str]:
    """Probe MongoDB, Redis and the storage with the process's own settings."""
    settings.require("redis_url", "mongodb_url")
    engine = db.open_engine(
        _mongodb_url(settings), settings.mongodb_database, settings.mongodb_timeout
    )
    queue = open_queue(settings)
    storage = await open_storage(settings)
    try:
        return await check_dependencies(engine, queue.redis, storage)
    finally:
        await storage.close()
        with contextlib.suppress(Exception):  # a dead Redis is the answer, not an error
            await queue.disconnect()
        db.close_engine(engine)
