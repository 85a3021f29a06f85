"""The MongoDB connection: one Motor client and one ODMantic engine per process."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl, urlsplit

import pymongo
from motor.motor_asyncio import AsyncIOMotorClient
from odmantic import AIOEngine, Model
from pymongo import ReturnDocument

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from bson import ObjectId
    from motor.motor_asyncio import AsyncIOMotorCollection


def open_engine(url: str, database: str, timeout: float = 3.0) -> AIOEngine:
    """Create the engine; Motor connects lazily on first use.

    A store that does not answer fails an operation within about ``timeout`` seconds: finding
    a server and connecting get two thirds of it, a reply on an open connection all of it. A
    request then answers 503 while its client still waits, instead of hanging on and writing
    after the client gave up. Options given in ``url`` take precedence.
    """
    wait_ms = max(int(timeout * 1000), 100)
    timeouts: dict[str, Any] = {
        "serverSelectionTimeoutMS": wait_ms * 2 // 3,
        "connectTimeoutMS": wait_ms * 2 // 3,
        "socketTimeoutMS": wait_ms,
    }
    in_url = {name.lower() for name, _ in parse_qsl(urlsplit(url).query)}
    client: AsyncIOMotorClient[dict[str, Any]] = AsyncIOMotorClient(
        url,
        tz_aware=True,
        **{name: ms for name, ms in timeouts.items() if name.lower() not in in_url},  # pyright: ignore[reportArgumentType]
    )
    return AIOEngine(client=client, database=database)


async def find_by_id[M: Model](
    engine: AIOEngine, model: type[M], doc_id: ObjectId, **stored: object
) -> M | None:
    """The document whose ``_id`` is ``doc_id``, if its ``stored`` fields (by their stored
    names) have those values; else ``None``.

    A plain ``find_one`` on ``{_id}`` alone: every store answers it by a key lookup, whereas
    ODMantic's ``find_one`` is an aggregate and a filter with more than ``_id`` makes the
    embedded store evaluate it document by document. The other fields are compared here.
    """
    doc = cast(
        "dict[str, Any] | None", await engine.get_collection(model).find_one({"_id": doc_id})
    )
    if doc is None or any(doc.get(key) != value for key, value in stored.items()):
        return None
    return model.model_validate_doc(doc)


async def count(
    collection: AsyncIOMotorCollection[dict[str, Any]], query: Mapping[str, Any]
) -> int:
    """How many documents match ``query``, by the ``count`` command. The embedded store
    answers it with one SQL ``COUNT`` over its index, whereas ``count_documents`` (an
    aggregate) makes it load and decode every matching document; MongoDB answers both from
    the same index.
    """
    reply = await collection.database.command("count", collection.name, query=query)
    return int(reply["n"])


# Building an index on a large collection takes longer than any request may: index creation
# at start-up gets this long, not the client's socket timeout.
PREPARE_TIMEOUT = 600.0


async def prepare(engine: AIOEngine, models: Sequence[type[Model]]) -> None:
    """Create the collections' indexes (idempotent)."""
    # Under `pymongo.timeout` server selection waits the whole timeout: ask first, so that an
    # unreachable store fails within its server selection timeout, not ten minutes.
    await engine.client.admin.command("ping")
    with pymongo.timeout(PREPARE_TIMEOUT):
        await engine.configure_database(models)


def close_engine(engine: AIOEngine) -> None:
    """Close the engine's client and its connection pool."""
    engine.client.close()


async def merge_if(
    collection: AsyncIOMotorCollection[dict[str, Any]],
    doc_id: ObjectId | str,
    guard: Mapping[str, Any],
    new: Mapping[str, Any],
) -> dict[str, Any] | None:
    """Merge ``new`` (field → aggregation expression) into the document ``doc_id`` if the
    aggregation expression ``guard`` holds for it, in one atomic update by ``_id``; the
    document as it was before (the caller re-checks the guard on it), or ``None``.
    """
    # Motor's stubs say a document always comes back; with no match it is None.
    return cast(
        "dict[str, Any] | None",
        await collection.find_one_and_update(
            {"_id": doc_id},
            [{"$replaceWith": {"$cond": [guard, {"$mergeObjects": ["$$ROOT", new]}, "$$ROOT"]}}],
            return_document=ReturnDocument.BEFORE,
        ),
    )


async def update_if(
    collection: AsyncIOMotorCollection[dict[str, Any]],
    doc_id: ObjectId,
    field: str,
    allowed: Sequence[str],
    changes: Mapping[str, Any],
    counter: str,
    defaults: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Set ``changes`` and add one to ``counter`` in one atomic update, only if ``field`` is one
    of ``allowed``; the document as it is afterwards, or ``None`` if it is missing or was not
    in an allowed state (then it is left untouched). ``defaults`` are set in the same update
    where the document holds ``null`` or nothing, and kept where it holds a value.

    The guard lives in the update (a pipeline that replaces the document by itself unless the
    guard holds), not in the filter: the filter stays ``{_id}``, which every store answers by a
    key lookup, whereas the embedded store scans the whole collection for a filter that adds
    any condition to ``_id``. A single-document update is atomic, so the guard is checked and
    the change made in one step, exactly as with a guarded filter.
    """
    guard = {"$in": [f"${field}", list(allowed)]}
    new = {key: {"$literal": value} for key, value in changes.items()}
    new[counter] = {"$add": [f"${counter}", 1]}
    for key, value in (defaults or {}).items():
        new[key] = {"$ifNull": [f"${key}", {"$literal": value}]}
    before = await merge_if(collection, doc_id, guard, new)
    if before is None or before.get(field) not in allowed:
        return None
    kept = {
        key: value if before.get(key) is None else before[key]
        for key, value in (defaults or {}).items()
    }
    return {**before, **changes, **kept, counter: before[counter] + 1}
