"""Résumé operations; the caller's own documents only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bson import ObjectId
from odmantic.query import desc

from vitae.db import find_by_id
from vitae.errors import InvalidRequestError, NotFoundError
from vitae.resumes.limits import check_content
from vitae.resumes.models import Resume
from vitae.timeutil import utcnow

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    from odmantic import AIOEngine

type OnDelete = Callable[[ObjectId], Awaitable[int]]


class ResumeService:
    """CRUD on ``resumes``; ``on_delete`` cancels a deleted résumé's exports."""

    def __init__(self, engine: AIOEngine, *, templates: Iterable[str], on_delete: OnDelete) -> None:
        self.engine = engine
        self.templates = frozenset(templates)
        self.on_delete = on_delete

    def _check_template(self, template: str) -> str:
        if template not in self.templates:
            raise InvalidRequestError(
                f"unknown template {template!r}; choose one of {sorted(self.templates)}",
                field="template",
            )
        return template

    async def create(
        self, user_id: ObjectId, *, title: str, content: dict[str, Any], template: str
    ) -> Resume:
        """Store a new résumé."""
        check_content(content)
        resume = Resume(  # pyright: ignore[reportCallIssue]  (ODMantic generates the id)
            user_id=user_id, title=title, content=content, template=self._check_template(template)
        )
        return await self.engine.save(resume)

    async def get(self, user_id: ObjectId, resume_id: str) -> Resume:
        """The caller's résumé; another user's is not found."""
        if not ObjectId.is_valid(resume_id):
            raise NotFoundError("no such resume", field="id")
        resume = await find_by_id(self.engine, Resume, ObjectId(resume_id), userId=user_id)
        if resume is None:
            raise NotFoundError("no such resume", field="id")
        return resume

    async def list(self, user_id: ObjectId, *, limit: int, offset: int) -> tuple[list[Resume], int]:
        """The caller's résumés, newest first, and their count."""
        query = Resume.user_id == user_id
        items = await self.engine.find(
            Resume,
            query,
            sort=(desc(Resume.created_at), desc(Resume.id)),
            skip=offset,
            limit=limit,
        )
        return items, await self.engine.count(Resume, query)

    async def update(
        self,
        user_id: ObjectId,
        resume_id: str,
        *,
        title: str | None,
        content: dict[str, Any] | None,
        template: str | None,
    ) -> Resume:
        """Change the given fields."""
        resume = await self.get(user_id, resume_id)
        if title is not None:
            resume.title = title
        if content is not None:
            check_content(content)
            resume.content = content
        if template is not None:
            resume.template = self._check_template(template)
        resume.updated_at = utcnow()
        return await self.engine.save(resume)

    async def delete(self, user_id: ObjectId, resume_id: str) -> int:
        """Delete a résumé and cancel its pending and processing exports; returns how many."""
        resume = await self.get(user_id, resume_id)
        cancelled = await self.on_delete(resume.id)
        await self.engine.delete(resume)
        # A second pass catches an export requested between the first pass and the deletion.
        return cancelled + await self.on_delete(resume.id)
