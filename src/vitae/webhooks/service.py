"""Webhook endpoints, the user's callback secret, and turning an export's end into deliveries.

Dispatch records one delivery per destination and queues its first attempt; the calls
themselves happen in delivery jobs (``vitae.webhooks.delivery``) on their own queue, never in a
request or a render job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from odmantic.bson import ObjectId as ModelId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError
from redis.exceptions import RedisError
from saq import Job
from saq.job import Status

from vitae.errors import ConflictError, InvalidRequestError, NotFoundError
from vitae.exports.models import TERMINAL, Export, ExportStatus
from vitae.netpolicy import RefusedURLError, UrlPolicy
from vitae.timeutil import as_utc, utcnow
from vitae.users.models import User
from vitae.webhooks.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    EventType,
    WebhookEndpoint,
    delivery_id,
)
from vitae.webhooks.signing import new_secret

if TYPE_CHECKING:
    from odmantic import AIOEngine
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub
    from saq import Queue

    from vitae.settings import Settings
    from vitae.webhooks.schemas import WebhookCreate, WebhookUpdate

log = logging.getLogger(__name__)

DELIVER_WEBHOOK = "deliver_webhook"
MAX_ENDPOINTS = 10
EVENT_OF = {
    ExportStatus.COMPLETED: EventType.COMPLETED,
    ExportStatus.FAILED: EventType.FAILED,
    ExportStatus.CANCELLED: EventType.CANCELLED,
}


def event_id(export: Export) -> str:
    """The terminal event's id: one per export, the same in every delivery and retry."""
    return f"evt_{export.id}_{export.version}"


def delivery_job(delivery: str, attempt: int, *, scheduled: int = 0, tag: str = "") -> Job:
    """The job of one attempt; keyed by the attempt, so queueing it twice is a no-op."""
    return Job(
        function=DELIVER_WEBHOOK,
        kwargs={"deliveryId": delivery, "attempt": attempt},
        key=f"{delivery}#{attempt}{tag}",
        scheduled=scheduled,
        # Retries here cover our own faults (a database hiccup); the receiver's are scheduled
        # by the delivery itself, with the webhook backoff.
        retries=3,
        retry_delay=1.0,
        retry_backoff=True,
        timeout=60,
        ttl=86_400,
    )


# Every process that changes a user's endpoints announces it here (the message is the user's
# id); processes holding an ``EndpointCache`` drop that user's entry.
ENDPOINTS_CHANNEL = "vitae:webhooks:changed"
# A cached entry is trusted this long at most (a bound on staleness should a change's
# announcement be lost: the reconciler records what dispatch missed meanwhile).
ENDPOINTS_TTL = 60.0
ENDPOINTS_CACHED = 10_000
RESUBSCRIBE_DELAY = 0.5
# A change is never held up by its announcement longer than this.
ANNOUNCE_WAIT = 1.0


class EndpointCache:
    """A process's copy of users' enabled endpoints, so that dispatching an export's end
    costs no store read for a user whose endpoints did not change (most users have none).

    It holds entries only while its subscription to ``ENDPOINTS_CHANNEL`` is confirmed: an
    announced change drops the user's entry, a lost subscription drops them all (and nothing
    is cached until it is back). A read that started before an announcement arrived is not
    kept (``generation``), so a change is never hidden by a read that raced it.
    """

    def __init__(
        self, redis: Redis, *, ttl: float = ENDPOINTS_TTL, size: int = ENDPOINTS_CACHED
    ) -> None:
        self.redis = redis
        self.ttl = ttl
        self.size = size
        self.generation = 0
        self._entries: OrderedDict[ObjectId, tuple[float, list[WebhookEndpoint]]] = OrderedDict()
        self._live = False
        self._task: asyncio.Task[None] | None = None

    @property
    def live(self) -> bool:
        """Whether announcements are being received (and so entries kept)."""
        return self._live

    async def start(self) -> None:
        """Subscribe and follow announcements until ``stop``."""
        self._task = asyncio.create_task(self._run(), name="vitae-endpoint-cache")

    async def stop(self) -> None:
        """Stop following; the cache holds nothing afterwards."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._forget_all()

    def get(self, user_id: ObjectId) -> list[WebhookEndpoint] | None:
        """The user's enabled endpoints if cached and fresh, else ``None``."""
        entry = self._entries.get(user_id)
        if entry is None:
            return None
        loaded, endpoints = entry
        if time.monotonic() - loaded > self.ttl:
            del self._entries[user_id]
            return None
        self._entries.move_to_end(user_id)
        return endpoints

    def put(self, user_id: ObjectId, endpoints: list[WebhookEndpoint], generation: int) -> None:
        """Keep what a read that began at ``generation`` found, unless a change arrived since."""
        if not self._live or generation != self.generation:
            return
        self._entries[user_id] = (time.monotonic(), endpoints)
        self._entries.move_to_end(user_id)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def forget(self, user_id: ObjectId) -> None:
        """Drop one user's entry (their endpoints changed)."""
        self.generation += 1
        self._entries.pop(user_id, None)

    def _forget_all(self) -> None:
        self.generation += 1
        self._entries.clear()

    async def _run(self) -> None:
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(ENDPOINTS_CHANNEL)
                await self._follow(pubsub)
            except (RedisError, OSError) as error:
                log.warning("the webhook endpoint cache lost its subscription: %s", error)
            finally:
                # Announcements may be missed from here on: keep nothing until subscribed.
                self._live = False
                self._forget_all()
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()
            await asyncio.sleep(RESUBSCRIBE_DELAY)

    async def _follow(self, pubsub: PubSub) -> None:
        while True:
            message = await pubsub.get_message(timeout=5.0)
            if message is None:
                continue
            kind, data = message.get("type"), message.get("data")
            user = data.decode(errors="replace") if isinstance(data, bytes) else ""
            if kind == "subscribe":
                # Confirmed: no announcement can be missed from here on. The client may also
                # have reconnected and subscribed again by itself (its retries), missing what
                # was announced meanwhile: what was kept before is dropped either way.
                self._forget_all()
                self._live = True
            elif kind == "message" and ObjectId.is_valid(user):
                self.forget(ObjectId(user))
            elif kind == "message":
                self._forget_all()  # not a user id: drop everything rather than guess


class WebhookService:
    """CRUD on a user's endpoints, and the dispatch of terminal events to deliveries.

    Every change to a user's endpoints is announced on ``ENDPOINTS_CHANNEL``; with a
    ``cache`` (the render worker's), dispatch reads the endpoints from it when it can.
    """

    def __init__(
        self,
        engine: AIOEngine,
        settings: Settings,
        *,
        queue: Queue,
        redis: Redis,
        cache: EndpointCache | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.queue = queue
        self.redis = redis
        self.cache = cache
        self.policy = UrlPolicy.from_settings(settings.webhooks)
        self.endpoints = engine.get_collection(WebhookEndpoint)
        self.deliveries = engine.get_collection(Delivery)

    # -- Endpoints --------------------------------------------------------------------------

    async def check_url(self, url: str, field: str) -> str:
        """A URL that may be called now, or a 400 naming the field and the reason."""
        try:
            await self.policy.resolve(url)
        except RefusedURLError as error:
            raise InvalidRequestError(f"{field} refused: {error.reason}", field=field) from None
        return url

    async def create(self, user_id: ObjectId, data: WebhookCreate) -> WebhookEndpoint:
        """Register an endpoint with a fresh secret."""
        url = await self.check_url(data.url, "url")
        if await self.endpoints.count_documents({"userId": user_id}) >= MAX_ENDPOINTS:
            raise ConflictError(f"at most {MAX_ENDPOINTS} webhook endpoints per user", field="url")
        endpoint = WebhookEndpoint(  # pyright: ignore[reportCallIssue]  (ODMantic generates the id)
            user_id=user_id,
            url=url,
            description=data.description,
            events=list(dict.fromkeys(data.events)) if data.events else list(EventType),
            secret=new_secret(),
        )
        saved = await self.engine.save(endpoint)
        await self._announce(user_id)
        return saved

    async def list(self, user_id: ObjectId) -> list[WebhookEndpoint]:
        """The user's endpoints, newest first."""
        docs = self.endpoints.find({"userId": user_id}).sort([("createdAt", -1), ("_id", -1)])
        return [WebhookEndpoint.model_validate_doc(doc) async for doc in docs]

    async def get(self, user_id: ObjectId, endpoint_id: str) -> WebhookEndpoint:
        """One of the user's endpoints; another user's is not found."""
        if not ObjectId.is_valid(endpoint_id):
            raise NotFoundError("no such webhook", field="id")
        doc = await self.endpoints.find_one({"_id": ObjectId(endpoint_id), "userId": user_id})
        if doc is None:
            raise NotFoundError("no such webhook", field="id")
        return WebhookEndpoint.model_validate_doc(doc)

    async def update(
        self, user_id: ObjectId, endpoint_id: str, data: WebhookUpdate
    ) -> WebhookEndpoint:
        """Change the URL, description, events or whether it is enabled."""
        endpoint = await self.get(user_id, endpoint_id)
        changes: dict[str, Any] = {"updatedAt": utcnow()}
        if data.url is not None:
            changes["url"] = await self.check_url(data.url, "url")
        if data.description is not None:
            changes["description"] = data.description
        if data.events is not None:
            changes["events"] = [e.value for e in dict.fromkeys(data.events)]
        if data.enabled is not None:
            changes["enabled"] = data.enabled
        return await self._set(endpoint, changes)

    async def rotate_secret(self, user_id: ObjectId, endpoint_id: str) -> str:
        """Replace an endpoint's secret; pending retries are signed with the new one."""
        endpoint = await self.get(user_id, endpoint_id)
        secret = new_secret()
        await self._set(endpoint, {"secret": secret, "updatedAt": utcnow()})
        return secret

    async def delete(self, user_id: ObjectId, endpoint_id: str) -> None:
        """Remove an endpoint; its pending deliveries fail at their next attempt."""
        endpoint = await self.get(user_id, endpoint_id)
        await self.endpoints.delete_one({"_id": endpoint.id})
        await self._announce(user_id)

    async def _set(self, endpoint: WebhookEndpoint, changes: dict[str, Any]) -> WebhookEndpoint:
        doc = await self.endpoints.find_one_and_update(
            {"_id": endpoint.id}, {"$set": changes}, return_document=ReturnDocument.AFTER
        )
        if doc is None:
            raise NotFoundError("no such webhook", field="id")
        await self._announce(endpoint.user_id)
        return WebhookEndpoint.model_validate_doc(doc)

    async def _announce(self, user_id: ObjectId) -> None:
        """Tell every process's endpoint cache that this user's endpoints changed. If Redis
        does not take it, caches keep the old list for at most their TTL, and the reconciler
        records the deliveries dispatch missed meanwhile.
        """
        try:
            async with asyncio.timeout(ANNOUNCE_WAIT):
                await self.redis.publish(ENDPOINTS_CHANNEL, str(user_id))  # pyright: ignore[reportUnknownMemberType]
        except (RedisError, OSError) as error:  # TimeoutError is an OSError
            log.warning("could not announce a change to %s's webhooks: %s", user_id, error)

    async def enabled_endpoints(
        self, user_id: ObjectId, *, cached: bool = True
    ) -> list[WebhookEndpoint]:
        """The user's enabled endpoints: from the cache when it has them (and ``cached``),
        else from the store (one indexed find), kept in the cache for the next export.
        """
        cache = self.cache if cached else None
        if cache is not None and (hit := cache.get(user_id)) is not None:
            return hit
        generation = cache.generation if cache is not None else 0
        endpoints = [
            WebhookEndpoint.model_validate_doc(doc)
            async for doc in self.endpoints.find({"userId": user_id, "enabled": True})
        ]
        if cache is not None:
            cache.put(user_id, endpoints, generation)
        return endpoints

    # -- The callbackUrl secret ---------------------------------------------------------------

    async def ensure_callback_secret(self, user: User) -> str | None:
        """Create the user's callback secret if there is none; the new secret, else ``None``."""
        if user.callback_secret:
            return None
        secret = new_secret()
        users = self.engine.get_collection(User)
        doc = await users.find_one_and_update(
            {"_id": user.id, "callbackSecret": None}, {"$set": {"callbackSecret": secret}}
        )
        return secret if doc is not None else None

    async def rotate_callback_secret(self, user_id: ObjectId) -> str:
        """A new callback secret; retries of earlier callbacks are signed with it."""
        secret = new_secret()
        users = self.engine.get_collection(User)
        await users.update_one({"_id": user_id}, {"$set": {"callbackSecret": secret}})
        return secret

    # -- Dispatch -----------------------------------------------------------------------------

    async def dispatch(self, export: Export) -> int:
        """Record and queue the deliveries of an export's terminal event; how many were new.
        Safe to repeat: a delivery's id is derived from the event and the destination. The
        endpoints may come from the process's cache (see ``EndpointCache``).
        """
        return await self._dispatch(export, cached=True)

    async def _dispatch(self, export: Export, *, cached: bool) -> int:
        event = EVENT_OF.get(export.status)
        if event is None:
            return 0
        destinations: list[tuple[ModelId | None, str]] = []
        if export.callback_url:
            destinations.append((None, export.callback_url))
        happened = as_utc(export.completed_at or export.updated_at)
        endpoints = await self.enabled_endpoints(export.user_id, cached=cached)
        destinations.extend(
            (endpoint.id, endpoint.url)
            for endpoint in endpoints
            if event in endpoint.events and as_utc(endpoint.created_at) <= happened
        )
        created = 0
        for endpoint_id, url in destinations:
            if await self._record(export, event, endpoint_id, url, happened):
                created += 1
        return created

    async def _record(
        self,
        export: Export,
        event: EventType,
        endpoint_id: ModelId | None,
        url: str,
        happened: datetime,
    ) -> bool:
        evt = event_id(export)
        delivery = Delivery(
            id=delivery_id(evt, endpoint_id),
            export_id=export.id,
            user_id=export.user_id,
            endpoint_id=endpoint_id,
            url=url,
            event_id=evt,
            event_type=event,
            event_created_at=happened,
            next_attempt_at=utcnow(),
        )
        try:
            await self.deliveries.insert_one(delivery.model_dump_doc())
        except DuplicateKeyError:
            return False
        await self.enqueue(delivery.id, 1)
        return True

    async def enqueue(
        self, delivery: str, attempt: int, *, delay: float = 0, tag: str = ""
    ) -> None:
        """Queue an attempt; if Redis is down the reconciler queues it later."""
        scheduled = int(utcnow().timestamp() + delay + 0.5) if delay else 0
        try:
            await self.queue.enqueue(delivery_job(delivery, attempt, scheduled=scheduled, tag=tag))
        except (RedisError, OSError) as error:
            log.warning("could not queue delivery %s: %s", delivery, error)

    async def _requeue(self, delivery: str, attempt: int, *, expired: bool) -> str:
        """Queue an overdue attempt again unless its job is still waiting or running; a job
        that ended without recording the attempt (our own fault, retried out) gets a new key.
        An attempt past the last one, or one whose jobs keep ending unrecorded past the
        window, is given up rather than queued again every minute forever.
        """
        job = await self.queue.job(delivery_job(delivery, attempt).key)
        if job is not None and job.status in {Status.NEW, Status.QUEUED, Status.ACTIVE}:
            return "waiting"
        if attempt > self.settings.webhooks.attempts or (job is not None and expired):
            return "give up"
        tag = f"~r{int(utcnow().timestamp())}" if job is not None else ""
        await self.enqueue(delivery, attempt, tag=tag)
        return "queued"

    async def of_export(self, export_id: ObjectId) -> list[Delivery]:
        """An export's deliveries, oldest first."""
        docs = self.deliveries.find({"exportId": export_id}).sort([("createdAt", 1), ("_id", 1)])
        return [Delivery.model_validate_doc(doc) async for doc in docs]

    async def of_endpoint(
        self, endpoint: WebhookEndpoint, *, status: DeliveryStatus | None, limit: int
    ) -> list[Delivery]:
        """An endpoint's latest deliveries, newest first."""
        query: dict[str, Any] = {"endpointId": endpoint.id}
        if status is not None:
            query["status"] = status.value
        docs = self.deliveries.find(query).sort([("createdAt", -1), ("_id", -1)]).limit(limit)
        return [Delivery.model_validate_doc(doc) async for doc in docs]

    async def forget(self, export: Export) -> None:
        """Delete a purged export's delivery log (retention)."""
        await self.deliveries.delete_many({"exportId": export.id})

    # -- Reconciliation -----------------------------------------------------------------------

    async def reconcile(self, *, settle: timedelta, window: timedelta) -> dict[str, int]:
        """Deliveries that a crash left unrecorded or unqueued are recorded and queued.

        Exports that ended between ``window`` and ``settle`` ago are dispatched again (a no-op
        for the destinations already recorded), and pending deliveries whose attempt is
        overdue by ``settle`` are queued again (a no-op for an attempt already queued).

        Each read takes one indexed condition and the rest is checked here, so that it reads
        what is due and not the history: the exports by a one-sided range on ``completedAt``
        (those that ended within the window), the deliveries by ``status`` equality (the
        pending ones: work in flight). The embedded store serves both from its scalar indexes
        (``vitae.mongoeco_fix``), and none of the longer filters.
        """
        now = utcnow()
        users = set(await self.endpoints.distinct("userId", {"enabled": True}))
        dispatched = 0
        ended = self.engine.get_collection(Export).find({"completedAt": {"$gte": now - window}})
        async for doc in ended:
            export = Export.model_validate_doc(doc)
            if (
                export.status in TERMINAL
                and export.completed_at is not None
                and as_utc(export.completed_at) < now - settle
                and (export.callback_url is not None or export.user_id in users)
            ):
                # From the store, never the cache: this is the safety net for what it missed.
                dispatched += await self._dispatch(export, cached=False)
        requeued = given_up = 0
        pending = self.deliveries.find(
            {"status": DeliveryStatus.PENDING.value}, {"_id": 1, "attempts": 1, "nextAttemptAt": 1}
        )
        overdue = [
            doc
            async for doc in pending
            if doc.get("nextAttemptAt") is not None and as_utc(doc["nextAttemptAt"]) < now - settle
        ]
        for doc in overdue:
            attempt = len(doc.get("attempts") or ()) + 1
            expired = as_utc(doc["nextAttemptAt"]) < now - window
            action = await self._requeue(doc["_id"], attempt, expired=expired)
            if action == "queued":
                requeued += 1
            elif action == "give up":
                given_up += await self._give_up(doc["_id"], attempt, now)
        if dispatched or requeued or given_up:
            log.warning(
                "reconciled webhooks: %d deliveries recorded, %d re-queued, %d given up",
                dispatched,
                requeued,
                given_up,
            )
        return {"dispatched": dispatched, "requeued": requeued, "givenUp": given_up}

    async def _give_up(self, delivery: str, attempt: int, now: datetime) -> int:
        """Fail a pending delivery whose attempt never got recorded, recording why as that
        attempt; 1 if it was still pending at that attempt.
        """
        record = DeliveryAttempt(
            number=attempt,
            at=now,
            error="the attempt ended without an answer being recorded; given up",
            duration_ms=0,
        )
        result = await self.deliveries.update_one(
            {
                "_id": delivery,
                "status": DeliveryStatus.PENDING.value,
                "attempts": {"$size": attempt - 1},
            },
            {
                "$set": {
                    "status": DeliveryStatus.FAILED.value,
                    "nextAttemptAt": None,
                    "completedAt": now,
                    "updatedAt": now,
                },
                "$push": {"attempts": record.model_dump_doc()},
            },
        )
        if result.modified_count:
            log.warning("webhook delivery %s given up at attempt %d", delivery, attempt)
        return result.modified_count
