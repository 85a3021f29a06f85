"""The ``exports`` collection: the product story's ``IExport`` plus what the service needs."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from odmantic import Field, Index, Model
from odmantic.bson import ObjectId
from odmantic.query import desc
from pymongo import ASCENDING, IndexModel

from vitae.timeutil import utcnow


class ExportStatus(StrEnum):
    """The lifecycle: pending → processing → completed | failed; pending|processing → cancelled."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE = (ExportStatus.PENDING, ExportStatus.PROCESSING)
TERMINAL = (ExportStatus.COMPLETED, ExportStatus.FAILED, ExportStatus.CANCELLED)


class Export(Model):
    """One export. ``version`` grows on every state change; ``file_url`` is the object's
    permanent location, never a presigned link (those are minted fresh on each read).
    """

    user_id: ObjectId = Field(key_name="userId")
    resume_id: ObjectId = Field(key_name="resumeId")
    status: ExportStatus = ExportStatus.PENDING
    format: str = "pdf"
    template: str
    paper_size: str = Field(key_name="paperSize")
    options: dict[str, Any] = Field(default_factory=dict)
    watermarked: bool
    file_name: str = Field(key_name="fileName")
    file_url: str | None = Field(default=None, key_name="fileUrl")
    file_size: int | None = Field(default=None, key_name="fileSize")
    storage_key: str | None = Field(default=None, key_name="storageKey")
    error: str | None = None
    # What a completed export left out and why (a photo that could not be had), for the user.
    warnings: list[str] = Field(default_factory=list)
    callback_url: str | None = Field(default=None, key_name="callbackUrl")
    # The résumé's content as it was when the export was requested, as JSON bytes: the worker
    # renders this snapshot (no second read of the résumé) and the terminal transition clears
    # it, so the history keeps no copies. Never part of the API view or the published events.
    # Bytes, not a document: the embedded store's guarded updates rebuild a nested document
    # field by field (≈ +5 ms of its CPU per export for a 4 kB résumé), a binary as one value
    # (≈ +0.5 ms).
    content: bytes | None = None
    # The outbox mark: ``None`` until the job is known to be in the queue: set by the job's
    # first start, or by the relay when it hands the job over. The relay reads the pending
    # records where it is still ``None``; an export that ends before it starts keeps ``None``.
    enqueued_at: datetime | None = Field(default=None, key_name="enqueuedAt")
    # The client's ``Idempotency-Key`` and a digest of its request. ``idempotencyScope``
    # (``<userId>:<key>``) is what is unique: one field, because the embedded store checks a
    # compound unique index by decoding the whole collection on every insert.
    idempotency_key: str | None = Field(default=None, key_name="idempotencyKey")
    idempotency_scope: str | None = Field(default=None, key_name="idempotencyScope")
    request_digest: str | None = Field(default=None, key_name="requestDigest")
    attempts: int = 0
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, key_name="createdAt")
    updated_at: datetime = Field(default_factory=utcnow, key_name="updatedAt")
    started_at: datetime | None = Field(default=None, key_name="startedAt")
    completed_at: datetime | None = Field(default=None, key_name="completedAt")

    model_config = {  # noqa: RUF012  (ODMantic's declared config style)
        "collection": "exports",
        "indexes": lambda: [
            Index(Export.user_id, desc(Export.created_at)),
            Index(Export.status),
            Index(Export.resume_id, Export.status),
            Index(Export.completed_at),
            # Partial: exports requested without a key never collide with each other.
            IndexModel(
                [("idempotencyScope", ASCENDING)],
                name="idempotencyScope_unique",
                unique=True,
                partialFilterExpression={"idempotencyScope": {"$type": "string"}},
            ),
        ],
    }
