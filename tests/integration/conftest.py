"""Real servers for the integration tests' session: Redis (or Valkey), the MongoDB-wire store
and moto's S3 server, each on a free loopback port, with state wiped between tests; and an
in-process API and SAQ worker talking to them. Unit tests live outside this folder and so
start none of this."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from moto.server import ThreadedMotoServer
from motor.motor_asyncio import AsyncIOMotorClient
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from saq import Worker

from support import SAMPLE, Headers, MakeUser, Services, make_settings, running_api, running_worker
from vitae.cli import create_user
from vitae.embedded import free_port, start_mongo, start_redis
from vitae.settings import Settings


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    redis = start_redis(prefer_system=True)
    mongo = start_mongo()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    try:
        yield Services(redis=redis, mongo=mongo, s3_endpoint=f"http://{host}:{port}")
    finally:
        moto.stop()
        mongo.stop()
        redis.stop()


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("vitae-data")


@pytest.fixture(scope="session")
def settings(services: Services, data_dir: Path) -> Settings:
    return make_settings(services, data_dir)


@pytest.fixture(scope="session")
async def redis(services: Services) -> AsyncIterator[Redis]:
    client = Redis.from_url(services.redis.url)
    yield client
    await client.aclose()


@pytest.fixture(autouse=True)
async def clean_state(services: Services, redis: Redis) -> None:
    """Each test starts with empty collections and an empty Redis."""
    client: AsyncIOMotorClient[dict[str, Any]] = AsyncIOMotorClient(services.mongo.url)
    for name in ("vitae_test", "vitae_proc"):
        for collection in ("users", "resumes", "exports", "webhooks", "deliveries"):
            await client[name][collection].delete_many({})
    client.close()
    try:
        await redis.flushdb()
    except RedisConnectionError:  # the server was restarted by a fault test: reconnect
        await redis.flushdb()


@pytest.fixture(scope="session")
def sample_resume() -> dict[str, Any]:
    return json.loads(SAMPLE.read_text(encoding="utf-8"))


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
