"""The ``resumes`` collection."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from odmantic import Field, Index, Model
from odmantic.bson import ObjectId

from vitae.timeutil import utcnow


class Resume(Model):
    """A user's résumé; ``content`` is the JSON Resume document as the client sent it."""

    user_id: ObjectId = Field(key_name="userId")
    title: str
    content: dict[str, Any]
    template: str
    created_at: datetime = Field(default_factory=utcnow, key_name="createdAt")
    updated_at: datetime = Field(default_factory=utcnow, key_name="updatedAt")

    model_config = {  # noqa: RUF012  (ODMantic's declared config style)
        "collection": "resumes",
        "indexes": lambda: [Index(Resume.user_id, Resume.created_at)],
    }


@dataclass(frozen=True, slots=True)
class ResumeHeading:
    """A résumé without its content, as lists read it (a content can be megabytes)."""

    id: ObjectId
    title: str
    template: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> ResumeHeading:
        """From a stored document read without ``content``."""
        return cls(
            id=doc["_id"],
            title=doc["title"],
            template=doc["template"],
            created_at=doc["createdAt"],
            updated_at=doc["updatedAt"],
        )
