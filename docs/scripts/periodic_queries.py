"""What each periodic query costs the embedded store at 0 and N stored exports, old shape and
new (docs/benchmarks.md, "Periodic jobs"). Run: ``uv run python docs/scripts/periodic_queries.py
[N ...]``. Wall time of the command as the client sees it (median of 7, after a write to the
collection so that mongoeco's caches are cold, as under load), and the store's start time.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pymongo
from bson import ObjectId

from vitae.embedded import start_mongo

NOW = datetime.now(UTC)
ACTIVE, TERMINAL = ["pending", "processing"], ["completed", "failed", "cancelled"]


def doc(i: int, n: int, status: str) -> dict[str, Any]:
    created = NOW - timedelta(days=30) + timedelta(seconds=i * (30 * 86400 // max(n, 1)))
    oid = ObjectId(ObjectId.from_datetime(created).binary[:4] + ObjectId().binary[4:])
    return {
        "_id": oid, "userId": ObjectId(), "resumeId": ObjectId(), "status": status,
        "template": "classic", "paperSize": "a4", "options": {}, "watermarked": True,
        "fileName": "A-Resume.pdf", "enqueuedAt": created, "createdAt": created,
        "updatedAt": created, "completedAt": created if status != "pending" else None,
        "attempts": 1, "version": 3,
    }  # fmt: skip


def timed(coll: Any, run: Any) -> float:
    samples = []
    for _ in range(7):
        coll.insert_one({"status": "scratch", "createdAt": NOW})  # clears mongoeco's caches
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def measure(n: int) -> None:
    path = Path(tempfile.mkdtemp()) / "store.sqlite3"
    server = start_mongo(path=path)
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(server.url)
    coll = client.vitae.exports
    for keys in (["status"], ["completedAt"], [("userId", 1), ("createdAt", -1)]):
        coll.create_index(keys)
    for start in range(0, n, 5000):
        coll.insert_many([doc(i, n, "completed") for i in range(start, min(n, start + 5000))])
    coll.insert_many([doc(n + i, n, "pending") for i in range(20)])
    cutoff = NOW - timedelta(minutes=5)
    oldest = ObjectId.from_datetime(NOW - timedelta(days=29))
    shapes = {
        "relay, old: {enqueuedAt: null, createdAt: {$lt}} sorted": lambda: list(
            coll.find({"enqueuedAt": None, "createdAt": {"$lt": cutoff}})
            .sort([("enqueuedAt", 1), ("createdAt", 1)]).limit(200)
        ),
        "relay/reconciler, new: {status: 'pending'}": lambda: list(coll.find({"status": "pending"})),
        "reconciler, old: {status: {$in}, updatedAt: {$lt}}": lambda: list(
            coll.find({"status": {"$in": ACTIVE}, "updatedAt": {"$lt": cutoff}})
        ),
        "purge, old: {status: {$in}, createdAt: {$lt}} sorted, 500": lambda: list(
            coll.find({"status": {"$in": TERMINAL}, "createdAt": {"$lt": cutoff - timedelta(days=29)}})
            .sort("createdAt", 1).limit(500)
        ),
        "purge, new: {_id: {$lt}} sorted by _id, 500": lambda: list(
            coll.find({"_id": {"$lt": oldest}}).sort("_id", -1).limit(500)
        ),
        "webhooks, old: status $in + completedAt range + $or": lambda: list(
            coll.find({
                "status": {"$in": TERMINAL},
                "completedAt": {"$gte": NOW - timedelta(hours=1), "$lt": NOW - timedelta(minutes=1)},
                "$or": [{"callbackUrl": {"$ne": None}}, {"userId": {"$in": []}}],
            })
        ),
        "webhooks, new: {completedAt: {$gte}}": lambda: list(
            coll.find({"completedAt": {"$gte": NOW - timedelta(hours=1)}})
        ),
    }  # fmt: skip
    for name, run in shapes.items():
        print(f"{n:>7} exports | {name}: {timed(coll, run):.1f} ms")
    client.close()
    server.stop()
    started = time.perf_counter()
    again = start_mongo(path=path)
    print(f"{n:>7} exports | store start (open the file, backfill): "
          f"{time.perf_counter() - started:.1f} s")  # fmt: skip
    again.stop()


if __name__ == "__main__":
    for size in [int(arg) for arg in sys.argv[1:]] or [0, 50_000]:
        measure(size)
