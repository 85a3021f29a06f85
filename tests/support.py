"""Helpers shared by the integration tests: running the API and a worker, and polling."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import uvicorn
from saq import Worker

from vitae.app import create_app
from vitae.embedded import free_port
from vitae.settings import Settings
from vitae.worker import create_delivery_worker, create_worker

type Headers = dict[str, str]

TERMINAL = {"completed", "failed", "cancelled"}


@asynccontextmanager
async def running_api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The API on a real uvicorn server on a free port in this event loop, and a client of it.

    A real server (rather than an in-memory transport) keeps this loop free while a request
    is in flight, so an in-process worker goes on working meanwhile, as it would in production.
    """
    port = free_port()
    settings = dataclasses.replace(settings, port=port, public_url=f"http://127.0.0.1:{port}")
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 20
    while not server.started:
        assert not task.done(), "the API server exited during start-up"
        assert time.monotonic() < deadline, "the API server did not start"
        await asyncio.sleep(0.02)
    try:
        async with httpx.AsyncClient(base_url=settings.public_url, timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def running_worker(settings: Settings, *, renders: bool = True) -> AsyncIterator[Worker[Any]]:
    """The worker as ``vitae worker`` runs it, in this event loop: a real SAQ worker on the
    settings' queue and the webhook delivery worker beside it (alone, with ``renders=False``).
    """
    deliveries = create_delivery_worker(settings)
    workers = [create_worker(settings), deliveries] if renders else [deliveries]
    for worker in workers:
        await worker.queue.connect()
    tasks = [asyncio.create_task(worker.start()) for worker in workers]
    try:
        yield workers[0]
    finally:
        for worker, task in zip(workers, tasks, strict=True):
            await worker.stop()
            await task
            await worker.queue.disconnect()


async def create_resume(
    client: httpx.AsyncClient, headers: Headers, content: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    """POST a résumé and return its body."""
    response = await client.post(
        "/api/resumes", json={"title": "My résumé", "content": content, **fields}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()


async def wait_for_export(
    client: httpx.AsyncClient,
    headers: Headers,
    export_id: str,
    statuses: set[str] = TERMINAL,
    timeout: float = 30.0,  # noqa: ASYNC109  (a deadline for polling, not a cancel scope)
) -> dict[str, Any]:
    """Poll ``GET /api/exports/{id}`` (as the product story's client does) until a status."""
    deadline = time.monotonic() + timeout
    while True:
        response = await client.get(f"/api/exports/{export_id}", headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] in statuses:
            return body
        assert time.monotonic() < deadline, f"export stuck at {body}"
        await asyncio.sleep(0.05)


async def sse_events(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """Parse a ``text/event-stream`` body into events, as a browser's EventSource does;
    comment lines are kept under ``comment`` so heartbeats can be seen."""
    event: dict[str, Any] = {}
    async for line in response.aiter_lines():
        if not line:
            if event:
                yield event
            event = {}
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if not field:
            event["comment"] = value
        elif field == "data" and "data" in event:
            event["data"] += "\n" + value
        else:
            event[field] = value
    if event:
        yield event


async def wait_for_subscribers(redis_url: str, channel: str, count: int = 1) -> None:
    """Block until ``count`` clients subscribe to ``channel`` (an open stream), 10 s at most."""
    from redis.asyncio import Redis  # noqa: PLC0415

    redis = Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + 10
        while dict(await redis.pubsub_numsub(channel)).get(channel.encode(), 0) < count:
            assert time.monotonic() < deadline, f"nobody subscribed to {channel}"
            await asyncio.sleep(0.02)
    finally:
        await redis.aclose()
