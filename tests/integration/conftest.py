"""An in-process API (Litestar's test client over its real lifespan) and an in-process SAQ
worker, both talking to the session's real servers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from saq import Worker

from conftest import Services, make_settings
from support import Headers, running_api, running_worker
from vitae.cli import create_user
from vitae.settings import Settings

type MakeUser = Callable[..., Awaitable[Headers]]


@pytest.fixture(scope="session")
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_api(settings) as api:
        yield api


@pytest.fixture(scope="session")
async def worker(settings: Settings) -> AsyncIterator[Worker[Any]]:
    async with running_worker(settings) as running:
        yield running


@pytest.fixture
def make_user(settings: Settings) -> MakeUser:
    """Create a user in the database; returns the auth headers of its bearer token."""

    async def make(credits: int = 0, email: str | None = None) -> Headers:  # noqa: A002
        _, token = await create_user(
            settings, email or f"{uuid.uuid4().hex[:12]}@example.com", "", credits
        )
        return {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture(scope="session")
def idle_settings(services: Services, data_dir: Path) -> Settings:
    """Settings whose queue no worker consumes: jobs stay where the API put them."""
    return make_settings(services, data_dir, VITAE_QUEUE_NAME="idle")


@pytest.fixture(scope="session")
async def idle_client(idle_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_api(idle_settings) as api:
        yield api
