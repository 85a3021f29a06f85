"""`vitae.mongoeco_fix` overrides private methods of mongoeco's SQLite engine. These checks
fail loudly when the installed mongoeco no longer has the shape those overrides assume, and
check, against a real store, that its answers are unchanged and its feature questions are
answered from our indexes (docs/mongoeco-report.md).
"""

from __future__ import annotations

import inspect
import sqlite3
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

import pymongo
import pytest
from bson import ObjectId
from mongoeco.engines import _sqlite_write_ops
from mongoeco.engines import sqlite as sqlite_module
from mongoeco.engines.sqlite import SQLiteEngine
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from vitae.embedded import start_mongo
from vitae.mongoeco_fix import FEATURE_FIELDS, MARKER, NAMESPACE, ODD_TAGS, VitaeSQLiteEngine

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

UPGRADE = "mongoeco changed: compare it with vitae.mongoeco_fix and docs/mongoeco-report.md"
OVERRIDDEN = {
    "_validate_document_against_unique_indexes": [
        "self", "db_name", "coll_name", "document",
        "exclude_storage_key", "skip_id_check", "scan_payload_id",
    ],
    "_field_contains_tagged_value_type_in_collection": [
        "self", "db_name", "coll_name", "field", "value_type",
    ],
    "_sort_requires_python": ["self", "db_name", "coll_name", "plan", "sort"],
    "_connect_sync": ["self"],
    "_compile_read_execution_plan": [
        "self", "db_name", "coll_name", "semantics", "select_clause", "hint",
    ],
}  # fmt: skip


def test_the_installed_mongoeco_is_the_pinned_minor_version() -> None:
    assert version("mongoeco").startswith("4.11."), UPGRADE


def test_the_overridden_methods_keep_their_signatures() -> None:
    for name, parameters in OVERRIDDEN.items():
        original = getattr(SQLiteEngine, name)
        assert list(inspect.signature(original).parameters) == parameters, UPGRADE
        assert getattr(VitaeSQLiteEngine, name) is not original


def test_an_insert_still_asks_for_the_payload_scan() -> None:
    # The sixth positional argument of the check is ``scan_payload_id=True``: the scan skipped.
    source = inspect.getsource(_sqlite_write_ops.insert_document_record)
    assert "validate_document_against_unique_indexes(" in source, UPGRADE
    assert "True,  # noqa: FBT003" in source, UPGRADE


def test_every_write_calls_the_journal_through_the_replaced_global() -> None:
    writes = ("insert_document", "insert_documents", "merge_document", "delete_matching_document")
    for write in (*writes, "update_with_operation"):
        source = inspect.getsource(getattr(SQLiteEngine, f"_{write}_sync"))
        assert "_sqlite_append_change(" in source, UPGRADE
    assert inspect.getsource(sqlite_module).count("_sqlite_append_change(") == 5, UPGRADE


def test_the_sort_check_asks_what_ours_asks() -> None:
    # A private method, read on purpose: its shape is what is checked.
    method = SQLiteEngine._sort_requires_python  # noqa: SLF001  # pyright: ignore[reportPrivateUsage]
    source = inspect.getsource(method)
    for helper in (
        "plan_has_array_traversing_paths",
        "field_traverses_array_in_collection",
        "field_contains_tagged_bytes_in_collection",
        "field_contains_tagged_undefined_in_collection",
    ):
        assert helper in source, UPGRADE


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[pymongo.MongoClient[dict[str, Any]], Path]]:
    path = tmp_path / "mongo.sqlite3"
    server = start_mongo(path=path)
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(server.url)
    try:
        yield client, path
    finally:
        client.close()
        server.stop()


def test_duplicates_are_still_refused(
    store: tuple[pymongo.MongoClient[dict[str, Any]], Path],
) -> None:
    coll = store[0].vitae.things
    coll.create_index("email", unique=True)
    oid = ObjectId()
    coll.insert_one({"_id": oid, "email": "a@example.com"})
    coll.insert_one({"_id": "text", "email": "b@example.com"})
    coll.insert_one({"_id": 1, "email": "c@example.com"})
    for duplicate in (
        {"_id": oid},
        {"_id": "text"},
        {"_id": 1.0},  # a number of another type: mongoeco's own scan finds it
        {"email": "a@example.com"},
    ):
        with pytest.raises(DuplicateKeyError):
            coll.insert_one(duplicate)
    assert coll.count_documents({}) == 3


def test_writes_keep_no_change_journal(
    store: tuple[pymongo.MongoClient[dict[str, Any]], Path],
) -> None:
    client, path = store
    coll = client.vitae.exports
    oid = coll.insert_one({"status": "pending", "n": 1}).inserted_id
    coll.insert_many([{"n": 2}, {"n": 3}])
    after = coll.find_one_and_update(
        {"_id": oid}, {"$set": {"status": "processing"}}, return_document=ReturnDocument.AFTER
    )
    assert after is not None
    assert after["status"] == "processing"
    coll.update_one({"n": 2}, {"$inc": {"n": 10}})
    coll.delete_one({"n": 3})
    assert sorted(d["n"] for d in coll.find()) == [1, 12]
    with sqlite3.connect(path) as db:
        journaled = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'change_outbox'")
        assert journaled.fetchone() is None
        assert db.execute("SELECT COUNT(*) FROM change_outbox_identities").fetchone() == (0,)


def test_sorts_and_filters_answer_as_before(
    store: tuple[pymongo.MongoClient[dict[str, Any]], Path],
) -> None:
    coll = store[0].vitae.exports
    coll.create_index([("userId", 1), ("createdAt", -1)])
    coll.create_index("status")
    user, other = ObjectId(), ObjectId()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(30):
        owner = user if i % 3 else other
        created = start + timedelta(minutes=i)
        coll.insert_one({"userId": owner, "status": "completed", "createdAt": created, "n": i})
    newest = [d["n"] for d in coll.find({"userId": user}).sort("createdAt", -1).limit(5)]
    assert newest == [29, 28, 26, 25, 23]
    coll.insert_one({"userId": user, "status": "pending", "createdAt": [1, 2], "n": 30})
    # An array in the sort field: mongoeco sorts in Python, as MongoDB orders arrays.
    ordered = [d["n"] for d in coll.find({"userId": user}).sort("createdAt", 1).limit(2)]
    assert ordered == [30, 1]
    assert [d["n"] for d in coll.find({"status": "pending"})] == [30]


def test_feature_questions_are_answered_from_our_indexes(
    store: tuple[pymongo.MongoClient[dict[str, Any]], Path],
) -> None:
    client, path = store
    client.vitae.exports.insert_one({"status": "pending"})  # the engine connects, indexes exist
    conn = sqlite3.connect(path)
    try:
        for field in FEATURE_FIELDS:
            literal = "'$." + field + "'"
            tag = f"COALESCE(json_extract(document, '$.{field}{MARKER}'), '')"
            questions = [
                # mongoeco's own, word for word: does the field hold an array?
                f"{NAMESPACE}json_type(document, {literal}) = 'array' LIMIT 1",
                f"{NAMESPACE}{tag} = ? LIMIT 1",
                (
                    f"{NAMESPACE}json_type(document, {literal}) = 'object' AND {tag} IN "
                    f"({', '.join('?' * len(ODD_TAGS))}) LIMIT 1"
                ),
            ]
            for sql in questions:
                params = ("vitae", "exports", *(["x"] * sql.count("?", len(NAMESPACE))))
                plan = " ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
                assert "INDEX vitae_" in plan, (sql, plan)
    finally:
        conn.close()


def test_indexed_reads_answer_as_the_filter_says(
    store: tuple[pymongo.MongoClient[dict[str, Any]], Path],
) -> None:
    # The shapes ``_indexed_read`` serves from an index, checked against the documents.
    coll = store[0].vitae.exports
    coll.create_index("status")
    coll.create_index("completedAt")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    docs: list[dict[str, Any]] = []
    for i in range(40):
        created = start + timedelta(minutes=i, milliseconds=i * 7)
        docs.append({
            "_id": ObjectId.from_datetime(created),
            "status": ["pending", "completed", "failed"][i % 3],
            "completedAt": created if i % 3 else None,
            "n": i,
        })  # fmt: skip
    docs.append({"_id": "text-id", "status": 1, "n": 40})  # other types: never matched
    coll.insert_many(docs)
    coll.insert_one({"_id": 7, "status": "pending", "n": 41, "completedAt": "2026-02-01"})

    def ns(query: dict[str, Any], **kwargs: Any) -> list[int]:
        return [d["n"] for d in coll.find(query, **kwargs)]

    assert sorted(ns({"status": "pending"})) == [*range(0, 40, 3), 41]
    limited = ns({"status": "pending"}, limit=2)  # unsorted: any two of them
    assert len(limited) == 2
    assert set(limited) <= {*range(0, 40, 3), 41}
    assert ns({"status": "cancelled"}) == []
    middle = start + timedelta(minutes=20)
    after = [i for i in range(40) if i % 3 and i >= 20]
    assert sorted(ns({"completedAt": {"$gte": middle}})) == after
    assert sorted(ns({"completedAt": {"$gt": middle}})) == after  # 20 ended 140 ms after
    assert sorted(ns({"completedAt": {"$lt": middle}})) == [i for i in range(20) if i % 3]
    bound = ObjectId.from_datetime(middle)
    assert ns({"_id": {"$lt": bound}}, sort=[("_id", -1)], limit=3) == [19, 18, 17]
    assert sorted(ns({"_id": {"$lt": bound}})) == list(range(20))
    assert coll.count_documents({"status": "failed"}) == len(range(2, 40, 3))
