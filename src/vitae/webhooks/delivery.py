"""One attempt of a delivery: sign, call with a short timeout, record, schedule the next.

Retries are scheduled as new jobs rather than awaited, so a slow or dead endpoint holds a
worker slot for one attempt's timeout at most, and each host gets a bounded share of the
slots (``VITAE_WEBHOOK_PER_HOST``), so one user's dead endpoint cannot starve the others.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
import msgspec
import prometheus_client

from vitae.db import merge_if
from vitae.exports.models import Export
from vitae.exports.views import to_read
from vitae.netpolicy import RefusedURLError, Target
from vitae.timeutil import as_utc, utcnow
from vitae.users.models import User
from vitae.webhooks.models import Delivery, DeliveryAttempt, DeliveryStatus, WebhookEndpoint
from vitae.webhooks.schemas import WebhookEvent
from vitae.webhooks.signing import signature_header

if TYPE_CHECKING:
    from vitae.exports.service import ExportService
    from vitae.settings import WebhookSettings
    from vitae.webhooks.service import WebhookService

log = logging.getLogger(__name__)

ATTEMPTS = prometheus_client.Counter(
    "vitae_webhook_attempts_total",
    "Webhook delivery attempts by what followed them",
    ["result"],  # succeeded, retrying, failed
)
ATTEMPT_TIME = prometheus_client.Histogram(
    "vitae_webhook_attempt_seconds",
    "Time a receiver took to answer (or to time out)",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
USER_AGENT = "Vitae-Webhooks/1"
DEFER_SECONDS = 1.0
RETRYABLE_STATUS = 429
# Transport errors that the same request would meet again: retrying cannot help.
UNFIXABLE = (httpx.LocalProtocolError, httpx.UnsupportedProtocol)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one call gave: a status code or an error, and whether another attempt may help."""

    status_code: int | None
    error: str | None
    retryable: bool
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        """A 2xx answer."""
        return self.status_code is not None and 200 <= self.status_code < 300  # noqa: PLR2004


def classify(status_code: int, retry_after: float | None) -> Outcome:
    """2xx succeeds; 429 and 5xx are retried; anything else (3xx, 4xx) is final."""
    if 200 <= status_code < 300:  # noqa: PLR2004
        return Outcome(status_code, None, retryable=False)
    retryable = status_code == RETRYABLE_STATUS or status_code >= 500  # noqa: PLR2004
    error = "redirects are not followed" if 300 <= status_code < 400 else None  # noqa: PLR2004
    return Outcome(status_code, error, retryable=retryable, retry_after=retry_after)


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` in seconds (the HTTP-date form is ignored)."""
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


def next_delay(settings: WebhookSettings, attempt: int, retry_after: float | None) -> float:
    """Exponential backoff from ``retry_delay``, capped, with ±20 % jitter; a receiver's
    ``Retry-After`` is honoured up to the cap.
    """
    delay = min(settings.max_delay, settings.retry_delay * 2 ** (attempt - 1))
    delay *= random.uniform(0.8, 1.2)  # noqa: S311  (spreading retries, not a secret)
    if retry_after is not None:
        delay = max(delay, min(retry_after, settings.max_delay))
    return delay


async def call(
    client: httpx.AsyncClient, target: Target, headers: dict[str, str], body: bytes, seconds: float
) -> Outcome:
    """POST the body to the checked address, with the URL's host for TLS and ``Host``.

    Any error while building or sending the request is an outcome, never an exception: a
    network error may pass (retried), anything else will happen again (final).
    """
    try:
        netloc = httpx.URL(target.url).netloc.decode()
        async with asyncio.timeout(seconds):
            response = await client.post(
                target.pinned_url(),
                content=body,
                headers={**headers, "Host": netloc},
                extensions={"sni_hostname": target.host},
                timeout=seconds,
            )
    except (TimeoutError, httpx.TimeoutException):
        return Outcome(None, f"no answer within {seconds:g} s", retryable=True)
    except Exception as error:  # noqa: BLE001  (every failure is recorded as the attempt's)
        reason = str(error) or type(error).__name__
        if isinstance(error, httpx.TransportError) and not isinstance(error, UNFIXABLE):
            return Outcome(None, f"could not connect: {reason}"[:300], retryable=True)
        log.info("webhook request to %r could not be made: %s", target.url, reason)
        return Outcome(None, f"could not make the request: {reason}"[:300], retryable=False)
    return classify(response.status_code, retry_after_seconds(response.headers.get("retry-after")))


class HostSlots:
    """How many calls each host has in flight in this process."""

    def __init__(self, per_host: int) -> None:
        self.per_host = max(per_host, 1)
        self.busy: Counter[str] = Counter()

    def take(self, host: str) -> bool:
        """A slot for the host, or ``False`` when it already has its share."""
        if self.busy[host] >= self.per_host:
            return False
        self.busy[host] += 1
        return True

    def give_back(self, host: str) -> None:
        """Release a slot taken with ``take``."""
        self.busy[host] -= 1
        if self.busy[host] <= 0:
            del self.busy[host]


class Deliverer:
    """Runs attempts of deliveries with the worker's clients."""

    def __init__(
        self,
        webhooks: WebhookService,
        exports: ExportService,
        client: httpx.AsyncClient,
        slots: HostSlots,
    ) -> None:
        self.webhooks = webhooks
        self.exports = exports
        self.client = client
        self.slots = slots
        self.settings = webhooks.settings.webhooks
        self.engine = webhooks.engine

    async def attempt(self, delivery_id: str, number: int) -> str:
        """Make attempt ``number`` of a delivery; what happened, in a word."""
        doc = await self.webhooks.deliveries.find_one({"_id": delivery_id})
        if doc is None:
            return "gone"
        delivery = Delivery.model_validate_doc(doc)
        if delivery.status is not DeliveryStatus.PENDING or len(delivery.attempts) + 1 != number:
            return "stale"
        secret, problem = await self._secret(delivery)
        export = await self.engine.find_one(Export, Export.id == delivery.export_id)
        if export is None:
            problem = "the export no longer exists"
        if problem is not None or secret is None or export is None:
            return await self._record(delivery, number, Outcome(None, problem, retryable=False), 0)
        try:
            target = await self.webhooks.policy.resolve(delivery.url)
        except RefusedURLError as error:
            outcome = Outcome(None, f"refused: {error.reason}", retryable=False)
            return await self._record(delivery, number, outcome, 0)
        if not self.slots.take(target.host):
            await self.webhooks.enqueue(
                delivery.id, number, delay=DEFER_SECONDS, tag=f"~{time.monotonic_ns()}"
            )
            return "deferred"
        try:
            body = await self._body(delivery, export)
            timestamp = int(time.time())
            headers = {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "Vitae-Event-Id": delivery.event_id,
                "Vitae-Event-Type": delivery.event_type.value,
                "Vitae-Delivery-Id": delivery.id,
                "Vitae-Delivery-Attempt": str(number),
                "Vitae-Timestamp": str(timestamp),
                "Vitae-Signature": signature_header(secret, timestamp, body),
            }
            started = time.perf_counter()
            outcome = await call(self.client, target, headers, body, self.settings.timeout)
            seconds = time.perf_counter() - started
            ATTEMPT_TIME.observe(seconds)
            elapsed = round(seconds * 1000)
        finally:
            self.slots.give_back(target.host)
        return await self._record(delivery, number, outcome, elapsed)

    async def _secret(self, delivery: Delivery) -> tuple[str | None, str | None]:
        """The signing secret now in force, or why the delivery cannot be made."""
        if delivery.endpoint_id is None:
            user = await self.engine.find_one(User, User.id == delivery.user_id)
            if user is None or not user.callback_secret:
                return None, "the user no longer exists"
            return user.callback_secret, None
        doc = await self.webhooks.endpoints.find_one({"_id": delivery.endpoint_id})
        if doc is None:
            return None, "the webhook endpoint was deleted"
        endpoint = WebhookEndpoint.model_validate_doc(doc)
        if not endpoint.enabled:
            return None, "the webhook endpoint is disabled"
        return endpoint.secret, None

    async def _body(self, delivery: Delivery, export: Export) -> bytes:
        """The event as JSON; the export's fields are GET's, with a fresh download link."""
        data: dict[str, Any] = msgspec.to_builtins(await to_read(export, self.exports))
        event = WebhookEvent(
            id=delivery.event_id,
            type=delivery.event_type,
            created_at=as_utc(delivery.event_created_at),
            data=data,
        )
        return msgspec.json.encode(event)

    async def _record(
        self, delivery: Delivery, number: int, outcome: Outcome, elapsed_ms: int
    ) -> str:
        """Append the attempt, then finish the delivery or schedule the next attempt."""
        now = utcnow()
        attempt = DeliveryAttempt(
            number=number,
            at=now,
            status_code=outcome.status_code,
            error=outcome.error,
            duration_ms=elapsed_ms,
        )
        changes: dict[str, Any] = {"updatedAt": now}
        delay: float | None = None
        if outcome.succeeded:
            changes.update(
                status=DeliveryStatus.SUCCEEDED.value, nextAttemptAt=None, completedAt=now
            )
        elif outcome.retryable and number < self.settings.attempts:
            delay = next_delay(self.settings, number, outcome.retry_after)
            changes["nextAttemptAt"] = now + timedelta(seconds=delay)
        else:
            changes.update(status=DeliveryStatus.FAILED.value, nextAttemptAt=None, completedAt=now)
        # The guard is in the update, not the filter (see ``vitae.db.update_if``): only the
        # attempt that is due may be recorded, once.
        guard = {
            "$and": [
                {"$eq": ["$status", DeliveryStatus.PENDING.value]},
                {"$eq": [{"$size": "$attempts"}, number - 1]},
            ]
        }
        fields: dict[str, Any] = {key: {"$literal": value} for key, value in changes.items()}
        fields["attempts"] = {
            "$concatArrays": ["$attempts", [{"$literal": attempt.model_dump_doc()}]]
        }
        before = await merge_if(self.webhooks.deliveries, delivery.id, guard, fields)
        recorded = (
            before is not None
            and before.get("status") == DeliveryStatus.PENDING.value
            and len(before.get("attempts") or ()) == number - 1
        )
        if not recorded:
            return "stale"
        if delay is not None:
            ATTEMPTS.labels(result="retrying").inc()
            await self.webhooks.enqueue(delivery.id, number + 1, delay=delay)
            return "retrying"
        ATTEMPTS.labels(result="succeeded" if outcome.succeeded else "failed").inc()
        if not outcome.succeeded:
            log.warning(
                "webhook delivery %s failed after %d attempt(s): %s",
                delivery.id,
                number,
                outcome.error or f"HTTP {outcome.status_code}",
            )
        return "succeeded" if outcome.succeeded else "failed"
