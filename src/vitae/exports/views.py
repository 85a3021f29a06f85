"""The API view of an export, shared by the routes, the event streams and the webhooks.

It imports no controller, so every module that shows an export can use it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from litestar.params import PathParameter

from vitae.exports.models import ACTIVE, Export, ExportStatus
from vitae.exports.schemas import ExportRead
from vitae.ids import OBJECT_ID_PATTERN
from vitae.timeutil import as_utc
from vitae.users.auth import issue_stream_token

if TYPE_CHECKING:
    from vitae.exports.service import ExportService
    from vitae.settings import Settings

BASE = "/api/exports"

ExportId = Annotated[
    str, PathParameter(pattern=OBJECT_ID_PATTERN, description="The export's id (24 hex digits)")
]


def events_url(export: Export, settings: Settings) -> str:
    """The export's stream URL with a short-lived token valid for that stream only."""
    assert settings.jwt_secret is not None  # noqa: S101  (the API requires it)
    token = issue_stream_token(
        str(export.user_id), str(export.id), settings.jwt_secret, ttl=settings.stream_token_ttl
    )
    return f"{BASE}/{export.id}/events?token={token}"


async def to_read(export: Export, exports: ExportService) -> ExportRead:
    """The API view of an export; a completed one gets a fresh download link."""
    completed = export.status is ExportStatus.COMPLETED
    active = export.status in ACTIVE
    return ExportRead(
        id=str(export.id),
        resume_id=str(export.resume_id),
        status=export.status,
        format=export.format,
        template=export.template,
        paper_size=export.paper_size,
        options=export.options,
        watermarked=export.watermarked,
        attempts=export.attempts,
        version=export.version,
        created_at=as_utc(export.created_at),
        started_at=as_utc(export.started_at) if export.started_at else None,
        completed_at=as_utc(export.completed_at) if export.completed_at else None,
        file_url=await exports.file_url(export) if completed else None,
        file_size=export.file_size if completed else None,
        file_name=export.file_name if completed else None,
        url_expires_in=exports.settings.url_expiry if completed else None,
        error=export.error,
        warnings=list(export.warnings),
        callback_url=export.callback_url,
        events_url=events_url(export, exports.settings) if active else None,
    )
