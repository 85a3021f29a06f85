"""The exports API's request and response bodies (camelCase JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from vitae.exports.models import ExportStatus
from vitae.ids import ObjectIdStr

type PaperSize = Literal["a4", "letter"]


class ExportCreate(msgspec.Struct, rename="camel", forbid_unknown_fields=True, kw_only=True):
    """Ask for a PDF of one of your résumés."""

    resume_id: ObjectIdStr
    format: Literal["pdf"] = "pdf"
    template: Annotated[
        str | None,
        msgspec.Meta(description="Template name from GET /api/templates; default: the résumé's"),
    ] = None
    paper_size: PaperSize = "a4"
    options: Annotated[
        dict[str, Any] | None,
        msgspec.Meta(
            description=(
                "Template options as GET /api/templates declares them, e.g. "
                '{"accentColor": "#1f4e79", "sectionOrder": ["work", "education"]}'
            )
        ),
    ] = None
    callback_url: (
        Annotated[
            str,
            msgspec.Meta(
                min_length=1,
                max_length=2048,
                description=(
                    "Called (POST, signed) when the export ends: completed, failed or cancelled. "
                    "https on a public address; see the README's Webhooks section"
                ),
                examples=["https://api.example.com/hooks/vitae"],
            ),
        ]
        | None
    ) = None


class ExportCreated(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """The answer to a new export: poll ``statusUrl`` or follow ``eventsUrl``."""

    export_id: str
    job_id: Annotated[str, msgspec.Meta(description="The queue job's key; equal to exportId")]
    status: ExportStatus
    watermarked: bool
    status_url: str
    events_url: Annotated[
        str, msgspec.Meta(description="The live stream; its token is valid for this stream only")
    ]
    download_url: str
    callback_secret: Annotated[
        str | None,
        msgspec.Meta(
            description=(
                "Your callback signing secret, created by this request: shown only this once"
            )
        ),
    ] = None


class ExportRead(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """An export's state; ``fileUrl`` (fresh, expiring) and ``fileSize`` once completed."""

    id: str
    resume_id: str
    status: ExportStatus
    format: str
    template: str
    paper_size: str
    options: dict[str, Any]
    watermarked: bool
    attempts: int
    version: int
    created_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    file_url: str | None = None
    file_size: int | None = None
    file_name: str | None = None
    url_expires_in: int | None = None
    error: str | None = None
    warnings: Annotated[
        list[str],
        msgspec.Meta(
            description=(
                "What the PDF leaves out and why, e.g. a photo that could not be fetched; "
                "empty when nothing was left out"
            ),
            examples=[["basics.image: left out: the server answered HTTP 404"]],
        ),
    ]
    callback_url: str | None = None
    events_url: Annotated[
        str | None,
        msgspec.Meta(
            description="While active: the live stream, with a token for this stream only"
        ),
    ] = None


class ExportEventData(ExportRead, kw_only=True, omit_defaults=True):
    """The ``data`` of an SSE event: the export, plus the stage and percentage of a
    ``progress`` event (queued, rendering, storing).
    """

    stage: str | None = None
    progress: int | None = None

    def encode(self) -> str:
        """JSON text for the event's data line."""
        return msgspec.json.encode(self).decode()


class ExportPage(msgspec.Struct, rename="camel", kw_only=True):
    """One page of the caller's exports, newest first."""

    items: list[ExportRead]
    total: int
    limit: int
    offset: int
