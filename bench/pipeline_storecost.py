# ruff: noqa: INP001  (a helper of bench/pipeline.py, not a package)
"""What each MongoDB command of an export costs the embedded MongoDB-wire store (mongoeco),
and how that grows with the number of documents in ``exports``.

A fresh store (SQLite file, as ``vitae dev`` runs it) gets the ``exports`` indexes of
``vitae.exports.models.Export``; for each size, the collection is filled with finished
exports, then each command shape that Vitae sends is timed by the store's own CPU
(``/proc/<pid>/stat``): ``aggregate`` on ``_id`` and owner (ODMantic's ``find_one``),
``findAndModify`` guarded by status in its filter (how ``ExportService._transition`` was
written first), the same guarded inside an update pipeline on ``{_id}`` (how
``vitae.db.update_if`` does it now), the same on ``_id`` alone (for comparison), and
``update`` by ``_id`` with upsert (ODMantic's ``save``).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pymongo
from bson import ObjectId
from pipeline_common import MS, cpu_seconds
from pymongo import ReturnDocument

from vitae.embedded import start_mongo

if TYPE_CHECKING:
    from collections.abc import Callable

    from pymongo.collection import Collection

SIZES = (100, 1_000, 2_000)
OPS = 20
BATCH = 100
ACTIVE = ["pending", "processing"]


@dataclass(frozen=True, slots=True)
class StoreCost:
    """Store CPU milliseconds per command at one collection size."""

    documents: int
    costs: dict[str, float]


def _doc(user: ObjectId, status: str) -> dict[str, Any]:
    return {
        "userId": user,
        "resumeId": ObjectId(),
        "status": status,
        "template": "classic",
        "paperSize": "a4",
        "options": {},
        "watermarked": False,
        "fileName": "Richard-Hendriks-Resume.pdf",
        "version": 1,
        "createdAt": time.time(),
    }


def _timed(pid: int, ids: list[ObjectId], call: Callable[[ObjectId], object]) -> float:
    started = cpu_seconds(pid)
    for oid in ids:
        call(oid)
    return (cpu_seconds(pid) - started) / len(ids) * MS


def _shapes(
    coll: Collection[dict[str, Any]], user: ObjectId
) -> dict[str, Callable[[ObjectId], object]]:
    change = {"$set": {"status": "processing"}, "$inc": {"version": 1}}
    guarded = {"$in": ["$status", ACTIVE]}
    new = {"status": {"$literal": "processing"}, "version": {"$add": ["$version", 1]}}
    replaced = {"$cond": [guarded, {"$mergeObjects": ["$$ROOT", new]}, "$$ROOT"]}
    return {
        "aggregate {_id, userId} (find_one)": lambda oid: list(
            coll.aggregate([{"$match": {"_id": oid, "userId": user}}, {"$limit": 1}])
        ),
        "findAndModify {_id, status $in} (guard in the filter)": lambda oid: (
            coll.find_one_and_update(
                {"_id": oid, "status": {"$in": ACTIVE}},
                change,
                return_document=ReturnDocument.AFTER,
            )
        ),
        "findAndModify {_id} guard in a pipeline (transition, vitae.db.update_if)": (
            lambda oid: coll.find_one_and_update(
                {"_id": oid},
                [{"$replaceWith": replaced}],
                return_document=ReturnDocument.BEFORE,
            )
        ),
        "findAndModify {_id} (for comparison)": lambda oid: coll.find_one_and_update(
            {"_id": oid}, change, return_document=ReturnDocument.AFTER
        ),
        "update {_id} upsert (save)": lambda oid: coll.update_one(
            {"_id": oid}, {"$set": {"fileSize": 1}}, upsert=True
        ),
    }


def measure_store(sizes: tuple[int, ...] = SIZES) -> list[StoreCost]:
    """The store's CPU per command shape at each collection size."""
    workdir = Path(tempfile.mkdtemp(prefix="vitae-storecost-"))
    server = start_mongo(path=workdir / "mongo.sqlite3")
    try:
        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(server.url)
        coll = client.vitae.exports
        coll.create_index([("userId", 1), ("createdAt", -1)])
        coll.create_index("status")
        coll.create_index([("resumeId", 1), ("status", 1)])
        user = ObjectId()
        results: list[StoreCost] = []
        for size in sizes:
            missing = size - coll.count_documents({})
            if missing > 0:
                for start in range(0, missing, BATCH):
                    batch = min(BATCH, missing - start)
                    coll.insert_many([_doc(user, "completed") for _ in range(batch)])
            costs: dict[str, float] = {}
            for name, call in _shapes(coll, user).items():
                ids = [coll.insert_one(_doc(user, "pending")).inserted_id for _ in range(OPS)]
                costs[name] = _timed(server.process.pid, ids, call)
                coll.delete_many({"_id": {"$in": ids}})
            results.append(StoreCost(size, costs))
        client.close()
        return results
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
