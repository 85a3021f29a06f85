"""Real servers for the whole test session: Redis (or Valkey), the MongoDB-wire store and
moto's S3 server, each on a free loopback port; state is wiped between tests."""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.server import ThreadedMotoServer
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from vitae.embedded import Server, free_port, start_mongo, start_redis
from vitae.settings import Settings, settings_from_env

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "jsonresume-sample.json"
ARTIFACTS = ROOT / "test-artifacts"
# Drawn per run (a secret written in the project's files is refused by `vitae api`), through
# the environment so that both imports of this module (pytest's and the tests') agree.
JWT_SECRET = os.environ.setdefault("TESTS_JWT_SECRET", secrets.token_hex(32))


@dataclasses.dataclass(frozen=True)
class Services:
    """Where the session's servers listen."""

    redis: Server
    mongo: Server
    s3_endpoint: str


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


def env_for(services: Services, data_dir: Path, **extra: str) -> dict[str, str]:
    """The ``VITAE_*`` environment that points a process at the session's servers."""
    return {
        "VITAE_REDIS_URL": services.redis.url,
        "VITAE_MONGODB_URL": services.mongo.url,
        "VITAE_MONGODB_DATABASE": "vitae_test",
        "VITAE_JWT_SECRET": JWT_SECRET,
        "VITAE_DATA_DIR": str(data_dir),
        "VITAE_S3_ENDPOINT_URL": services.s3_endpoint,
        "VITAE_S3_ACCESS_KEY_ID": "testing",
        "VITAE_S3_SECRET_ACCESS_KEY": "testing",
        "VITAE_SWEEP_INTERVAL": "2",
        "VITAE_JOB_HEARTBEAT": "3",
        # Every render counts as slow, so that its progress events are seen.
        "VITAE_PROGRESS_AFTER": "0",
        **extra,
    }


def make_settings(services: Services, data_dir: Path, **extra: str) -> Settings:
    """Settings for an in-process API or worker."""
    return settings_from_env(env_for(services, data_dir, **extra))


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
    from motor.motor_asyncio import AsyncIOMotorClient  # noqa: PLC0415

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
