"""The embedded store's engine: mongoeco's SQLite engine with three fixes, until upstream has
them (docs/mongoeco-report.md). Each one keeps mongoeco's answer and removes a full scan of the
collection that otherwise runs again after every write, so that a command costs the same
whatever the collection holds.

1. An insert checked its ``_id`` for duplicates by its storage key (an indexed lookup), then
   again by loading and decoding *every* document to compare ``_id``s by BSON equality. The
   second check can only find what the first missed when two ``_id``s of different types
   compare equal, which needs a number inside the ``_id`` (``1`` and ``1.0``); mongoeco runs
   that scan for such ids by itself. For ObjectId and string ``_id``s it is skipped.
2. Before a find with a filter or a sort, the planner asks whether a field of the collection
   holds arrays, BSON numbers of other widths or odd types. Each question is one SQL query
   over the whole collection, cached until the next write to it; so under a steady load every
   query pays them again. The same questions are asked here through expressions that SQLite
   indexes (``FEATURE_FIELDS``), so each is an index lookup.
3. Whether a sort needs Python is asked for the whole collection instead of the documents the
   filter matches: the filter's SQL there is not one the indexes serve, the whole-collection
   question is (2), and a "yes" for a document outside the filter only chooses the slower,
   equally correct sort.
4. ``find`` never took the scalar-index fast paths that ``explain`` reports: it compiled every
   filter with the general planner, whose SQL scans the collection. Three shapes are served
   here from an index, with mongoeco's own SQL where it has one, and answer what mongoeco's
   planner answers (``_indexed_read``): equality on a field with a single-field index, a
   one-sided range of dates on such a field, and a range of ObjectId ``_id``s (optionally
   sorted by ``_id``) from the primary key.
5. Every write also journaled a change-stream record (a "gap" record when nothing watches,
   holding the whole document) and then ran the journal's delivery loop, which starts a
   heartbeat thread: about a quarter of the store's CPU per export. Vitae opens no change
   streams, so the engine declares no change delivery and keeps no journal.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import mongoeco.engines.sqlite as sqlite_module
from bson import ObjectId
from mongoeco import ObjectId as EngineObjectId
from mongoeco.core.query_plan import (
    EqualsCondition,
    GreaterThanCondition,
    GreaterThanOrEqualCondition,
    LessThanCondition,
    LessThanOrEqualCondition,
)
from mongoeco.engines.sqlite import SQLiteEngine
from mongoeco.engines.sqlite_planner import SQLiteReadExecutionPlan
from mongoeco.engines.sqlite_query import json_path_for_field

if TYPE_CHECKING:
    from mongoeco._types.aliases import IndexKeySpec
    from mongoeco.core.query_plan import QueryNode
    from mongoeco.engines.semantic_core import EngineFindSemantics

# The version whose private methods these overrides were written against; the tests check
# that the methods still exist with these names and that SQLite uses the indexes.
CHECKED_VERSION = (4, 11)
MARKER = '."$mongoeco".type'
# Type tags that mongoeco's SQL sort does not order (and '': an untagged embedded document).
ODD_TAGS = ("", "int64", "decimal", "decimal128", "decimal128_public")

# Whether any document of a collection matches a condition; the condition holds JSON paths as
# escaped SQL literals (as mongoeco writes its own), and every value is a bound parameter.
NAMESPACE = "SELECT 1 FROM documents WHERE db_name = ? AND coll_name = ? AND "

# Fields that Vitae filters or sorts on: the feature questions about them use an index.
FEATURE_FIELDS = (
    "_id",
    "userId",
    "resumeId",
    "exportId",
    "status",
    "createdAt",
    "updatedAt",
    "completedAt",
    "enqueuedAt",
    "idempotencyScope",
)


# The SQL operator of each one-sided range condition.
RANGES: dict[type[QueryNode], str] = {
    GreaterThanCondition: ">",
    GreaterThanOrEqualCondition: ">=",
    LessThanCondition: "<",
    LessThanOrEqualCondition: "<=",
}
# The twelve bytes of the smallest ObjectId. The storage keys of ObjectId ``_id``s share a
# prefix that names the id's class (mongoeco's own ObjectId inside the engine), then order as
# the ids do: a range of ids of that class is a range of the primary key.
_SMALLEST_ID_BYTES = b"\x00" * 12


def _literal(field: str, suffix: str = "") -> str:
    """A JSON path as an SQL string literal (SQLite matches an indexed expression only when
    the path is written in the query, not bound as a parameter).
    """
    return "'" + (json_path_for_field(field) + suffix).replace("'", "''") + "'"


def feature_indexes() -> list[str]:
    """``CREATE INDEX`` statements for the feature questions of ``FEATURE_FIELDS``: one on the
    JSON type and the BSON type tag together, one on the tag alone.
    """
    statements: list[str] = []
    for field in FEATURE_FIELDS:
        name = field.lstrip("_")
        json_type = f"json_type(document, {_literal(field)})"
        tag = f"COALESCE(json_extract(document, {_literal(field, MARKER)}), '')"
        both = f"(db_name, coll_name, {json_type}, {tag})"
        statements += [
            f"CREATE INDEX IF NOT EXISTS vitae_types_{name} ON documents {both}",
            f"CREATE INDEX IF NOT EXISTS vitae_tag_{name} ON documents (db_name, coll_name, {tag})",
        ]
    return statements


def _identity_keyed(value: object) -> bool:
    """Whether equal ``_id``s of this kind always have equal storage keys."""
    return isinstance(value, (ObjectId, str))


class VitaeSQLiteEngine(SQLiteEngine):
    """mongoeco's SQLite engine without full scans on inserts and query planning, and without
    a change-stream journal.
    """

    # With no change delivery, mongoeco neither runs the delivery loop after a write nor
    # requires the write to have a journal sequence.
    capabilities = dataclasses.replace(SQLiteEngine.capabilities, change_delivery="none")

    def _connect_sync(self) -> None:
        super()._connect_sync()
        conn = self._require_connection()
        for statement in feature_indexes():
            conn.execute(statement)
        conn.commit()

    def _validate_document_against_unique_indexes(
        self,
        db_name: str,
        coll_name: str,
        document: dict[str, Any],
        *,
        exclude_storage_key: str | None = None,
        skip_id_check: bool = False,
        scan_payload_id: bool = False,
    ) -> None:
        if scan_payload_id and _identity_keyed(document.get("_id")):
            scan_payload_id = False
        super()._validate_document_against_unique_indexes(
            db_name,
            coll_name,
            document,
            exclude_storage_key=exclude_storage_key,
            skip_id_check=skip_id_check,
            scan_payload_id=scan_payload_id,
        )

    def _field_contains_tagged_value_type_in_collection(
        self, db_name: str, coll_name: str, field: str, value_type: str
    ) -> bool:
        key = (db_name, coll_name, f"tagged_type:{field}:{value_type}")
        cache: dict[tuple[str, str, str], Any] = self._collection_features_cache
        if key not in cache:
            tag = f"COALESCE(json_extract(document, {_literal(field, MARKER)}), '')"
            sql = f"{NAMESPACE}{tag} = ? LIMIT 1"
            row = self._require_connection().execute(sql, (db_name, coll_name, value_type))
            row = row.fetchone()
            cache[key] = row is not None
        return bool(cache[key])

    def _sort_requires_python(
        self, db_name: str, coll_name: str, plan: QueryNode, sort: list[tuple[str, Any]] | None
    ) -> bool:
        # mongoeco's own check (``sort_requires_python``), asked of the whole collection.
        if not sort:
            return False
        if self._plan_has_array_traversing_paths(db_name, coll_name, plan):
            return True
        return any(self._sort_field_is_irregular(db_name, coll_name, field) for field, _ in sort)

    def _sort_field_is_irregular(self, db_name: str, coll_name: str, field: str) -> bool:
        """Whether SQL cannot sort on ``field``: some document holds an array there, an
        untagged embedded document, a number of another width, bytes or ``undefined``.
        """
        if (
            self._field_traverses_array_in_collection(db_name, coll_name, field)
            or self._field_contains_tagged_bytes_in_collection(db_name, coll_name, field)
            or self._field_contains_tagged_undefined_in_collection(db_name, coll_name, field)
        ):
            return True
        json_type = f"json_type(document, {_literal(field)})"
        tag = f"COALESCE(json_extract(document, {_literal(field, MARKER)}), '')"
        conn = self._require_connection()
        array = conn.execute(f"{NAMESPACE}{json_type} = 'array' LIMIT 1", (db_name, coll_name))
        if array.fetchone() is not None:
            return True
        odd = conn.execute(
            f"{NAMESPACE}{json_type} = 'object' AND {tag} IN ({', '.join('?' * len(ODD_TAGS))}) "
            "LIMIT 1",
            (db_name, coll_name, *ODD_TAGS),
        )
        return odd.fetchone() is not None

    def _compile_read_execution_plan(
        self,
        db_name: str,
        coll_name: str,
        semantics: EngineFindSemantics,
        *,
        select_clause: str = "document",
        hint: str | IndexKeySpec | None = None,
    ) -> SQLiteReadExecutionPlan:
        indexed = None
        if select_clause == "document" and hint is None:
            indexed = self._indexed_read(db_name, coll_name, semantics)
        if indexed is not None:
            sql, params = indexed
            return SQLiteReadExecutionPlan(
                semantics=semantics,
                strategy="sql",
                execution_lineage=(),
                physical_plan=(),
                use_sql=True,
                sql=sql,
                params=params,
            )
        return super()._compile_read_execution_plan(
            db_name, coll_name, semantics, select_clause=select_clause, hint=hint
        )

    def _indexed_read(
        self, db_name: str, coll_name: str, semantics: EngineFindSemantics
    ) -> tuple[str, tuple[object, ...]] | None:
        """SQL that reads exactly the documents the find matches, in the order it asks for,
        through an index; ``None`` when the find has another shape (mongoeco plans it).
        """
        plan = semantics.query_plan
        if (
            semantics.text_query is not None
            or semantics.collation is not None
            or semantics.skip
            or getattr(plan, "field", "_").count(".")
        ):
            return None
        if isinstance(plan, (LessThanCondition, LessThanOrEqualCondition)) and plan.field == "_id":
            return self._id_range_sql(db_name, coll_name, semantics)
        if semantics.sort is not None or getattr(plan, "field", "_id") == "_id":
            return None
        if isinstance(plan, EqualsCondition):
            return self._equality_sql(db_name, coll_name, plan, semantics.limit)
        operator = RANGES.get(type(plan))
        if operator is not None:
            return self._date_range_sql(db_name, coll_name, plan, operator, semantics.limit)
        return None

    def _equality_sql(
        self, db_name: str, coll_name: str, plan: EqualsCondition, limit: int | None
    ) -> tuple[str, tuple[object, ...]] | None:
        # mongoeco's own fast path (``plan_find_semantics_sync``), which ``explain`` reports;
        # ``null`` also matches a missing field, which the scalar index does not list.
        if plan.value is None:
            return None
        index = self._find_scalar_fast_path_index(db_name, coll_name, plan.field)
        if index is None or self._field_is_top_level_array_in_collection(
            db_name, coll_name, plan.field
        ):
            return None
        return self._build_scalar_indexed_top_level_equals_sql(
            db_name,
            coll_name,
            field=plan.field,
            value=plan.value,
            index_name=str(index["name"]),
            physical_name=str(index["scalar_physical_name"]),
            limit=limit,
            null_matches_undefined=plan.null_matches_undefined,
        )

    def _date_range_sql(
        self, db_name: str, coll_name: str, plan: QueryNode, operator: str, limit: int | None
    ) -> tuple[str, tuple[object, ...]] | None:
        # mongoeco's range fast path takes numbers, strings and booleans; a date compares only
        # with dates (MongoDB's type brackets), and the index keys of dates (ISO text, naive
        # UTC, microseconds only when there are some) order as the dates do.
        field: str = getattr(plan, "field")  # noqa: B009  (every range condition has one)
        value: object = getattr(plan, "value")  # noqa: B009
        signature = self._multikey_value_signature(value)
        if signature is None or signature[0] != "datetime":
            return None
        index = self._find_scalar_fast_path_index(db_name, coll_name, field)
        if index is None or self._field_is_top_level_array_in_collection(db_name, coll_name, field):
            return None
        collection_id = self._lookup_collection_id(self._require_connection(), db_name, coll_name)
        if collection_id is None:
            return None
        # Every value is a bound parameter; the operator and index name are ours.
        sql = (
            "SELECT documents.document "  # noqa: S608
            f"FROM scalar_index_entries INDEXED BY "
            f"{self._quote_identifier(str(index['scalar_physical_name']))} "
            "JOIN documents ON documents.db_name = ? AND documents.coll_name = ? "
            "AND documents.storage_key = scalar_index_entries.storage_key "
            "WHERE scalar_index_entries.collection_id = ? AND scalar_index_entries.index_name = ? "
            "AND scalar_index_entries.type_score = ? "
            f"AND scalar_index_entries.element_key {operator} ?"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        score = self._multikey_type_score("datetime")
        return sql, (db_name, coll_name, collection_id, index["name"], score, signature[1])

    def _id_range_sql(
        self, db_name: str, coll_name: str, semantics: EngineFindSemantics
    ) -> tuple[str, tuple[object, ...]] | None:
        """``{_id: {$lt|$lte: ObjectId}}``, unsorted or sorted by ``_id``: a range of the
        primary key, from the smallest ObjectId up.
        """
        plan = semantics.query_plan
        value: object = getattr(plan, "value")  # noqa: B009
        sort = semantics.sort
        if not isinstance(value, ObjectId):
            return None
        if sort is not None and (len(sort) != 1 or sort[0] not in (("_id", 1), ("_id", -1))):
            return None
        operator = "<=" if isinstance(plan, LessThanOrEqualCondition) else "<"
        order = "DESC" if sort is not None and sort[0][1] == -1 else "ASC"
        # Every value is a bound parameter; the operator and the order are ours.
        sql = (
            "SELECT document FROM documents WHERE db_name = ? AND coll_name = ? "  # noqa: S608
            f"AND storage_key >= ? AND storage_key {operator} ? ORDER BY storage_key {order}"
        )
        if semantics.limit is not None:
            sql += f" LIMIT {int(semantics.limit)}"
        # Both ends as mongoeco's ObjectId, the class its stored keys name: bson's would name
        # another class and open the range to keys of other types (an int ``_id`` sorts
        # between the two names).
        low = self._storage_key(EngineObjectId(_SMALLEST_ID_BYTES))
        high = self._storage_key(EngineObjectId(value.binary))
        return sql, (db_name, coll_name, low, high)


def _no_journal(*_args: object, **_kwargs: object) -> None:
    """Mongoeco's ``append_change`` for an engine that keeps no change journal: no sequence."""


def sqlite_engine(path: str) -> SQLiteEngine:
    """The engine ``vitae.embedded`` serves: a SQLite file at ``path``.

    The engine's writes call the journal through a module global, so it is replaced for the
    whole process: the store's process serves this one engine.
    """
    # See (5) above; a private global, which the tests check is still what the writes call.
    sqlite_module._sqlite_append_change = _no_journal  # noqa: SLF001  # pyright: ignore[reportPrivateUsage, reportPrivateImportUsage]
    return VitaeSQLiteEngine(path)
