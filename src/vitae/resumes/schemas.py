"""The résumés API's request and response bodies (camelCase JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

from vitae.resumes.jsonresume import JsonResume

type Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
type TemplateName = Annotated[
    str, msgspec.Meta(description="Template name from GET /api/templates", examples=["classic"])
]


class ResumeCreate(msgspec.Struct, rename="camel", forbid_unknown_fields=True, kw_only=True):
    """A new résumé. ``content`` is a JSON Resume document; unknown fields inside it are kept."""

    title: Title
    content: JsonResume
    template: TemplateName = "classic"


class ResumeUpdate(msgspec.Struct, rename="camel", forbid_unknown_fields=True, kw_only=True):
    """A partial update: only the fields given change."""

    title: Title | None = None
    content: JsonResume | None = None
    template: TemplateName | None = None


class ResumeRead(msgspec.Struct, rename="camel", kw_only=True):
    """A stored résumé."""

    id: str
    title: str
    template: str
    content: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class ResumeSummary(msgspec.Struct, rename="camel", kw_only=True):
    """A résumé in a list: everything but its ``content`` (GET /api/resumes/{id} has it)."""

    id: str
    title: str
    template: str
    created_at: datetime
    updated_at: datetime


class ResumePage(msgspec.Struct, rename="camel", kw_only=True):
    """One page of the caller's résumés, newest first, as summaries."""

    items: list[ResumeSummary]
    total: int
    limit: int
    offset: int
