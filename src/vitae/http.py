"""HTTP plumbing shared by every route group: the error body and its mapping from our errors."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import msgspec
from litestar import MediaType, Response
from litestar.exceptions import HTTPException
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example, Operation
from redis.exceptions import RedisError

from vitae.errors import (
    HeadersTooLargeError,
    InvalidRequestError,
    ServiceUnavailableError,
    UnsupportedMediaTypeError,
    VitaeError,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from litestar import Request
    from litestar.types import Message, Scope


class ErrorDetail(msgspec.Struct, omit_defaults=True):
    """Which field was wrong and why: ``key`` is the field's name in the API (a dotted path
    into the body, a query or path parameter, a header), ``source`` where it was sent.
    """

    key: str
    message: str
    source: str | None = None


class ErrorBody(msgspec.Struct):
    """Every 4xx and 5xx answer has this shape, Litestar's own errors (401, 403, 404, 405,
    413, 429, validation) included; ``extra`` names at least one field.
    """

    status_code: int
    detail: str
    extra: list[ErrorDetail] = msgspec.field(default_factory=list[ErrorDetail])


# What an error of Litestar's that names no field is about, by status.
SUBJECTS: Final = {
    400: ("body", "body"),
    401: ("Authorization", "header"),
    403: ("user", None),
    404: ("path", "path"),
    405: ("method", None),
    413: ("body", "body"),
    429: ("user", None),
    503: ("service", None),
}


def _subject(status: int) -> tuple[str, str | None]:
    return SUBJECTS.get(status, ("request", None))


MISSING: Final = re.compile(r"^Object missing required field `(?P<field>[^`]+)`")


@dataclass
class PublicOperation(Operation):
    """The OpenAPI operation of a route that needs no token (``operation_class=``): an empty
    ``security`` lifts the document's global bearer requirement.
    """

    def __post_init__(self) -> None:
        self.security = []


def error_response(description: str, status: int, detail: str, key: str) -> ResponseSpec:
    """An OpenAPI response entry for an error, with an example."""
    example = {"status_code": status, "detail": detail, "extra": [{"key": key, "message": detail}]}
    return ResponseSpec(
        data_container=ErrorBody,
        generate_examples=False,
        description=description,
        examples=[Example(summary=description, value=example)],
    )


ERRORS = {
    400: error_response(
        "Invalid input: the field and the reason are named",
        400,
        "Validation failed for POST /api/exports",
        "resumeId",
    ),
    401: error_response(
        "Missing, malformed, forged or expired token",
        401,
        "the bearer token has expired",
        "Authorization",
    ),
    404: error_response("Not found, or not yours", 404, "no such export", "id"),
    409: error_response(
        "Not allowed in the current state", 409, "the export is already completed", "status"
    ),
    429: error_response(
        "A limit is reached: the limit and its setting are named",
        429,
        "at most 500 résumés per user (VITAE_RESUMES_PER_USER); delete one first",
        "resumes",
    ),
    503: error_response(
        "A backing service is down; retry after `Retry-After` seconds",
        503,
        "the export queue is unavailable; retry shortly",
        "service",
    ),
}


def errors(*codes: int) -> dict[int, ResponseSpec]:
    """The documented error responses of an authenticated route: 401 plus ``codes``."""
    return {code: ERRORS[code] for code in sorted({401, *codes})}


def backend_down_handler(request: Request[Any, Any, Any], error: Exception) -> Response[ErrorBody]:
    """Redis or MongoDB unreachable: 503 with ``Retry-After``, never a bare 500."""
    service = "queue" if isinstance(error, RedisError | OSError) else "database"
    return vitae_error_handler(
        request,
        ServiceUnavailableError(f"the {service} is unavailable; retry shortly", field="service"),
    )


# What a client's body can make the JSON decoder raise besides its own decode error: these
# are the client's fault, answered 400 and logged as the request's one line, not a traceback.
BODY_ERRORS: dict[type[Exception], str] = {
    UnicodeDecodeError: "the body is not valid UTF-8",
    RecursionError: "the JSON body is nested too deeply",
}


def body_error_handler(request: Request[Any, Any, Any], error: Exception) -> Response[ErrorBody]:
    """A body the decoder cannot read (invalid UTF-8, nesting beyond its depth) is bad input."""
    reason = next(
        (text for kind, text in BODY_ERRORS.items() if isinstance(error, kind)), "bad body"
    )
    return vitae_error_handler(request, InvalidRequestError(reason, field="body"))


JSON_METHODS = frozenset({"POST", "PUT", "PATCH"})


def header_bytes(request: Request[Any, Any, Any]) -> int:
    """The size of the request's header block as sent (``name: value`` and CRLF per line)."""
    return sum(len(name) + len(value) + 4 for name, value in request.scope["headers"])


def check_request(max_header_bytes: int) -> Callable[[Request[Any, Any, Any]], Awaitable[None]]:
    """A ``before_request`` hook: headers past ``max_header_bytes`` are a 431 (the server
    stops reading a larger block, ``vitae.serving``); an API body not declared JSON is a
    415, before anything tries to read it as JSON.
    """

    async def check(request: Request[Any, Any, Any]) -> None:
        if header_bytes(request) > max_header_bytes:
            raise HeadersTooLargeError(
                f"the request's headers exceed {max_header_bytes} bytes (VITAE_MAX_HEADER_BYTES)",
                field="headers",
            )
        require_json_body(request)

    return check


def require_json_body(request: Request[Any, Any, Any]) -> None:
    """An API body that is not declared JSON is a 415."""
    if request.method not in JSON_METHODS or not request.url.path.startswith("/api/"):
        return
    length = request.headers.get("content-length")
    if length in {None, "0"} and "transfer-encoding" not in request.headers:
        return
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaTypeError(
            "the body must be JSON, sent with `Content-Type: application/json`", field="body"
        )


def vitae_error_handler(request: Request[Any, Any, Any], error: VitaeError) -> Response[ErrorBody]:  # noqa: ARG001
    """Map our error hierarchy to HTTP in one place."""
    body = ErrorBody(
        status_code=error.status_code,
        detail=error.message,
        extra=[
            ErrorDetail(key=error.field or _subject(error.status_code)[0], message=error.message)
        ],
    )
    headers: dict[str, str] = {}
    if isinstance(error, ServiceUnavailableError):
        headers["Retry-After"] = str(error.retry_after)
    return Response(body, status_code=error.status_code, headers=headers, media_type=MediaType.JSON)


def _validation_detail(item: object) -> ErrorDetail | None:
    """One of Litestar's validation details, with a missing field named by its own path
    (msgspec reports it on the object that lacks it: ``data`` for the body itself).
    """
    if not isinstance(item, dict):
        return None
    key, message = str(item.get("key") or "body"), str(item.get("message") or "invalid")
    source = getattr(item.get("source"), "value", item.get("source"))  # Litestar's ParamType
    missing = MISSING.match(message)
    if missing:
        parent = "" if key == "data" else key + "."
        key = parent + missing["field"]
    elif key == "data":
        key = "body"
    return ErrorDetail(key=key, message=message, source=str(source) if source else None)


def http_error_handler(
    request: Request[Any, Any, Any],  # noqa: ARG001
    error: HTTPException,
) -> Response[ErrorBody]:
    """Litestar's own errors (authentication, routing, limits, validation) in our shape."""
    details: list[ErrorDetail] = []
    if isinstance(error.extra, list):
        details = [d for d in map(_validation_detail, error.extra) if d is not None]
    if not details:
        key, source = _subject(error.status_code)
        details = [ErrorDetail(key=key, message=error.detail, source=source)]
    body = ErrorBody(status_code=error.status_code, detail=error.detail, extra=details)
    return Response(
        body, status_code=error.status_code, headers=error.headers, media_type=MediaType.JSON
    )


# Scripts, styles, fonts, images and fetches from the app's own origin only, no inline script,
# no plugin, no framing. The API docs (Scalar, Swagger UI) set element styles from their
# scripts, so their pages admit inline styles (never inline scripts).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
DOCS_CSP = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)


async def add_security_headers(message: Message, scope: Scope) -> None:
    """A ``before_send`` hook: every HTTP response (errors and 404s included) gets the
    browser protections: a content security policy, ``nosniff``, no framing, no referrer.
    """
    if message["type"] != "http.response.start":
        return
    path: str = scope.get("path", "")
    csp = DOCS_CSP if path.startswith("/schema") else CSP
    message["headers"] = [
        *message.get("headers", ()),
        (b"content-security-policy", csp.encode()),
        *SECURITY_HEADERS,
    ]
