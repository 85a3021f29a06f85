"""Routes under ``/api/resumes``."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody, PathParameter, QueryParameter
from litestar.security.jwt import Token

from vitae.http import errors
from vitae.ids import OBJECT_ID_PATTERN
from vitae.resumes.deps import provide_resume_service
from vitae.resumes.models import Resume, ResumeHeading
from vitae.resumes.schemas import (
    ResumeCreate,
    ResumePage,
    ResumeRead,
    ResumeSummary,
    ResumeUpdate,
)
from vitae.resumes.service import ResumeService
from vitae.timeutil import as_utc
from vitae.users.models import User

ResumeId = Annotated[
    str, PathParameter(pattern=OBJECT_ID_PATTERN, description="The résumé's id (24 hex digits)")
]
AuthedRequest = Request[User, Token, State]


def to_read(resume: Resume) -> ResumeRead:
    """The API view of a résumé."""
    return ResumeRead(
        id=str(resume.id),
        title=resume.title,
        template=resume.template,
        content=resume.content,
        created_at=as_utc(resume.created_at),
        updated_at=as_utc(resume.updated_at),
    )


def to_summary(resume: ResumeHeading) -> ResumeSummary:
    """The API view of a résumé in a list."""
    return ResumeSummary(
        id=str(resume.id),
        title=resume.title,
        template=resume.template,
        created_at=as_utc(resume.created_at),
        updated_at=as_utc(resume.updated_at),
    )


async def raw_content(request: AuthedRequest) -> dict[str, Any] | None:
    """The ``content`` exactly as sent: validated by the typed body, stored with unknown fields."""
    body: Any = await request.json()
    content = body.get("content") if isinstance(body, dict) else None
    return content if isinstance(content, dict) else None


class ResumeController(Controller):
    """Your JSON Resume documents."""

    path = "/api/resumes"
    tags = ["resumes"]  # noqa: RUF012  (Litestar's declared controller style)
    dependencies = {"resumes": Provide(provide_resume_service, sync_to_thread=False)}  # noqa: RUF012

    @post("/", summary="Create a résumé", responses=errors(400, 429))
    async def create_resume(
        self,
        request: AuthedRequest,
        resumes: NamedDependency[ResumeService],
        data: JSONBody[ResumeCreate],
    ) -> ResumeRead:
        """Store a JSON Resume document; wrong types are refused with the field's path."""
        resume = await resumes.create(
            request.user.id,
            title=data.title,
            content=await raw_content(request) or {},
            template=data.template,
        )
        return to_read(resume)

    @get(
        "/",
        summary="List your résumés",
        description="Summaries without `content`: GET /api/resumes/{id} has a résumé's content.",
        responses=errors(400),
    )
    async def list_resumes(
        self,
        request: AuthedRequest,
        resumes: NamedDependency[ResumeService],
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
        offset: Annotated[int, QueryParameter(ge=0, le=1_000_000)] = 0,
    ) -> ResumePage:
        """Your résumés, newest first."""
        items, total = await resumes.list(request.user.id, limit=limit, offset=offset)
        return ResumePage(
            items=[to_summary(r) for r in items], total=total, limit=limit, offset=offset
        )

    @get("/{resume_id:str}", summary="Get a résumé", responses=errors(400, 404))
    async def get_resume(
        self, request: AuthedRequest, resumes: NamedDependency[ResumeService], resume_id: ResumeId
    ) -> ResumeRead:
        """One of your résumés."""
        return to_read(await resumes.get(request.user.id, resume_id))

    @patch("/{resume_id:str}", summary="Update a résumé", responses=errors(400, 404))
    async def update_resume(
        self,
        request: AuthedRequest,
        resumes: NamedDependency[ResumeService],
        resume_id: ResumeId,
        data: JSONBody[ResumeUpdate],
    ) -> ResumeRead:
        """Change the title, the content or the default template."""
        resume = await resumes.update(
            request.user.id,
            resume_id,
            title=data.title,
            content=await raw_content(request) if data.content is not None else None,
            template=data.template,
        )
        return to_read(resume)

    @delete(
        "/{resume_id:str}",
        summary="Delete a résumé",
        description="Also cancels the résumé's pending and processing exports.",
        responses=errors(400, 404),
    )
    async def delete_resume(
        self, request: AuthedRequest, resumes: NamedDependency[ResumeService], resume_id: ResumeId
    ) -> None:
        """Delete one of your résumés."""
        await resumes.delete(request.user.id, resume_id)
