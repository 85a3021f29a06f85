"""Résumé operations; the caller's own documents only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bson import ObjectId

from vitae.db import count, find_by_id
from vitae.errors import InvalidRequestError, NotFoundError, QuotaExceededError
from vitae.resumes.limits import check_content
from vitae.resumes.models import Resume, ResumeHeading
from vitae.timeutil import utcnow

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    from odmantic import AIOEngine

type OnDelete = Callable[[ObjectId], Awaitable[int]]


class ResumeService:
    """CRUD on ``resumes``; ``on_delete`` cancels a deleted résumé's exports; a user holds
    at most ``per_user`` résumés.
    """

    def __init__(
        self, engine: AIOEngine, *, templates: Iterable[str], on_delete: OnDelete, per_user: int
    ) -> None:
        self.engine = engine
        self.templates = frozenset(templates)
        self.on_delete = on_delete
        self.per_user = per_user
        self.collection = engine.get_collection(Resume)

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
        """Store a new résumé, within the user's quota (two concurrent creations at the
        limit may both pass: the quota bounds what one user holds, not an exact count).
        """
        check_content(content)
        if await count(self.collection, {"userId": user_id}) >= self.per_user:
            raise QuotaExceededError(
                f"at most {self.per_user} résumés per user (VITAE_RESUMES_PER_USER); "
                "delete one first",
                field="resumes",
            )
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

    async def list(
        self, user_id: ObjectId, *, limit: int, offset: int
    ) -> tuple[list[ResumeHeading], int]:
        """The caller's résumés without their content, newest first, and their count."""
        query = {"userId": user_id}
        docs = (
            self.collection.find(query, {"content": 0})
            .sort([("createdAt", -1), ("_id", -1)])
            .skip(offset)
            .limit(limit)
        )
        items = [ResumeHeading.from_doc(doc) async for doc in docs]
        return items, await self.collection.count_documents(query)

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
