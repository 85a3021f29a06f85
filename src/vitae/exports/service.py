"""Export operations and the export state machine.

Every transition is one atomic update guarded by the expected current status
(``vitae.db.update_if``), so a retried, duplicated or late job can never move an export
backwards or twice.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
from bson import ObjectId
from redis.exceptions import RedisError

from vitae.db import count, find_by_id, update_if
from vitae.errors import ConflictError, InvalidRequestError, NotFoundError, ServiceUnavailableError
from vitae.exports.idempotency import IdempotencyKeys, fingerprint
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
from vitae.timeutil import utcnow

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence

    from odmantic import AIOEngine
    from saq import Queue

    from vitae.exports.events import ExportEvents
    from vitae.settings import Settings
    from vitae.storage import Storage, StoredFile
    from vitae.users.models import User

log = logging.getLogger(__name__)


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
        idempotency: IdempotencyKeys,
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
        self.idempotency = idempotency
        self.templates = {template.name: template for template in templates}
        self.callbacks = callbacks
        self.on_end = tuple(on_end)
        self.on_purge = tuple(on_purge)
        self.collection = engine.get_collection(Export)

    # -- API operations -------------------------------------------------------------------

    async def create(
        self, user: User, request: ExportRequest, *, idempotency_key: str | None = None
    ) -> Export:
        """Create an export; with an idempotency key, a repeat returns the first one's export."""
        if idempotency_key is None:
            return await self._create(user, request)
        user_id = str(user.id)
        digest = fingerprint(msgspec.json.encode(request, order="sorted"))
        earlier = await self.idempotency.claim(user_id, idempotency_key, digest)
        if earlier is not None:
            return await self.get(user.id, earlier)
        try:
            export = await self._create(user, request)
        except BaseException:
            await self.idempotency.release(user_id, idempotency_key)
            raise
        await self.idempotency.record(user_id, idempotency_key, digest, str(export.id))
        return export

    async def _create(self, user: User, request: ExportRequest) -> Export:
        """Check ownership, decide the watermark, record ``pending`` and enqueue the job."""
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
        export = Export(  # pyright: ignore[reportCallIssue]  (ODMantic generates the id)
            user_id=user.id,
            resume_id=resume.id,
            template=template,
            paper_size=paper_size,
            options=options,
            watermarked=user.credit_balance < self.settings.paid_export_threshold,
            file_name=download_name(name),
            callback_url=request.callback_url,
        )
        # An insert, not ODMantic's ``save`` (an upsert): the embedded store plans an upsert
        # of a new ``_id`` with a query over the collection, an insert by its key alone.
        await self.collection.insert_one(export.model_dump_doc())
        EXPORTS_REQUESTED.labels(watermarked=str(export.watermarked).lower()).inc()
        await self.enqueue(export)
        await self.events.publish(export)
        return export

    async def enqueue(self, export: Export) -> None:
        """Put the export's job on the queue; if that fails, the export fails rather than
        staying ``pending`` forever, and the caller gets a 503 to retry.
        """
        kwargs: dict[str, Any] = {
            "exportId": str(export.id),
            "resumeId": str(export.resume_id),
            "userId": str(export.user_id),
            "watermarked": export.watermarked,
        }
        try:
            await self.queue.enqueue(export_job(str(export.id), kwargs, self.settings.jobs))
        except (RedisError, OSError) as error:
            log.warning("enqueue of export %s failed: %s", export.id, error)
            await self.fail(export.id, "the export queue was unavailable; request a new export")
            raise ServiceUnavailableError(
                "the export queue is unavailable; retry shortly"
            ) from None

    async def get(self, user_id: ObjectId, export_id: str) -> Export:
        """The caller's export; another user's is not found."""
        export = await find_by_id(
            self.engine, Export, parse_id(export_id, "export"), userId=user_id
        )
        if export is None:
            raise NotFoundError("no such export", field="id")
        return export

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
        cursor = self.collection.find(query).sort([("createdAt", -1), ("_id", -1)])
        docs = await cursor.skip(offset).limit(limit).to_list(length=limit)
        total = await count(self.collection, query)
        return [Export.model_validate_doc(doc) for doc in docs], total

    async def active(self, user_id: ObjectId, limit: int = 100) -> list[Export]:
        """The caller's pending and processing exports, oldest first (one query)."""
        docs = (
            self.collection.find({"userId": user_id, "status": {"$in": [s.value for s in ACTIVE]}})
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
                export_id, ACTIVE, {"status": ExportStatus.CANCELLED, "completedAt": utcnow()}
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
        export is gone or already terminal.
        """
        return await self._transition(
            ObjectId(export_id),
            ACTIVE,
            {"status": ExportStatus.PROCESSING, "attempts": attempt, "startedAt": utcnow()},
        )

    async def complete(self, export_id: ObjectId, stored: StoredFile) -> Export | None:
        """Processing → completed with the stored file; ``None`` if it was cancelled meanwhile."""
        return await self._transition(
            export_id,
            (ExportStatus.PROCESSING,),
            {
                "status": ExportStatus.COMPLETED,
                "storageKey": stored.key,
                "fileUrl": stored.location,
                "fileSize": stored.size,
                "error": None,
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
        """Active exports untouched for ``older_than``: candidates for reconciliation."""
        cutoff = utcnow() - older_than
        docs = self.collection.find(
            {"status": {"$in": [s.value for s in ACTIVE]}, "updatedAt": {"$lt": cutoff}}
        )
        return [Export.model_validate_doc(doc) async for doc in docs]

    async def expired(self, older_than: timedelta, limit: int) -> list[Export]:
        """Finished exports created before ``older_than`` ago, oldest first."""
        cutoff = utcnow() - older_than
        docs = (
            self.collection.find(
                {"status": {"$in": [s.value for s in TERMINAL]}, "createdAt": {"$lt": cutoff}}
            )
            .sort("createdAt", 1)
            .limit(limit)
        )
        return [Export.model_validate_doc(doc) async for doc in docs]

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
        self, export_id: ObjectId, expected: Iterable[ExportStatus], changes: dict[str, Any]
    ) -> Export | None:
        doc = await update_if(
            self.collection,
            export_id,
            "status",
            [s.value for s in expected],
            {**changes, "updatedAt": utcnow()},
            counter="version",
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
