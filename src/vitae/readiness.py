"""Whether the backing services answer: used by ``/ready`` and by ``vitae ready``."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from odmantic import AIOEngine
    from redis.asyncio import Redis

    from vitae.storage import Storage

TIMEOUT = 2.0


async def _probe(check: Awaitable[object]) -> str:
    try:
        async with asyncio.timeout(TIMEOUT):
            await check
    except TimeoutError:
        return f"no answer within {TIMEOUT:g} s"
    except Exception as error:  # noqa: BLE001  (any failure means "not ready", with its reason)
        return f"{type(error).__name__}: {error}"[:300]
    return "ok"


async def check_dependencies(engine: AIOEngine, redis: Redis, storage: Storage) -> dict[str, str]:
    """``{"mongodb": "ok", "redis": "ConnectionError: …", "storage": "ok"}``, probed at once."""
    mongo, queue, files = await asyncio.gather(
        _probe(engine.client.admin.command("ping")),
        _probe(redis.ping()),  # pyright: ignore[reportGeneralTypeIssues]  (async client)
        _probe(storage.check()),
    )
    return {"mongodb": mongo, "redis": queue, "storage": files}
