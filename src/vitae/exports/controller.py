"""Routes under ``/api/exports``."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi.spec import Example
from litestar.params import Body, FromQuery, HeaderParameter, QueryParameter
from litestar.response import Redirect
from litestar.security.jwt import Token
from litestar.status_codes import HTTP_202_ACCEPTED, HTTP_302_FOUND

from vitae.exports.deps import provide_export_service
from vitae.exports.models import ExportStatus
from vitae.exports.schemas import ExportCreate, ExportCreated, ExportPage, ExportRead
from vitae.exports.service import ExportRequest, ExportService
from vitae.exports.views import BASE, ExportId, events_url, to_read
from vitae.http import ERRORS, error_response, errors
from vitae.ids import OBJECT_ID_PATTERN
from vitae.users.models import User

AuthedRequest = Request[User, Token, State]


class ExportController(Controller):
    """Request PDFs of your résumés and follow them to completion."""

    path = BASE
    tags = ["exports"]  # noqa: RUF012  (Litestar's declared controller style)
    dependencies = {"exports": Provide(provide_export_service, sync_to_thread=False)}  # noqa: RUF012

    @post(
        "/",
        status_code=HTTP_202_ACCEPTED,
        summary="Request an export",
        description=(
            "Validates the request, checks that you own the résumé, decides the watermark from "
            "your credit balance, records the export as `pending` and queues its job. Answers at "
            "once; follow `statusUrl` (poll) or `eventsUrl` (Server-Sent Events)."
        ),
        responses={
            400: error_response(
                "Invalid body: the field and the reason are named",
                400,
                "Validation failed for POST /api/exports",
                "resumeId",
            ),
            404: error_response("No such résumé, or not yours", 404, "no such resume", "resumeId"),
            401: ERRORS[401],
            413: error_response("The body is over 2 MiB", 413, "Request Entity Too Large", "body"),
            422: error_response(
                "The Idempotency-Key was used with another body",
                422,
                "this Idempotency-Key was used with a different request body",
                "Idempotency-Key",
            ),
            429: error_response(
                "Too many exports: wait `Retry-After` seconds", 429, "Too Many Requests", "user"
            ),
            503: ERRORS[503],
        },
    )
    async def create_export(
        self,
        request: AuthedRequest,
        exports: NamedDependency[ExportService],
        data: Annotated[
            ExportCreate,
            Body(
                examples=[
                    Example(summary="Default PDF", value={"resumeId": "6650c0ffee0ddba11ca7f00d"}),
                    Example(
                        summary="Chosen template and paper",
                        value={
                            "resumeId": "6650c0ffee0ddba11ca7f00d",
                            "format": "pdf",
                            "template": "sidebar",
                            "paperSize": "letter",
                        },
                    ),
                ]
            ),
        ],
        idempotency_key: Annotated[
            str | None,
            HeaderParameter(
                name="Idempotency-Key",
                max_length=255,
                required=False,
                description="Repeat a request safely: the same key and body give the same export",
            ),
        ] = None,
    ) -> Response[ExportCreated]:
        """Request an export of one of your résumés."""
        export = await exports.create(
            request.user,
            ExportRequest(
                resume_id=data.resume_id,
                template=data.template,
                paper_size=data.paper_size,
                options=data.options or {},
                callback_url=data.callback_url,
            ),
            idempotency_key=idempotency_key,
        )
        secret = None
        if export.callback_url is not None:
            secret = await exports.callbacks.ensure_callback_secret(request.user)
        export_id = str(export.id)
        status_url = f"{BASE}/{export_id}"
        body = ExportCreated(
            export_id=export_id,
            job_id=export_id,
            status=export.status,
            watermarked=export.watermarked,
            status_url=status_url,
            events_url=events_url(export, exports.settings),
            download_url=f"{status_url}/download",
            callback_secret=secret,
        )
        return Response(body, status_code=HTTP_202_ACCEPTED, headers={"Location": status_url})

    @get(
        "/",
        summary="List your exports",
        description="Newest first, paginated, optionally filtered by status and résumé.",
        responses=errors(400),
    )
    async def list_exports(
        self,
        request: AuthedRequest,
        exports: NamedDependency[ExportService],
        status: FromQuery[ExportStatus | None] = None,
        resume_id: Annotated[
            str | None, QueryParameter(name="resumeId", pattern=OBJECT_ID_PATTERN)
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
        offset: Annotated[int, QueryParameter(ge=0, le=1_000_000)] = 0,
    ) -> ExportPage:
        """Your exports, newest first."""
        items, total = await exports.list(
            request.user.id, status=status, resume_id=resume_id, limit=limit, offset=offset
        )
        return ExportPage(
            items=[await to_read(e, exports) for e in items],
            total=total,
            limit=limit,
            offset=offset,
        )

    @get(
        "/{export_id:str}",
        summary="Get an export's status",
        description="`fileUrl` (fresh, expiring) and `fileSize` once completed; `error` if failed.",
        responses=errors(400, 404),
    )
    async def get_export(
        self, request: AuthedRequest, exports: NamedDependency[ExportService], export_id: ExportId
    ) -> ExportRead:
        """One of your exports."""
        return await to_read(await exports.get(request.user.id, export_id), exports)

    @get(
        "/{export_id:str}/download",
        summary="Download a completed export",
        description="Redirects (302) to a fresh, expiring link to the PDF.",
        status_code=HTTP_302_FOUND,
        responses=errors(400, 404, 409),
    )
    async def download_export(
        self, request: AuthedRequest, exports: NamedDependency[ExportService], export_id: ExportId
    ) -> Redirect:
        """Redirect to the PDF."""
        export = await exports.get(request.user.id, export_id)
        return Redirect(await exports.file_url(export), status_code=HTTP_302_FOUND)

    @delete(
        "/{export_id:str}",
        status_code=200,
        summary="Cancel an export",
        description="Cancels a pending or processing export; a finished one answers 409.",
        responses=errors(400, 404, 409),
    )
    async def cancel_export(
        self, request: AuthedRequest, exports: NamedDependency[ExportService], export_id: ExportId
    ) -> ExportRead:
        """Cancel one of your exports."""
        return await to_read(await exports.cancel(request.user.id, export_id), exports)


__all__ = ["ExportController"]
