"""Helpers shared by the integration tests: running the API and a worker, and polling."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar.testing import AsyncTestClient
from saq import Worker

from vitae.app import create_app
from vitae.settings import Settings
from vitae.worker import create_worker

type Headers = dict[str, str]

TERMINAL = {"completed", "failed", "cancelled"}


@asynccontextmanager
async def running_api(settings: Settings) -> AsyncIterator[AsyncTestClient[Any]]:
    """The API app with its lifespan, reachable through an HTTP test client."""
    async with AsyncTestClient(app=create_app(settings), base_url=settings.public_url) as client:
        yield client


@asynccontextmanager
async def running_worker(settings: Settings) -> AsyncIterator[Worker[Any]]:
    """A real SAQ worker on the settings' queue, in this event loop."""
    worker = create_worker(settings)
    await worker.queue.connect()
    task = asyncio.create_task(worker.start())
    try:
        yield worker
    finally:
        await worker.stop()
        await task
        await worker.queue.disconnect()


async def create_resume(
    client: AsyncTestClient[Any], headers: Headers, content: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    """POST a résumé and return its body."""
    response = await client.post(
        "/api/resumes", json={"title": "My résumé", "content": content, **fields}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()


async def wait_for_export(
    client: AsyncTestClient[Any],
    headers: Headers,
    export_id: str,
    statuses: set[str] = TERMINAL,
    timeout: float = 30.0,
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
