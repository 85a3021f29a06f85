"""Webhooks against a real HTTP receiver on loopback: signed deliveries of terminal events,
retries that happen and stop, refusals of private addresses, one event per export."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import itertools
import json
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from bson import ObjectId
from odmantic import AIOEngine
from redis.asyncio import Redis
from saq.job import Status
from saq.queue.redis import RedisQueue

from support import (
    Headers,
    MakeUser,
    Receiver,
    Services,
    create_resume,
    make_settings,
    running_api,
    running_receiver,
    running_worker,
    wait_for_export,
    wait_until,
)
from vitae import db, wiring
from vitae.exports.models import Export, ExportStatus
from vitae.queue import open_delivery_queue
from vitae.settings import Settings
from vitae.timeutil import utcnow
from vitae.webhooks.models import Delivery
from vitae.webhooks.schemas import WebhookCreate, WebhookUpdate
from vitae.webhooks.service import DELIVER_WEBHOOK, EndpointCache, WebhookService, delivery_job

HOOKS = {
    "VITAE_WEBHOOK_ALLOW_HTTP": "true",
    "VITAE_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
    "VITAE_WEBHOOK_RETRY_DELAY": "0.2",
    "VITAE_WEBHOOK_MAX_DELAY": "1",
    "VITAE_WEBHOOK_ATTEMPTS": "4",
    "VITAE_WEBHOOK_TIMEOUT": "1",
}


def hook_settings(services: Services, data_dir: Path, queue: str, **extra: str) -> Settings:
    return make_settings(services, data_dir, VITAE_QUEUE_NAME=queue, **HOOKS, **extra)


@pytest.fixture(scope="module")
def hooks_settings(services: Services, data_dir: Path) -> Settings:
    return hook_settings(services, data_dir, "hooks")


@pytest.fixture(scope="module")
async def api(hooks_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_api(hooks_settings) as client, running_worker(hooks_settings):
        yield client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def verify(secret: str, received_headers: dict[str, str], body: bytes) -> bool:
    """The receiver's side, written from the README, not from Vitae's code."""
    fields = dict(part.split("=", 1) for part in received_headers["vitae-signature"].split(","))
    timestamp = int(fields["t"])
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    fresh = abs(time.time() - timestamp) < 300
    return fresh and hmac.compare_digest(expected, fields["v1"])


async def add_endpoint(
    client: httpx.AsyncClient, headers: Headers, url: str, **fields: Any
) -> dict[str, Any]:
    response = await client.post("/api/webhooks", json={"url": url, **fields}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def export_of(
    client: httpx.AsyncClient, headers: Headers, name: str = "Hook Tester", **fields: Any
) -> dict[str, Any]:
    resume = await create_resume(client, headers, {"basics": {"name": name}})
    response = await client.post(
        "/api/exports", json={"resumeId": resume["id"], **fields}, headers=headers
    )
    assert response.status_code == 202, response.text
    return response.json()


async def deliveries(
    client: httpx.AsyncClient, headers: Headers, export_id: str, until: set[str] | None = None
) -> list[dict[str, Any]]:
    """The export's delivery log, once every delivery is in one of ``until`` (if given)."""
    items: list[dict[str, Any]] = []

    async def settled() -> bool:
        nonlocal items
        response = await client.get(f"/api/exports/{export_id}/deliveries", headers=headers)
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        return until is None or (bool(items) and all(d["status"] in until for d in items))

    await wait_until(settled, lambda: f"deliveries of {export_id}: {items}", 30, 0.05)
    return items


async def wait_for_idle_deliveries(settings: Settings) -> None:
    """Wait until the delivery queue holds no delivery job that is queued, scheduled for a
    retry or running: nothing more can be sent, so what a receiver counted is final. (The
    queue's counts include the reconciler's cron job, which is always scheduled.)"""
    queue = open_delivery_queue(settings)
    await queue.connect()
    pending = [Status.NEW, Status.QUEUED, Status.ACTIVE]
    try:

        async def idle() -> bool:
            jobs = [job async for job in queue.iter_jobs(pending)]
            return not any(job.function == DELIVER_WEBHOOK for job in jobs)

        await wait_until(idle, "webhook deliveries still queued or running", 30)
    finally:
        await queue.disconnect()


async def test_endpoints_show_their_secret_once_and_belong_to_their_owner(
    api: httpx.AsyncClient, make_user: MakeUser, receiver: Receiver
) -> None:
    alice, bob = await make_user(), await make_user()
    created = await add_endpoint(api, alice, receiver.url, description="ci")
    assert created["secret"].startswith("whsec_")
    assert created["events"] == ["export.completed", "export.failed", "export.cancelled"]
    hook = f"/api/webhooks/{created['id']}"
    shown = (await api.get(hook, headers=alice)).json()
    assert "secret" not in shown
    assert shown["url"] == receiver.url
    listed = (await api.get("/api/webhooks", headers=alice)).json()
    assert [item["id"] for item in listed["items"]] == [created["id"]]
    assert "secret" not in listed["items"][0]
    assert (await api.get(hook, headers=bob)).status_code == 404
    assert (await api.delete(hook, headers=bob)).status_code == 404
    changed = await api.patch(
        hook, json={"enabled": False, "events": ["export.failed"]}, headers=alice
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["enabled"] is False
    assert changed.json()["events"] == ["export.failed"]
    rotated = await api.post(f"{hook}/secret", headers=alice)
    assert rotated.status_code == 201
    assert rotated.json()["secret"] not in {created["secret"], ""}
    assert (await api.delete(hook, headers=alice)).status_code == 204
    assert (await api.get(hook, headers=alice)).status_code == 404


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example.com/x", "only https URLs are accepted"),
        ("ftp://hooks.example.com/x", "only https URLs are accepted"),
        ("https://127.0.0.1/x", "loopback"),
        ("https://localhost:8443/x", "loopback"),
        ("https://[::1]/x", "loopback"),
        ("https://10.1.2.3/x", "private or reserved"),
        ("https://192.168.0.10/x", "private or reserved"),
        ("https://[fd00::1]/x", "private or reserved"),
        ("https://169.254.169.254/latest/meta-data", "link-local or cloud metadata"),
        ("https://[::ffff:169.254.169.254]/x", "link-local or cloud metadata"),
        ("https://0.0.0.0/x", "unspecified"),
        # IPv6 forms that carry an internal IPv4 address (reached through NAT64 or SIIT).
        ("https://[64:ff9b::a9fe:a9fe]/x", "169.254.169.254, carried by the NAT64"),
        ("https://[64:ff9b::a00:1]/x", "10.0.0.1, carried by the NAT64"),
        ("https://[::7f00:1]/x", "127.0.0.1, carried by the IPv4-compatible"),
        ("https://[::127.0.0.1]/x", "127.0.0.1, carried by the IPv4-compatible"),
        ("https://[::ffff:0:a00:1]/x", "10.0.0.1, carried by the IPv4-translated"),
        ("https://[::a9fe:a9fe]/x", "169.254.169.254, carried by the IPv4-compatible"),
        ("https://[2002:a9fe:a9fe::1]/x", "169.254.169.254, carried by the 6to4"),
        # Whitespace and control characters, which URL splitting would drop or misread.
        ("https://hooks.example.com/x\r\nX-Injected: 1", "control character"),
        ("https://hooks.example.com/\tx", "control character"),
        (" https://hooks.example.com/x", "whitespace"),
        ("https://user:pw@hooks.example.com/x", "credentials"),
        ("https:///x", "no host"),
        ("https://no-such-host.invalid/x", "does not resolve"),
    ],
)
async def test_production_refuses_plain_http_and_private_addresses(
    client: httpx.AsyncClient, make_user: MakeUser, url: str, reason: str
) -> None:
    headers = await make_user()
    response = await client.post("/api/webhooks", json={"url": url}, headers=headers)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["extra"][0]["key"] == "url"
    assert reason in body["detail"], body
    resume = await create_resume(client, headers, {"basics": {"name": "Nope"}})
    refused = await client.post(
        "/api/exports", json={"resumeId": resume["id"], "callbackUrl": url}, headers=headers
    )
    assert refused.status_code == 400, refused.text
    assert refused.json()["extra"][0]["key"] == "callbackUrl"
    assert reason in refused.json()["detail"]


async def test_a_completed_export_is_delivered_signed_with_gets_fields(
    api: httpx.AsyncClient, hooks_settings: Settings, make_user: MakeUser, receiver: Receiver
) -> None:
    headers = await make_user()
    endpoint = await add_endpoint(api, headers, receiver.url)
    export_id = (await export_of(api, headers))["exportId"]
    [request] = await receiver.wait_for(1)
    assert verify(endpoint["secret"], request.headers, request.body)
    assert not verify("whsec_wrong", request.headers, request.body)
    event = json.loads(request.body)
    assert event["type"] == "export.completed"
    assert event["id"] == request.headers["vitae-event-id"]
    assert request.headers["vitae-event-type"] == "export.completed"
    assert request.headers["vitae-delivery-attempt"] == "1"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["host"] == receiver.url.split("/")[2]
    now = await wait_for_export(api, headers, export_id)
    data = event["data"]
    assert data["id"] == export_id
    for field in ("status", "fileSize", "fileName", "version", "createdAt", "completedAt"):
        assert data[field] == now[field], field
    # The worker's settings keep the default public URL; the test API listens elsewhere.
    link = urlsplit(data["fileUrl"])
    download = await api.get(f"{link.path}?{link.query}")
    assert download.status_code == 200
    assert download.content.startswith(b"%PDF")
    [delivery] = await deliveries(api, headers, export_id, {"succeeded"})
    assert delivery["eventId"] == event["id"]
    assert delivery["destination"] == endpoint["id"]
    assert [a["statusCode"] for a in delivery["attempts"]] == [200]
    await wait_for_idle_deliveries(hooks_settings)
    assert len(receiver.requests) == 1, "one event, delivered once"


async def test_callback_url_is_signed_with_the_callback_secret_shown_once(
    api: httpx.AsyncClient, make_user: MakeUser, receiver: Receiver
) -> None:
    headers = await make_user()
    first = await export_of(api, headers, callbackUrl=receiver.url + "?export=1")
    secret = first["callbackSecret"]
    assert secret.startswith("whsec_")
    second = await export_of(api, headers, callbackUrl=receiver.url + "?export=2")
    assert "callbackSecret" not in second
    requests = await receiver.wait_for(2)
    assert {r.path for r in requests} == {"/hooks?export=1", "/hooks?export=2"}
    assert all(verify(secret, r.headers, r.body) for r in requests)
    shown = await wait_for_export(api, headers, first["exportId"])
    assert shown["callbackUrl"] == receiver.url + "?export=1"
    [delivery] = await deliveries(api, headers, first["exportId"], {"succeeded"})
    assert delivery["destination"] == "callback"
    rotated = (await api.post("/api/webhooks/callback-secret", headers=headers)).json()["secret"]
    third = await export_of(api, headers, callbackUrl=receiver.url + "?export=3")
    assert "callbackSecret" not in third
    requests = await receiver.wait_for(3)
    assert verify(rotated, requests[2].headers, requests[2].body)


async def test_5xx_and_429_are_retried_with_the_same_event_until_success(
    api: httpx.AsyncClient, make_user: MakeUser, receiver: Receiver
) -> None:
    receiver.answers = [500, 429, 503]
    headers = await make_user()
    endpoint = await add_endpoint(api, headers, receiver.url)
    export_id = (await export_of(api, headers))["exportId"]
    requests = await receiver.wait_for(4)
    assert len({r.headers["vitae-event-id"] for r in requests}) == 1
    assert [r.headers["vitae-delivery-attempt"] for r in requests] == ["1", "2", "3", "4"]
    assert all(verify(endpoint["secret"], r.headers, r.body) for r in requests)
    assert all(later.at > earlier.at for earlier, later in itertools.pairwise(requests))
    [delivery] = await deliveries(api, headers, export_id, {"succeeded"})
    assert [a["statusCode"] for a in delivery["attempts"]] == [500, 429, 503, 200]
    assert "nextAttemptAt" not in delivery


async def test_retries_stop_after_the_last_attempt_and_4xx_is_final(
    api: httpx.AsyncClient, hooks_settings: Settings, make_user: MakeUser, receiver: Receiver
) -> None:
    receiver.answers = [502] * 4 + [410]
    headers = await make_user()
    endpoint = await add_endpoint(api, headers, receiver.url)
    first = (await export_of(api, headers, name="Dead End"))["exportId"]
    [delivery] = await deliveries(api, headers, first, {"failed"})
    assert [a["statusCode"] for a in delivery["attempts"]] == [502] * 4
    assert len(receiver.requests) == 4
    second = (await export_of(api, headers, name="Gone"))["exportId"]
    [delivery] = await deliveries(api, headers, second, {"failed"})
    assert [a["statusCode"] for a in delivery["attempts"]] == [410]
    await wait_for_idle_deliveries(hooks_settings)  # no retry is left to come
    assert len(receiver.requests) == 5
    hook = f"/api/webhooks/{endpoint['id']}/deliveries"
    missed = (await api.get(hook, params={"status": "failed"}, headers=headers)).json()["items"]
    assert [d["eventId"].split("_")[1] for d in missed] == [second, first], "newest first"
    assert (await api.get(hook, params={"status": "succeeded"}, headers=headers)).json() == {
        "items": []
    }
    stranger = await make_user()
    assert (await api.get(hook, headers=stranger)).status_code == 404


async def test_a_timeout_is_retried_and_recorded(
    api: httpx.AsyncClient, make_user: MakeUser, receiver: Receiver
) -> None:
    receiver.delay = 1.5
    headers = await make_user()
    await add_endpoint(api, headers, receiver.url)
    export_id = (await export_of(api, headers))["exportId"]
    await receiver.wait_for(1)
    receiver.delay = 0
    [delivery] = await deliveries(api, headers, export_id, {"succeeded"})
    first, *rest = delivery["attempts"]
    assert first["error"] == "no answer within 1 s"
    assert "statusCode" not in first
    assert rest[-1]["statusCode"] == 200


async def test_a_hanging_receiver_holds_back_neither_renders_nor_other_receivers(
    api: httpx.AsyncClient, make_user: MakeUser
) -> None:
    with running_receiver() as stuck, running_receiver() as healthy:
        stuck.hold.clear()
        slow_user, other_user = await make_user(), await make_user()
        await add_endpoint(api, slow_user, stuck.url)
        await add_endpoint(api, other_user, healthy.url)
        first = (await export_of(api, slow_user, name="First"))["exportId"]
        await stuck.wait_for(1)  # its delivery is in flight and will not be answered
        later = (await export_of(api, slow_user, name="Second"))["exportId"]
        assert (await wait_for_export(api, slow_user, later))["status"] == "completed"
        other = (await export_of(api, other_user, name="Other"))["exportId"]
        [request] = await healthy.wait_for(1)
        assert json.loads(request.body)["data"]["id"] == other
        # Served while the hanging delivery still had attempts left: it did not wait for
        # that one to give up (a shared slot would have made it wait 4 timeouts).
        [hanging] = await deliveries(api, slow_user, first)
        assert hanging["status"] == "pending", hanging
        stuck.hold.set()


async def test_each_export_sends_exactly_one_terminal_event_matching_its_final_state(
    api: httpx.AsyncClient, hooks_settings: Settings, make_user: MakeUser, receiver: Receiver
) -> None:
    headers = await make_user()
    await add_endpoint(api, headers, receiver.url)
    ids = [(await export_of(api, headers, name=f"Racer {n}"))["exportId"] for n in range(6)]
    # Cancel every other one at once: each ends either cancelled or completed, never both.
    for export_id in ids[::2]:
        await api.delete(f"/api/exports/{export_id}", headers=headers)
    finals = {e: await wait_for_export(api, headers, e) for e in ids}
    requests = await receiver.wait_for(len(ids))
    await wait_for_idle_deliveries(hooks_settings)
    assert len(receiver.requests) == len(ids)
    events = {json.loads(r.body)["data"]["id"]: json.loads(r.body) for r in requests}
    assert set(events) == set(ids)
    for export_id, final in finals.items():
        event = events[export_id]
        assert event["type"] == f"export.{final['status']}"
        assert event["data"]["version"] == final["version"]
        assert event["data"]["status"] == final["status"]


async def test_a_failed_export_sends_export_failed(
    services: Services, data_dir: Path, make_user: MakeUser, receiver: Receiver
) -> None:
    settings = hook_settings(
        services,
        data_dir,
        f"hooks-fail-{uuid.uuid4().hex[:6]}",
        VITAE_STORAGE="s3",
        VITAE_S3_BUCKET=f"missing-{uuid.uuid4().hex[:8]}",
        VITAE_JOB_ATTEMPTS="1",
    )
    headers = await make_user()
    async with running_api(settings) as client, running_worker(settings):
        endpoint = await add_endpoint(client, headers, receiver.url, events=["export.failed"])
        export_id = (await export_of(client, headers))["exportId"]
        [request] = await receiver.wait_for(1)
        failed = await wait_for_export(client, headers, export_id)
    assert verify(endpoint["secret"], request.headers, request.body)
    event = json.loads(request.body)
    assert event["type"] == "export.failed"
    assert event["data"]["error"] == failed["error"]
    assert "fileUrl" not in event["data"]


async def test_cancellation_is_delivered_by_the_delivery_worker_alone(
    services: Services, data_dir: Path, make_user: MakeUser, receiver: Receiver
) -> None:
    settings = hook_settings(services, data_dir, f"hooks-idle-{uuid.uuid4().hex[:6]}")
    headers = await make_user()
    async with running_api(settings) as client, running_worker(settings, renders=False):
        endpoint = await add_endpoint(client, headers, receiver.url)
        export_id = (await export_of(client, headers))["exportId"]
        cancelled = await client.delete(f"/api/exports/{export_id}", headers=headers)
        assert cancelled.json()["status"] == "cancelled"
        [request] = await receiver.wait_for(1)
        event = json.loads(request.body)
        assert event["type"] == "export.cancelled"
        assert verify(endpoint["secret"], request.headers, request.body)
        stranger = await make_user()
        hidden = await client.get(f"/api/exports/{export_id}/deliveries", headers=stranger)
        assert hidden.status_code == 404


WINDOW = {"settle": timedelta(0), "window": timedelta(hours=1)}


def counts(dispatched: int = 0, requeued: int = 0, given_up: int = 0) -> dict[str, int]:
    """What a reconciliation reports."""
    return {"dispatched": dispatched, "requeued": requeued, "givenUp": given_up}


@dataclasses.dataclass(frozen=True)
class Crash:
    """An export that ended while the worker crashed twice: between the transition's write
    and its hooks, then between recording the delivery and queueing its job.
    """

    settings: Settings
    engine: AIOEngine
    queue: RedisQueue
    client: httpx.AsyncClient
    headers: Headers
    export_id: str


@asynccontextmanager
async def crashed_export(
    services: Services, data_dir: Path, headers: Headers, receiver: Receiver
) -> AsyncGenerator[Crash]:
    """The API, the store and the delivery queue around an export that :class:`Crash` says."""
    settings = hook_settings(services, data_dir, f"hooks-crash-{uuid.uuid4().hex[:6]}")
    assert settings.mongodb_url
    engine = db.open_engine(settings.mongodb_url, settings.mongodb_database)
    queue = open_delivery_queue(settings)
    try:
        async with running_api(settings) as client:
            await add_endpoint(client, headers, receiver.url)
            export_id = (await export_of(client, headers))["exportId"]
            now = utcnow()
            changes = {"status": "failed", "error": "boom", "completedAt": now, "updatedAt": now}
            failed = await db.update_if(
                engine.get_collection(Export),
                ObjectId(export_id),
                "status",
                ["pending"],
                changes,
                counter="version",
            )
            assert failed is not None
            assert failed["status"] == ExportStatus.FAILED.value
            assert await deliveries(client, headers, export_id) == []
            # The delivery is recorded, its job queued where no delivery worker reads.
            elsewhere = RedisQueue(queue.redis, name=f"{queue.name}-elsewhere")
            unqueued = WebhookService(engine, settings, queue=elsewhere, redis=queue.redis)
            assert await unqueued.reconcile(**WINDOW) == counts(dispatched=1)
            yield Crash(settings, engine, queue, client, headers, export_id)
    finally:
        await queue.disconnect()
        db.close_engine(engine)


async def test_the_reconciler_records_a_delivery_that_a_crash_left_out(
    services: Services, data_dir: Path, make_user: MakeUser, receiver: Receiver
) -> None:
    headers = await make_user()
    async with crashed_export(services, data_dir, headers, receiver) as crash:
        webhooks = WebhookService(
            crash.engine, crash.settings, queue=crash.queue, redis=crash.queue.redis
        )
        assert await webhooks.reconcile(**WINDOW) == counts(requeued=1)
        # Repeating it records and queues nothing twice.
        assert await webhooks.reconcile(**WINDOW) == counts()
        async with running_worker(crash.settings, renders=False):
            [request] = await receiver.wait_for(1)
            await deliveries(crash.client, headers, crash.export_id, {"succeeded"})
    assert json.loads(request.body)["type"] == "export.failed"


async def test_the_reconciler_gives_up_an_attempt_that_never_gets_recorded(
    services: Services, data_dir: Path, make_user: MakeUser, receiver: Receiver
) -> None:
    # An attempt whose job keeps ending without recording it (a crash in our code, as a URL
    # with a line break once caused) was queued again every minute, forever.
    headers = await make_user()
    async with crashed_export(services, data_dir, headers, receiver) as crash:
        [pending] = await deliveries(crash.client, headers, crash.export_id)
        # Its job ran and ended without recording the attempt, and that was long ago.
        job = await crash.queue.enqueue(delivery_job(pending["id"], 1))
        assert job is not None
        await crash.queue.finish(job, Status.FAILED, error="crashed")
        long_ago = utcnow() - timedelta(hours=2)
        store = crash.engine.get_collection(Delivery)
        await store.update_one({"_id": pending["id"]}, {"$set": {"nextAttemptAt": long_ago}})
        webhooks = WebhookService(
            crash.engine, crash.settings, queue=crash.queue, redis=crash.queue.redis
        )
        assert await webhooks.reconcile(**WINDOW) == counts(given_up=1)
        assert await webhooks.reconcile(**WINDOW) == counts()
        [failed] = await deliveries(crash.client, headers, crash.export_id, {"failed"})
    assert [a["error"] for a in failed["attempts"]] == [
        "the attempt ended without an answer being recorded; given up"
    ]
    assert receiver.requests == []


async def test_two_runs_of_one_attempt_record_it_once(
    services: Services, data_dir: Path, make_user: MakeUser, receiver: Receiver
) -> None:
    settings = hook_settings(services, data_dir, f"hooks-twice-{uuid.uuid4().hex[:6]}")
    receiver.answers = [500, 500]
    headers = await make_user()
    queue = open_delivery_queue(settings)
    try:
        # No delivery worker runs: the cancellation's delivery waits for its first attempt.
        async with running_api(settings) as client, wiring.delivery_worker(settings, queue) as deps:
            await add_endpoint(client, headers, receiver.url)
            export_id = (await export_of(client, headers))["exportId"]
            await client.delete(f"/api/exports/{export_id}", headers=headers)
            [pending] = await deliveries(client, headers, export_id)
            assert pending["attempts"] == []
            deliverer = deps.deliverer
            results = await asyncio.gather(
                deliverer.attempt(pending["id"], 1), deliverer.attempt(pending["id"], 1)
            )
            assert sorted(results) == ["retrying", "stale"]
            assert len(receiver.requests) == 2, "both ran; the guard kept the second out"
            [after] = await deliveries(client, headers, export_id)
        assert [a["number"] for a in after["attempts"]] == [1]
        assert after["status"] == "pending"
        assert "nextAttemptAt" in after
    finally:
        await queue.disconnect()


async def test_an_endpoint_added_after_exports_without_one_gets_the_next_event(
    api: httpx.AsyncClient, hooks_settings: Settings, make_user: MakeUser, receiver: Receiver
) -> None:
    # The worker caches that this user has no endpoint; registering one must reach it before
    # the next export ends (the reconciler is only the safety net, not this path).
    headers = await make_user()
    before = (await export_of(api, headers, name="Before Hooks"))["exportId"]
    await wait_for_export(api, headers, before)
    endpoint = await add_endpoint(api, headers, receiver.url, events=["export.completed"])
    after = (await export_of(api, headers, name="After Hooks"))["exportId"]
    [request] = await receiver.wait_for(1)
    assert json.loads(request.body)["data"]["id"] == after
    # Disabled: the next export's end is not delivered there any more.
    disabled = await api.patch(
        f"/api/webhooks/{endpoint['id']}", json={"enabled": False}, headers=headers
    )
    assert disabled.status_code == 200, disabled.text
    last = (await export_of(api, headers, name="Disabled Hooks"))["exportId"]
    await wait_for_export(api, headers, last)
    await wait_for_idle_deliveries(hooks_settings)
    assert [json.loads(r.body)["data"]["id"] for r in receiver.requests] == [after]
    assert await deliveries(api, headers, before) == []


@asynccontextmanager
async def worker_side(settings: Settings) -> AsyncGenerator[tuple[WebhookService, EndpointCache]]:
    """The render worker's view: a webhook service whose endpoint cache is subscribed."""
    assert settings.mongodb_url
    engine = db.open_engine(settings.mongodb_url, settings.mongodb_database)
    queue = open_delivery_queue(settings)
    cache = EndpointCache(queue.redis)
    await cache.start()
    try:
        await wait_until(lambda: cache.live, "the cache's subscription", 10)
        yield WebhookService(engine, settings, queue=queue, redis=queue.redis, cache=cache), cache
    finally:
        await cache.stop()
        assert not cache.live
        assert cache.get(ObjectId()) is None
        await queue.disconnect()
        db.close_engine(engine)


async def test_the_endpoint_cache_forgets_a_user_whose_endpoints_change(
    hooks_settings: Settings, redis: Redis, receiver: Receiver
) -> None:
    # Two processes' views: the API's service changes endpoints, the worker's dispatches
    # with a cache that only the announcements on Redis keep right.
    async with worker_side(hooks_settings) as (worker, cache):
        api_side = WebhookService(worker.engine, hooks_settings, queue=worker.queue, redis=redis)
        user = ObjectId()
        assert await worker.enabled_endpoints(user) == []
        assert cache.get(user) == [], "kept: the next export reads no endpoint"

        created = await api_side.create(user, WebhookCreate(url=receiver.url))
        await wait_until(lambda: cache.get(user) is None, "the change reached the cache", 10)
        [endpoint] = await worker.enabled_endpoints(user)
        assert endpoint.id == created.id
        assert cache.get(user) == [endpoint]

        await api_side.update(user, str(created.id), WebhookUpdate(enabled=False))
        await wait_until(lambda: cache.get(user) is None, "the update reached the cache", 10)
        assert await worker.enabled_endpoints(user) == []


async def test_the_endpoint_cache_keeps_nothing_across_a_redis_restart(
    services: Services, hooks_settings: Settings
) -> None:
    # Announcements sent while the subscription is down are lost: nothing kept before the
    # outage is trusted after it.
    async with worker_side(hooks_settings) as (worker, cache):
        user = ObjectId()
        await worker.enabled_endpoints(user)
        assert cache.get(user) == []
        await asyncio.to_thread(services.redis.restart)
        await wait_until(lambda: cache.get(user) is None, "the entry dropped", 10)
        await wait_until(lambda: cache.live, "subscribed again", 20)
        await worker.enabled_endpoints(user)
        assert cache.get(user) == [], "kept again once subscribed"
