"""Routes outside ``/api``: liveness, the template catalogue and signed local downloads."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Response, get
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import File

from vitae.errors import NotFoundError
from vitae.http import PublicOperation, error_response
from vitae.readiness import check_dependencies
from vitae.storage import LocalStorage
from vitae.storage.local import FILES_PATH


class Health(msgspec.Struct):
    """The process is up."""

    status: str = "ok"


class Readiness(msgspec.Struct):
    """Each dependency's state: ``ok`` or why not."""

    status: str
    checks: dict[str, str]


@get(
    "/health",
    tags=["system"],
    summary="Liveness",
    operation_id="getHealth",
    operation_class=PublicOperation,
    exclude_from_auth=True,
)
async def health() -> Health:
    """Answers while the process runs."""
    return Health()


@get(
    "/ready",
    tags=["system"],
    summary="Readiness",
    operation_id="getReadiness",
    operation_class=PublicOperation,
    description="200 when MongoDB, Redis and the storage answer; 503 naming the one that does not.",
    exclude_from_auth=True,
    responses={
        503: ResponseSpec(Readiness, description="A dependency is down", generate_examples=False)
    },
)
async def ready(state: State) -> Response[Readiness]:
    """Probe every dependency."""
    checks = await check_dependencies(state.engine, state.queue.redis, state.storage)
    healthy = all(value == "ok" for value in checks.values())
    return Response(
        Readiness(status="ready" if healthy else "unavailable", checks=checks),
        status_code=200 if healthy else 503,
    )


@get(
    f"{FILES_PATH}/{{key:path}}",
    tags=["files"],
    summary="Download a stored PDF (local storage)",
    description="The signed, expiring links that `fileUrl` gives when files are stored locally.",
    operation_class=PublicOperation,
    media_type="application/pdf",
    response_description="The PDF",
    content_media_type="application/pdf",
    responses={
        400: error_response(
            "A link's query is missing a part or malformed", 400, "missing expires", "expires"
        ),
        403: error_response(
            "Tampered or expired link", 403, "the download link has expired", "expires"
        ),
        404: error_response("No such file", 404, "no such file", "key"),
    },
)
async def download_file(
    state: State,
    key: FromPath[str],
    expires: FromQuery[int],
    filename: FromQuery[str],
    signature: Annotated[str, QueryParameter(min_length=64, max_length=64)],
) -> File:
    """Serve a file if its link's signature and expiry hold."""
    storage = state.storage
    if not isinstance(storage, LocalStorage):
        raise NotFoundError("files are not stored locally", field="key")
    key = key.lstrip("/")
    storage.signer.verify(key, expires, filename, signature)
    path = storage.path(key)
    if not path.is_file():
        raise NotFoundError("no such file", field="key")
    return File(path=path, filename=filename, media_type="application/pdf")
