"""The MongoDB connection: one Motor client and one ODMantic engine per process."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from motor.motor_asyncio import AsyncIOMotorClient
from odmantic import AIOEngine

if TYPE_CHECKING:
    from collections.abc import Sequence

    from odmantic import Model


def open_engine(url: str, database: str) -> AIOEngine:
    """Create the engine; Motor connects lazily on first use."""
    client: AsyncIOMotorClient[dict[str, Any]] = AsyncIOMotorClient(
        url, tz_aware=True, serverSelectionTimeoutMS=5_000, connectTimeoutMS=5_000
    )
    return AIOEngine(client=client, database=database)


async def prepare(engine: AIOEngine, models: Sequence[type[Model]]) -> None:
    """Create the collections' indexes (idempotent)."""
    await engine.configure_database(models)


def close_engine(engine: AIOEngine) -> None:
    """Close the engine's client and its connection pool."""
    engine.client.close()
