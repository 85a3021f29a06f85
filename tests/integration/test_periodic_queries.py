"""The periodic jobs read only what is due: against a real embedded store (SQLite file) that
holds a few thousand finished exports, every SQL statement that the relay, the reconciler, the
retention purge and the webhook reconciler make the store run is served by an index (its
``EXPLAIN QUERY PLAN`` searches, never scans, the documents or the index entries), and each
returns exactly the due records seeded among the others.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pymongo
import pytest
from bson import ObjectId
from mongoeco.wire.proxy import AsyncMongoEcoProxyServer
from odmantic.bson import ObjectId as ModelId

from support import Services, make_settings
from vitae.embedded import free_port
from vitae.exports.models import Export, ExportStatus
from vitae.mongoeco_fix import VitaeSQLiteEngine
from vitae.queue import open_delivery_queue, open_queue
from vitae.webhooks.models import Delivery
from vitae.webhooks.service import WebhookService
from vitae.wiring import render_worker

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

    from vitae.exports.service import ExportService

HISTORY = 3_000  # finished exports that no periodic job has anything to do with
# Tables whose full scan grows with the history (the others are catalogs of a few rows).
GROWING = ("documents", "scalar_index_entries", "multikey_entries")


class TracedEngine(VitaeSQLiteEngine):
    """The store's engine, recording every SQL statement it runs (bound values expanded)."""

    statements: list[str]

    def _create_sqlite_connection(self) -> sqlite3.Connection:
        connection = super()._create_sqlite_connection()
        connection.set_trace_callback(self.statements.append)
        return connection


class Store:
    """A wire server over a ``TracedEngine`` in a thread of this process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.port = free_port()
        self.url = f"mongodb://127.0.0.1:{self.port}/?directConnection=true"
        self.engine = TracedEngine(str(path))
        self.engine.statements = []
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._serve(),))

    async def _serve(self) -> None:
        server = AsyncMongoEcoProxyServer(engine=self.engine, host="127.0.0.1", port=self.port)
        await server.start()
        try:
            await self._stop.wait()
        finally:
            await server.close()

    def start(self) -> None:
        self._thread.start()
        # A ping waits for the server (pymongo's server selection), within its timeout.
        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
            self.url, serverSelectionTimeoutMS=20_000
        )
        try:
            client.admin.command("ping")
        finally:
            client.close()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def scans(self) -> list[tuple[str, str]]:
        """The statements run since the last call whose plan scans a growing table."""
        found: list[tuple[str, str]] = []
        statements, self.engine.statements[:] = list(self.engine.statements), []
        conn = sqlite3.connect(self.path)
        try:
            for sql in statements:
                # The collections that grow with the history kept (not ``webhooks``: a few
                # endpoints per user, read whole by the webhook reconciler).
                growing = "coll_name = 'exports'" in sql or "coll_name = 'deliveries'" in sql
                if not sql.lstrip().upper().startswith("SELECT") or not growing:
                    continue
                plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql)]
                found += [(sql, step) for step in plan if _scans(step)]
        finally:
            conn.close()
        return found


# Terms of an index search that only name the collection (or a whole type of values).
NAMESPACE_TERMS = ("db_name=", "coll_name=", "collection_id=", "index_name=", "type_score=")


def _scans(step: str) -> bool:
    """Whether a plan step reads a growing table whole: a ``SCAN``, or a ``SEARCH`` whose
    index terms go no further than the collection (the primary key's ``db_name, coll_name``).
    """
    words = step.split()
    if len(words) < 2 or words[1] not in GROWING:
        return False
    if words[0] == "SCAN":
        return True
    terms = step.partition("(")[2].rstrip(")").split(" AND ") if "(" in step else []
    return not [term for term in terms if term and not term.startswith(NAMESPACE_TERMS)]


def export_doc(
    created: datetime, status: ExportStatus, user: ObjectId, **extra: Any
) -> dict[str, Any]:
    """An export record as the service writes it, created at ``created``."""
    export = Export(  # pyright: ignore[reportCallIssue]  (the id is given)
        id=ObjectId.from_datetime(created),
        user_id=ModelId(user),
        resume_id=ModelId(),
        status=status,
        template="classic",
        paper_size="a4",
        watermarked=True,
        file_name="A-Resume.pdf",
        created_at=created,
        updated_at=created,
        enqueued_at=created,
        completed_at=created if status in {ExportStatus.COMPLETED, ExportStatus.FAILED} else None,
        **extra,
    )
    doc = export.model_dump_doc()
    # ObjectId.from_datetime leaves the other bytes zero: make each id unique.
    doc["_id"] = ObjectId(doc["_id"].binary[:4] + ObjectId().binary[4:])
    return doc


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    served = Store(tmp_path / "mongo.sqlite3")
    served.start()
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture
async def exports(store: Store, services: Services, data_dir: Path) -> AsyncIterator[ExportService]:
    settings = make_settings(
        services,
        data_dir,
        VITAE_MONGODB_URL=store.url,
        VITAE_QUEUE_NAME=f"periodic_{ObjectId()}",
        VITAE_MONGODB_DATABASE="vitae",
    )
    queue = open_queue(settings)
    await queue.connect()
    try:
        async with render_worker(settings, queue) as deps:  # indexes exist from here on
            yield deps.exports
    finally:
        await queue.disconnect()


NOW = datetime.now(UTC)


def seed(store: Store, due: list[dict[str, Any]]) -> None:
    """``HISTORY`` exports finished in the last ten days, and ``due`` among them."""
    user = ObjectId()
    history = [
        export_doc(NOW - timedelta(days=10) + timedelta(seconds=i * 280), s, user)
        for i, s in enumerate([ExportStatus.COMPLETED, ExportStatus.FAILED] * (HISTORY // 2))
    ]
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(store.url)
    try:
        client.vitae.exports.insert_many(history + due)
    finally:
        client.close()
    store.scans()  # forget the seeding's statements


async def test_the_relay_reads_the_pending_exports_only(
    store: Store, exports: ExportService
) -> None:
    lost = export_doc(NOW - timedelta(minutes=1), ExportStatus.PENDING, ObjectId())
    lost["enqueuedAt"] = None
    young = export_doc(NOW + timedelta(hours=1), ExportStatus.PENDING, ObjectId())
    young["enqueuedAt"] = None
    seed(store, [lost, young])
    assert await exports.relay() == 1
    assert store.scans() == []
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(store.url)
    try:
        marked = client.vitae.exports.find_one({"_id": lost["_id"]})
    finally:
        client.close()
    assert marked is not None
    assert marked["enqueuedAt"] is not None
    assert await exports.relay() == 0  # marked: the next pass leaves it to the reconciler


async def test_the_reconciler_reads_the_active_exports_only(
    store: Store, exports: ExportService
) -> None:
    stuck = export_doc(NOW - timedelta(hours=1), ExportStatus.PROCESSING, ObjectId())
    busy = export_doc(NOW + timedelta(hours=1), ExportStatus.PROCESSING, ObjectId())
    seed(store, [stuck, busy])
    assert [e.id for e in await exports.stale(timedelta(minutes=5))] == [stuck["_id"]]
    assert store.scans() == []


async def test_the_purge_reads_the_expired_records_by_id(
    store: Store, exports: ExportService
) -> None:
    old = [
        export_doc(NOW - timedelta(days=40, minutes=i), ExportStatus.COMPLETED, ObjectId())
        for i in range(5)
    ]
    still_active = export_doc(NOW - timedelta(days=35), ExportStatus.PENDING, ObjectId())
    seed(store, [*old, still_active])
    found: list[ObjectId] = []
    before: ObjectId | None = None
    pages = 0
    while True:
        batch, before = await exports.expired(timedelta(days=30), 2, before=before)
        found += [e.id for e in batch]
        pages += 1
        if before is None:
            break
    assert sorted(found) == sorted(d["_id"] for d in old)
    assert pages == 4  # six old records by two, and the empty page that ends it
    assert store.scans() == []


async def test_the_webhook_reconciler_reads_what_ended_in_its_window(
    store: Store, exports: ExportService
) -> None:
    user = ObjectId()
    ended = export_doc(
        NOW - timedelta(minutes=10), ExportStatus.COMPLETED, user, callback_url="http://x.test/"
    )
    seed(store, [ended])
    queue = open_delivery_queue(exports.settings)
    webhooks = WebhookService(exports.engine, exports.settings, queue=queue, redis=queue.redis)
    deliveries = exports.engine.get_collection(Delivery)
    result = await webhooks.reconcile(settle=timedelta(minutes=1), window=timedelta(hours=1))
    assert result["dispatched"] == 1
    assert await deliveries.count_documents({}) == 1
    store.scans()
    # The delivery recorded above is pending and its attempt is not overdue yet.
    again = await webhooks.reconcile(settle=timedelta(minutes=1), window=timedelta(hours=1))
    assert again == {"dispatched": 0, "requeued": 0, "givenUp": 0}
    assert store.scans() == []


async def test_a_scan_is_seen(store: Store, exports: ExportService) -> None:
    # The check above catches what the periodic queries used to ask.
    seed(store, [])
    cutoff = NOW - timedelta(minutes=5)
    docs = exports.collection.find({"status": {"$in": ["pending"]}, "updatedAt": {"$lt": cutoff}})
    assert [doc async for doc in docs] == []
    assert store.scans() != []
