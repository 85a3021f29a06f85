"""Export operations and the export state machine.

Every transition is one atomic update guarded by the expected current status
(``vitae.db.update_if``), so a retried, duplicated or late job can never move an export
backwards or twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
from bson import ObjectId
from pymongo.errors import DuplicateKeyError, PyMongoError
from redis.exceptions import RedisError

from vitae.db import count, find_by_id, update_if
from vitae.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    ServiceUnavailableError,
    UnprocessableError,
)
from vitae.exports.metrics import EXPORTS_FINISHED, EXPORTS_REQUESTED, TIME_IN_QUEUE, TOTAL_TIME
from vitae.exports.models import ACTIVE, TERMINAL, Export, ExportStatus
from vitae.ids import parse_id
from vitae.queue import export_job
from vitae.rendering import (
    InvalidOptionError,
    TemplateInfo,
    validate_options,
    validate_paper_size,
)
from vitae.resumes.models import Resume
from vitae.timeutil import as_utc, utcnow

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence

    from odmantic import AIOEngine
    from saq import Queue

    from vitae.exports.events import ExportEvents
    from vitae.settings import Settings
    from vitae.storage import Storage, StoredFile
    from vitae.users.models import User

log = logging.getLogger(__name__)

# Longest wait for Redis when handing a job over; past it the record waits in the outbox.
ENQUEUE_WAIT = 1.0
# The request's whole hand-over waits no longer than this.
HAND_OVER_WAIT = 2.0
# The relay takes outbox records at least this old (younger ones are being handed over by
# their request, or their job is about to start) and this many per pass.
RELAY_GRACE = timedelta(seconds=5)
RELAY_BATCH = 200
# How long a process keeps trying to delete a record whose write failed, and how often.
WITHDRAW_FOR = timedelta(minutes=10)
WITHDRAW_RETRY = 0.5
# Reads that show or oversee exports leave the snapshot in the store (only active ones have
# one, and the worker takes it from its ``start`` transition).
WITHOUT_CONTENT = {"content": 0}


def fingerprint(body: bytes) -> str:
    """A digest of the canonical request body (stored with an ``Idempotency-Key``)."""
    return hashlib.sha256(body).hexdigest()


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """A validated request for a new export."""

    resume_id: str
    template: str | None
    paper_size: str
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict[str, Any])
    callback_url: str | None = None


def download_name(person: str) -> str:
    """``Richard Hendriks`` → ``Richard-Hendriks-Resume.pdf``; any script's letters are kept."""
    normalized = unicodedata.normalize("NFKC", person).strip()
    words = re.findall(r"\w+", normalized)
    stem = "-".join(words[:6])[:80].rstrip("-")
    return f"{stem}-Resume.pdf" if stem else "Resume.pdf"


def record_transition(export: Export) -> None:
    """Count final statuses and observe the pipeline's timings, in whichever process moved it."""
    if export.status is ExportStatus.PROCESSING and export.attempts == 1 and export.started_at:
        TIME_IN_QUEUE.observe((export.started_at - export.created_at).total_seconds())
    elif export.status in TERMINAL:
        EXPORTS_FINISHED.labels(status=export.status.value).inc()
        if export.status is ExportStatus.COMPLETED and export.completed_at:
            TOTAL_TIME.observe((export.completed_at - export.created_at).total_seconds())


# Something another domain does when an export changes (see ``ExportService``).
type ExportHook = Callable[[Export], Awaitable[object]]


class Callbacks(Protocol):
    """What an export's ``callbackUrl`` needs from the webhooks, injected by the wiring."""

    async def check_url(self, url: str, field: str) -> str:
        """The URL if it may be called now, else a 400 naming ``field``."""
        ...

    async def ensure_callback_secret(self, user: User) -> str | None:
        """Create the user's callback secret if there is none; the new secret, else ``None``."""
        ...


def idempotency_scope(user_id: ObjectId, key: str) -> str:
    """What is unique about an ``Idempotency-Key``: the key within its user's."""
    return f"{user_id}:{key}"


class ExportService:
    """Creates, reads, cancels and transitions exports.

    Other domains act on an export's life through hooks given by the wiring
    (``vitae.wiring``): ``on_end`` runs after every transition to a terminal status (a
    failing hook is logged and never undoes the transition); ``on_purge`` runs after a
    finished export's record is deleted.
    """

    def __init__(
        self,
        engine: AIOEngine,
        settings: Settings,
        *,
        queue: Queue,
        storage: Storage,
        events: ExportEvents,
        templates: Iterable[TemplateInfo],
        callbacks: Callbacks,
        on_end: Sequence[ExportHook],
        on_purge: Sequence[ExportHook],
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.queue = queue
        self.storage = storage
        self.events = events
        self._withdrawals: set[asyncio.Task[None]] = set()
        self.templates = {template.name: template for template in templates}
        self.callbacks = callbacks
        self.on_end = tuple(on_end)
        self.on_purge = tuple(on_purge)
        self.collection = engine.get_collection(Export)

    # -- API operations -------------------------------------------------------------------

    async def create(
        self, user: User, request: ExportRequest, *, idempotency_key: str | None = None
    ) -> Export:
        """Create an export; with an idempotency key, a repeat returns the first one's export.

        The export is accepted once its record is written; handing its job to the queue may
        fail (the relay does it later). Every store operation runs under one deadline, so the
        caller gets a 503 in seconds when the store does not answer.
        """
        try:
            async with asyncio.timeout(self.settings.mongodb_timeout):
                export, new = await self._record(user, request, idempotency_key)
        except TimeoutError:
            raise ServiceUnavailableError(
                "the database is unavailable; retry shortly", field="service"
            ) from None
        if new:
            # Accepted: from here on nothing fails the request (the relay and the streams'
            # re-reads make up for what Redis misses).
            EXPORTS_REQUESTED.labels(watermarked=str(export.watermarked).lower()).inc()
            # Announced before its job exists, so that no follower sees the worker's first
            # event before ``pending``.
            await self.events.publish(export)
            await self.hand_over(export)
        return export

    async def _record(
        self, user: User, request: ExportRequest, idempotency_key: str | None
    ) -> tuple[Export, bool]:
        """The export's record, written as pending and in the outbox; with a key already
        used, the earlier export instead. Whether it is new.
        """
        digest = None
        if idempotency_key is not None:
            digest = fingerprint(msgspec.json.encode(request, order="sorted"))
            earlier = await self._by_idempotency_key(user.id, idempotency_key, digest)
            if earlier is not None:
                return earlier, False
        export = await self._new_export(user, request)
        export.idempotency_key, export.request_digest = idempotency_key, digest
        if idempotency_key is not None:
            export.idempotency_scope = idempotency_scope(user.id, idempotency_key)
        try:
            # An insert, not ODMantic's ``save`` (an upsert): the embedded store plans an upsert
            # of a new ``_id`` with a query over the collection, an insert by its key alone.
            await self.collection.insert_one(export.model_dump_doc())
        except DuplicateKeyError:
            # A concurrent request with the same key wrote its export first.
            if idempotency_key is None or digest is None:
                raise
            earlier = await self._by_idempotency_key(user.id, idempotency_key, digest)
            if earlier is None:
                raise
            return earlier, False
        except BaseException:
            # The write's outcome is unknown (the store stopped answering, or the deadline
            # passed): the record may appear later, for an export the client was never told
            # about. Remove it once the store answers.
            self._withdraw(export.id)
            raise
        return export, True

    async def _by_idempotency_key(self, user_id: ObjectId, key: str, digest: str) -> Export | None:
        """The export an earlier request with this key created; 422 if its body differed."""
        doc = await self.collection.find_one({"idempotencyScope": idempotency_scope(user_id, key)})
        if doc is None:
            return None
        export = Export.model_validate_doc(doc)
        if export.request_digest != digest:
            raise UnprocessableError(
                "this Idempotency-Key was used with a different request body",
                field="Idempotency-Key",
            )
        return export

    def _withdraw(self, export_id: ObjectId) -> None:
        """Delete a record whose write failed, once the store answers again (in the
        background, for at most ``WITHDRAW_FOR``). Its job, if the relay handed one over
        meanwhile, finds no record and does nothing.
        """

        async def withdraw() -> None:
            deadline = asyncio.get_running_loop().time() + WITHDRAW_FOR.total_seconds()
            while asyncio.get_running_loop().time() < deadline:
                try:
                    deleted = await self.collection.delete_one({"_id": export_id})
                except PyMongoError:
                    await asyncio.sleep(WITHDRAW_RETRY)
                else:
                    if deleted.deleted_count:
                        log.warning("withdrew export %s, whose request was refused", export_id)
                    return
            log.error("could not withdraw export %s after a failed write", export_id)

        task = asyncio.create_task(withdraw())
        self._withdrawals.add(task)
        task.add_done_callback(self._withdrawals.discard)

    async def _new_export(self, user: User, request: ExportRequest) -> Export:
        """Check ownership, the template and its options; decide the watermark; snapshot the
        résumé's content (read here for the ownership check anyway).
        """
        resume = await find_by_id(
            self.engine, Resume, parse_id(request.resume_id, "resume"), userId=user.id
        )
        if resume is None:
            raise NotFoundError("no such resume", field="resumeId")
        template = request.template or resume.template
        info = self.templates.get(template)
        if info is None:
            raise InvalidRequestError(
                f"unknown template {template!r}; choose one of {sorted(self.templates)}",
                field="template",
            )
        try:
            paper_size = validate_paper_size(info, request.paper_size)
            options = msgspec.to_builtins(validate_options(info, request.options))
        except InvalidOptionError as error:
            field = "paperSize" if error.option == "paperSize" else f"options.{error.option}"
            raise InvalidRequestError(error.message, field=field) from None
        if request.callback_url is not None:
            await self.callbacks.check_url(request.callback_url, "callbackUrl")
        name = str((resume.content.get("basics") or {}).get("name") or user.name)
        return Export(  # pyright: ignore[reportCallIssue]  (ODMantic generates the id)
            user_id=user.id,
            resume_id=resume.id,
            template=template,
            paper_size=paper_size,
            options=options,
            watermarked=user.credit_balance < self.settings.paid_export_threshold,
            file_name=download_name(name),
            callback_url=request.callback_url,
            # The PDF shows the résumé as it is now: the worker renders this snapshot.
            content=msgspec.json.encode(resume.content),
        )

    async def hand_over(self, export: Export) -> bool:
        """Enqueue the export's job now if Redis answers; if not, the record stays in the
        outbox and the relay enqueues it later. Whether it was handed over.
        """
        try:
            async with asyncio.timeout(HAND_OVER_WAIT):
                await self.enqueue(export)
        except (RedisError, OSError, PyMongoError) as error:  # TimeoutError is an OSError
            log.warning("export %s stays in the outbox for the relay: %s", export.id, error)
            return False
        return True

    async def enqueue(self, export: Export) -> None:
        """Put the export's job on the queue (its key is the export id: a repeat is a no-op).
        A job made again for an export keeps the attempts it already had, so the total stays
        within the configured attempts.

        The record leaves the outbox when the job starts (``start`` sets ``enqueuedAt``, which
        proves the job reached the queue), so a hand-over costs the store nothing; the relay
        marks the exports it hands over itself.
        """
        kwargs: dict[str, Any] = {
            "exportId": str(export.id),
            "resumeId": str(export.resume_id),
            "userId": str(export.user_id),
            "watermarked": export.watermarked,
        }
        job = export_job(str(export.id), kwargs, self.settings.jobs, attempts=export.attempts)
        async with asyncio.timeout(ENQUEUE_WAIT):
            await self.queue.enqueue(job)

    async def relay(self, limit: int = RELAY_BATCH) -> int:
        """Hand the outbox's exports to the queue, oldest first, and mark them handed over.

        The outbox is the pending exports without ``enqueuedAt``, read by ``status`` (an
        indexed equality; pending exports are the work not yet started, however long the
        history kept). Only pending exports need a job: one that ended before it started has
        none to hand over and stays unmarked. Records younger than ``RELAY_GRACE`` are left to
        the request that is handing them over and to the worker about to start them; an
        export whose job is merely waiting in the queue is enqueued again as a no-op (its job
        key is its id) and marked, so that the next pass skips it and the reconciler watches
        it from then on. Stops at the first Redis error (the next pass tries again). How many
        left the outbox.
        """
        cutoff = utcnow() - RELAY_GRACE
        waiting = [
            export
            for export in await self._with_status(ExportStatus.PENDING)
            if export.enqueued_at is None and as_utc(export.created_at) < cutoff
        ]
        waiting = sorted(waiting, key=lambda export: export.created_at)[:limit]
        for export in waiting:
            await self.enqueue(export)
            # By ``_id`` alone (a key lookup in every store); overwriting a mark the job's
            # start set meanwhile only moves it by a few milliseconds.
            await self.collection.update_one({"_id": export.id}, {"$set": {"enqueuedAt": utcnow()}})
        if waiting:
            log.info("relay handed %d exports from the outbox to the queue", len(waiting))
        return len(waiting)

    async def _with_status(self, status: ExportStatus) -> list[Export]:
        """Every export in ``status``: an equality on the ``status`` index, which the embedded
        store serves from its scalar index (``vitae.mongoeco_fix``). Only for the statuses of
        work in flight, whose count does not grow with the history.
        """
        docs = self.collection.find({"status": status.value}, WITHOUT_CONTENT)
        return [Export.model_validate_doc(doc) async for doc in docs]

    async def get(self, user_id: ObjectId, export_id: str) -> Export:
        """The caller's export; another user's is not found. Read by ``_id`` alone (see
        ``vitae.db.find_by_id``) and without the résumé snapshot: polls and streams read an
        active export often, and the snapshot may be as large as the résumé.
        """
        doc = await self.collection.find_one(
            {"_id": parse_id(export_id, "export")}, WITHOUT_CONTENT
        )
        if doc is None or doc.get("userId") != user_id:
            raise NotFoundError("no such export", field="id")
        return Export.model_validate_doc(doc)

    async def list(
        self,
        user_id: ObjectId,
        *,
        status: ExportStatus | None = None,
        resume_id: str | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> tuple[list[Export], int]:
        """The caller's exports, newest first, and how many match in all."""
        query: dict[str, Any] = {"userId": user_id}
        if status is not None:
            query["status"] = status.value
        if resume_id is not None:
            query["resumeId"] = parse_id(resume_id, "resume")
        cursor = self.collection.find(query, WITHOUT_CONTENT).sort([("createdAt", -1), ("_id", -1)])
        docs = await cursor.skip(offset).limit(limit).to_list(length=limit)
        total = await count(self.collection, query)
        return [Export.model_validate_doc(doc) for doc in docs], total

    async def active(self, user_id: ObjectId, limit: int = 100) -> list[Export]:
        """The caller's pending and processing exports, oldest first (one query)."""
        docs = (
            self.collection.find(
                {"userId": user_id, "status": {"$in": [s.value for s in ACTIVE]}}, WITHOUT_CONTENT
            )
            .sort("createdAt", 1)
            .limit(limit)
        )
        return [Export.model_validate_doc(doc) async for doc in docs]

    async def cancel(self, user_id: ObjectId, export_id: str) -> Export:
        """Cancel a pending or processing export of the caller's."""
        export = await self.get(user_id, export_id)
        cancelled = await self._transition(
            export.id, ACTIVE, {"status": ExportStatus.CANCELLED, "completedAt": utcnow()}
        )
        if cancelled is None:
            current = await self.get(user_id, export_id)
            raise ConflictError(f"the export is already {current.status.value}", field="status")
        await self._abort_job(str(export.id))
        return cancelled

    async def cancel_pending_by_resume_id(self, resume_id: ObjectId) -> int:
        """Cancel every pending or processing export of a résumé (cascade on deletion)."""
        ids = [
            doc["_id"]
            async for doc in self.collection.find(
                {"resumeId": resume_id, "status": {"$in": [s.value for s in ACTIVE]}}, {"_id": 1}
            )
        ]
        cancelled = 0
        for export_id in ids:
            done = await self._transition(
                export_id,
                ACTIVE,
                {"status": ExportStatus.CANCELLED, "completedAt": utcnow()},
            )
            if done is not None:
                cancelled += 1
                await self._abort_job(str(export_id))
        return cancelled

    async def file_url(self, export: Export) -> str:
        """A fresh, expiring link to a completed export's PDF."""
        if export.status is not ExportStatus.COMPLETED or export.storage_key is None:
            raise ConflictError(
                f"the export is {export.status.value}, not completed", field="status"
            )
        return await self.storage.url(export.storage_key, filename=export.file_name)

    async def _abort_job(self, key: str) -> None:
        """Stop the job if it is queued or running; the export's status already says cancelled."""
        try:
            job = await self.queue.job(key)
            if job is not None and not job.completed:
                await self.queue.abort(job, error="cancelled")
        except (RedisError, OSError) as error:
            # The worker re-reads the status before and after rendering, so a job that could
            # not be aborted still ends without effect.
            log.warning("could not abort job %s: %s", key, error)

    # -- Transitions used by the worker ---------------------------------------------------

    async def start(self, export_id: str, attempt: int) -> Export | None:
        """pending|processing → processing (a retry re-enters processing); ``None`` if the
        export is gone or already terminal. The same update takes the record out of the
        outbox (``enqueuedAt``, if no hand-over was recorded yet): its job has reached the
        queue, since a worker runs it.
        """
        now = utcnow()
        return await self._transition(
            ObjectId(export_id),
            ACTIVE,
            {"status": ExportStatus.PROCESSING, "attempts": attempt, "startedAt": now},
            defaults={"enqueuedAt": now},
        )

    async def complete(
        self, export_id: ObjectId, stored: StoredFile, warnings: Sequence[str] = ()
    ) -> Export | None:
        """Processing → completed with the stored file and what the PDF left out (``warnings``);
        ``None`` if it was cancelled meanwhile.
        """
        return await self._transition(
            export_id,
            (ExportStatus.PROCESSING,),
            {
                "status": ExportStatus.COMPLETED,
                "storageKey": stored.key,
                "fileUrl": stored.location,
                "fileSize": stored.size,
                "error": None,
                "warnings": list(warnings),
                "completedAt": utcnow(),
            },
        )

    async def fail(self, export_id: ObjectId | str, message: str) -> Export | None:
        """pending|processing → failed with a readable message."""
        return await self._transition(
            ObjectId(export_id),
            ACTIVE,
            {"status": ExportStatus.FAILED, "error": message, "completedAt": utcnow()},
        )

    async def note_retry(self, export_id: str, message: str) -> Export | None:
        """Record why an attempt failed while the export waits for its next one."""
        return await self._transition(
            ObjectId(export_id), (ExportStatus.PROCESSING,), {"error": message}
        )

    async def stale(self, older_than: timedelta) -> list[Export]:
        """Active exports untouched for ``older_than``: candidates for reconciliation. One
        indexed equality per active status; the dates are compared here (the active set is
        the work in flight, and a range on dates is served by no index of the embedded store
        together with the status).
        """
        cutoff = utcnow() - older_than
        return [
            export
            for status in ACTIVE
            for export in await self._with_status(status)
            if as_utc(export.updated_at) < cutoff
        ]

    async def active_among(self, export_ids: Iterable[str]) -> set[str]:
        """Which of these exports are still pending or processing (one query by ``_id``)."""
        ids = [ObjectId(export_id) for export_id in export_ids]
        docs = self.collection.find({"_id": {"$in": ids}}, {"status": 1})
        return {str(doc["_id"]) async for doc in docs if doc.get("status") in ACTIVE}

    async def expired(
        self, older_than: timedelta, limit: int, *, before: ObjectId | None = None
    ) -> tuple[list[Export], ObjectId | None]:
        """One page of the records created before ``older_than`` ago, newest first, and the
        finished ones among them; with ``before``, the page below that id. Also the id the
        next page starts below, ``None`` after the last page.

        Read by ``_id``, whose ObjectId holds its creation second (``createdAt`` is set at the
        same moment): a range of the primary key in the embedded store and of the ``_id``
        index in MongoDB, whatever the history kept. Paging by id rather than re-reading the
        first page lets the purge step over the rare record still active.
        """
        cutoff = utcnow() - older_than
        bound = ObjectId.from_datetime(cutoff)
        if before is not None and before < bound:
            bound = before
        docs = self.collection.find({"_id": {"$lt": bound}}).sort("_id", -1).limit(limit)
        page = [Export.model_validate_doc(doc) async for doc in docs]
        finished = [e for e in page if e.status in TERMINAL and as_utc(e.created_at) < cutoff]
        return finished, (page[-1].id if len(page) == limit else None)

    async def purge(self, export: Export) -> None:
        """Delete a finished export's file, then its record (a crash in between leaves a
        record without a file, never a file without a record). Only finished exports are
        purged and a finished status is final, so the record is deleted by ``_id`` alone (the
        embedded store scans the collection for any longer filter).
        """
        if export.status not in TERMINAL:
            return
        if export.storage_key:
            await self.storage.delete(export.storage_key)
        await self.collection.delete_one({"_id": export.id})
        for hook in self.on_purge:
            await hook(export)

    async def _transition(
        self,
        export_id: ObjectId,
        expected: Iterable[ExportStatus],
        changes: dict[str, Any],
        defaults: dict[str, Any] | None = None,
    ) -> Export | None:
        if changes.get("status") in TERMINAL:
            # The snapshot goes with the export's end, in the same update (set to null rather
            # than removed: the guarded update merges fields, it does not remove any).
            changes = {**changes, "content": None}
        doc = await update_if(
            self.collection,
            export_id,
            "status",
            [s.value for s in expected],
            {**changes, "updatedAt": utcnow()},
            counter="version",
            defaults=defaults,
        )
        if doc is None:
            return None
        export = Export.model_validate_doc(doc)
        record_transition(export)
        await self.events.publish(export)
        if export.status in TERMINAL:
            await self._ended(export)
        return export

    async def _ended(self, export: Export) -> None:
        """Run the ``on_end`` hooks; a failure here never undoes the transition (the webhook
        reconciler records what was missed).
        """
        for hook in self.on_end:
            try:
                await hook(export)
            except Exception:
                log.exception("an end-of-export hook failed for export %s", export.id)

    async def progress(self, export: Export, stage: str, percent: int) -> None:
        """Tell followers how far the job is; progress is not stored and keeps the version."""
        await self.events.publish(export, "progress", stage=stage, progress=percent)
