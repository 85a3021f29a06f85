# ruff: noqa: INP001  (a benchmark script, not a package)
"""What each of Vitae's store commands costs the embedded store, empty and with a history.

``uv run python bench/store_commands.py [--history 50000]`` starts the MongoDB-wire store as
``vitae dev`` does (``vitae.embedded``, a SQLite file), creates the ``exports`` indexes, adds
1,000 exports of one user, and prints the store's CPU (``/proc``) per command shape, each run
right after an insert as under load; then seeds ``--history`` finished exports more and
prints the same. The shapes: an export's whole path (insert, read by ``_id``, two guarded
transitions by ``_id``, the webhooks' endpoint look-up), the list's page and total, and the
periodic jobs' queries (reconciler, webhook reconciler, retention purge).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pymongo
from bson import ObjectId
from pipeline_common import MS, cpu_seconds, say
from pymongo import ReturnDocument

from vitae.embedded import start_mongo

if TYPE_CHECKING:
    from collections.abc import Callable

    from pymongo.collection import Collection
    from pymongo.database import Database

BATCH = 1_000
OWN = 1_000
TERMINAL = ["completed", "failed", "cancelled"]


def _export(user: ObjectId, status: str, created: datetime) -> dict[str, Any]:
    return {
        "userId": user,
        "resumeId": ObjectId(),
        "status": status,
        "template": "classic",
        "paperSize": "a4",
        "options": {},
        "watermarked": False,
        "fileName": "Resume.pdf",
        "callbackUrl": None,
        "version": 1,
        "attempts": 0,
        "createdAt": created,
        "updatedAt": created,
        "completedAt": created if status in TERMINAL else None,
    }


def _guarded(allowed: list[str], new: dict[str, Any]) -> list[dict[str, Any]]:
    """``vitae.db.update_if``'s pipeline."""
    merged = {"$mergeObjects": ["$$ROOT", {k: {"$literal": v} for k, v in new.items()}]}
    return [{"$replaceWith": {"$cond": [{"$in": ["$status", allowed]}, merged, "$$ROOT"]}}]


def shapes(db: Database[dict[str, Any]], user: ObjectId) -> list[tuple[str, Callable[[], object]]]:
    """Each command shape and how to send it once."""
    coll: Collection[dict[str, Any]] = db.exports
    now = datetime.now(UTC)

    def export_path() -> None:
        oid = coll.insert_one(_export(ObjectId(), "pending", datetime.now(UTC))).inserted_id
        coll.find_one({"_id": oid})
        before = ReturnDocument.BEFORE
        coll.find_one_and_update({"_id": oid}, _guarded(["pending"], {"status": "processing"}))
        done = {"status": "completed", "completedAt": datetime.now(UTC)}
        coll.find_one_and_update(
            {"_id": oid}, _guarded(["processing"], done), return_document=before
        )
        list(db.webhooks.find({"userId": ObjectId(), "enabled": True}))

    window = {"$gte": now - timedelta(hours=1), "$lt": now - timedelta(seconds=60)}
    owners = [{"callbackUrl": {"$ne": None}}, {"userId": {"$in": [ObjectId()]}}]
    return [
        ("an export's path (5 commands)", export_path),
        (
            f"list: page of 20 of a user's {OWN:,}",
            lambda: list(
                coll.find({"userId": user}).sort([("createdAt", -1), ("_id", -1)]).limit(20)
            ),
        ),
        (
            "list: total (count command)",
            lambda: db.command("count", "exports", query={"userId": user}),
        ),
        (
            "reconciler (every minute)",
            lambda: list(
                coll.find({"status": {"$in": ["pending", "processing"]}, "updatedAt": {"$lt": now}})
            ),
        ),
        (
            "webhook reconciler (every minute)",
            lambda: list(
                coll.find({"status": {"$in": TERMINAL}, "completedAt": window, "$or": owners})
            ),
        ),
        (
            "retention purge (hourly)",
            lambda: list(
                coll.find(
                    {"status": {"$in": TERMINAL}, "createdAt": {"$lt": now - timedelta(days=30)}}
                )
                .sort("createdAt", 1)
                .limit(500)
            ),
        ),
    ]


def measure(db: Database[dict[str, Any]], pid: int, user: ObjectId, runs: int) -> dict[str, float]:
    """Store CPU ms per shape, each sent ``runs`` times right after an insert."""
    costs: dict[str, float] = {}
    for name, send in shapes(db, user):
        spent = 0.0
        for _ in range(runs):
            db.exports.insert_one(_export(ObjectId(), "completed", datetime.now(UTC)))
            before = cpu_seconds(pid)
            send()
            spent += cpu_seconds(pid) - before
        costs[name] = spent / runs * MS
    return costs


def seed(db: Database[dict[str, Any]], count: int, users: int) -> None:
    """``count`` finished exports across ``users`` users, over the past 29 days."""
    owners = [ObjectId() for _ in range(users)]
    now = datetime.now(UTC)
    for start in range(0, count, BATCH):
        db.exports.insert_many(
            [
                _export(owners[i % users], "completed", now - timedelta(days=29 * (1 - i / count)))
                for i in range(start, min(start + BATCH, count))
            ]
        )


def main() -> None:
    """Empty, then with the history: the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--history", type=int, default=50_000)
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=5, help="sends of each shape (5)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="vitae-store-commands-"))
    server = start_mongo(path=workdir / "mongo.sqlite3")
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(server.url, tz_aware=True)
    try:
        db = client.vitae
        db.exports.create_index([("userId", 1), ("createdAt", -1)])
        db.exports.create_index("status")
        db.exports.create_index([("resumeId", 1), ("status", 1)])
        db.exports.create_index("completedAt")
        user = ObjectId()
        seed(db, OWN, 1)
        db.exports.update_many({}, {"$set": {"userId": user}})
        empty = measure(db, server.process.pid, user, args.runs)
        started = time.monotonic()
        seed(db, args.history, args.users)
        say(f"seeded {args.history:,} exports in {time.monotonic() - started:.0f} s")
        full = measure(db, server.process.pid, user, args.runs)
        say(f"\n| store CPU ms per command | empty | {args.history:,} exports |")
        say("| --- | --- | --- |")
        for name, cost in empty.items():
            say(f"| {name} | {cost:.1f} | {full[name]:.1f} |")
    finally:
        client.close()
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
