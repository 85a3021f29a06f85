"""Routes under ``/api/webhooks``, and an export's delivery log."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi.spec import Example
from litestar.params import Body, FromQuery, JSONBody, PathParameter, QueryParameter
from litestar.security.jwt import Token
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from vitae.exports.deps import provide_export_service
from vitae.exports.service import ExportService
from vitae.exports.views import ExportId
from vitae.http import error_response, errors
from vitae.ids import OBJECT_ID_PATTERN
from vitae.timeutil import as_utc
from vitae.users.models import User
from vitae.webhooks.deps import provide_webhook_service
from vitae.webhooks.models import CALLBACK, Delivery, DeliveryStatus, WebhookEndpoint
from vitae.webhooks.schemas import (
    AttemptRead,
    DeliveryPage,
    DeliveryRead,
    SigningSecret,
    WebhookCreate,
    WebhookCreated,
    WebhookPage,
    WebhookRead,
    WebhookUpdate,
)
from vitae.webhooks.service import MAX_ENDPOINTS, WebhookService

WebhookId = Annotated[
    str, PathParameter(pattern=OBJECT_ID_PATTERN, description="The webhook's id (24 hex digits)")
]
AuthedRequest = Request[User, Token, State]

REFUSED = error_response(
    "Invalid body, or a URL that may not be called (scheme, private address…)",
    400,
    "url refused: the host resolves to a private or reserved address (10.0.0.7)",
    "url",
)


def to_read(endpoint: WebhookEndpoint) -> WebhookRead:
    """The API view of an endpoint: never its secret."""
    return WebhookRead(
        id=str(endpoint.id),
        url=endpoint.url,
        description=endpoint.description,
        events=endpoint.events,
        enabled=endpoint.enabled,
        created_at=as_utc(endpoint.created_at),
        updated_at=as_utc(endpoint.updated_at),
    )


def delivery_read(delivery: Delivery) -> DeliveryRead:
    """The API view of a delivery and its attempts."""
    return DeliveryRead(
        id=delivery.id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        url=delivery.url,
        destination=str(delivery.endpoint_id) if delivery.endpoint_id else CALLBACK,
        status=delivery.status,
        attempts=[
            AttemptRead(
                number=a.number,
                at=as_utc(a.at),
                duration_ms=a.duration_ms,
                status_code=a.status_code,
                error=a.error,
            )
            for a in delivery.attempts
        ],
        created_at=as_utc(delivery.created_at),
        next_attempt_at=as_utc(delivery.next_attempt_at) if delivery.next_attempt_at else None,
        completed_at=as_utc(delivery.completed_at) if delivery.completed_at else None,
    )


class WebhookController(Controller):
    """Endpoints of yours that Vitae calls, signed, when one of your exports ends."""

    path = "/api/webhooks"
    tags = ["webhooks"]  # noqa: RUF012  (Litestar's declared controller style)
    dependencies = {"webhooks": Provide(provide_webhook_service, sync_to_thread=False)}  # noqa: RUF012

    @post(
        "/",
        status_code=HTTP_201_CREATED,
        summary="Register a webhook endpoint",
        description=(
            "The answer holds the endpoint's signing `secret`, shown only this once. Every "
            "`export.completed`, `export.failed` and `export.cancelled` of your exports is "
            f"POSTed to the URL, signed. At most {MAX_ENDPOINTS} endpoints."
        ),
        responses={
            **errors(409),
            400: REFUSED,
        },
    )
    async def create_webhook(
        self,
        request: AuthedRequest,
        webhooks: NamedDependency[WebhookService],
        data: Annotated[
            WebhookCreate,
            Body(
                examples=[
                    Example(
                        summary="Every terminal event",
                        value={"url": "https://hooks.example.com/vitae"},
                    ),
                    Example(
                        summary="Failures only",
                        value={
                            "url": "https://hooks.example.com/vitae/failures",
                            "description": "pager",
                            "events": ["export.failed"],
                        },
                    ),
                ]
            ),
        ],
    ) -> WebhookCreated:
        """Register an endpoint; keep the secret it returns."""
        endpoint = await webhooks.create(request.user.id, data)
        return WebhookCreated(**msgspec.structs.asdict(to_read(endpoint)), secret=endpoint.secret)

    @get("/", summary="List your webhook endpoints", responses=errors())
    async def list_webhooks(
        self, request: AuthedRequest, webhooks: NamedDependency[WebhookService]
    ) -> WebhookPage:
        """Your endpoints, newest first (secrets are never shown again)."""
        items = await webhooks.list(request.user.id)
        return WebhookPage(items=[to_read(e) for e in items], total=len(items))

    @post(
        "/callback-secret",
        status_code=HTTP_201_CREATED,
        summary="Create or replace your callbackUrl signing secret",
        description=(
            "Deliveries to an export's `callbackUrl` are signed with this secret. The first "
            "export with a `callbackUrl` creates one and returns it as `callbackSecret`; this "
            "route replaces it (e.g. to create it before the first export), shown only once."
        ),
        responses=errors(),
    )
    async def rotate_callback_secret(
        self, request: AuthedRequest, webhooks: NamedDependency[WebhookService]
    ) -> SigningSecret:
        """A new callback signing secret."""
        return SigningSecret(secret=await webhooks.rotate_callback_secret(request.user.id))

    @get("/{webhook_id:str}", summary="Get a webhook endpoint", responses=errors(400, 404))
    async def get_webhook(
        self,
        request: AuthedRequest,
        webhooks: NamedDependency[WebhookService],
        webhook_id: WebhookId,
    ) -> WebhookRead:
        """One of your endpoints."""
        return to_read(await webhooks.get(request.user.id, webhook_id))

    @patch(
        "/{webhook_id:str}",
        summary="Change a webhook endpoint",
        responses={**errors(404), 400: REFUSED},
    )
    async def update_webhook(
        self,
        request: AuthedRequest,
        webhooks: NamedDependency[WebhookService],
        webhook_id: WebhookId,
        data: JSONBody[WebhookUpdate],
    ) -> WebhookRead:
        """Change the URL, description, events, or disable it."""
        return to_read(await webhooks.update(request.user.id, webhook_id, data))

    @get(
        "/{webhook_id:str}/deliveries",
        summary="A webhook endpoint's latest deliveries",
        operation_id="listWebhookDeliveries",
        description="Newest first, across exports; `?status=failed` shows what it missed.",
        responses=errors(400, 404),
    )
    async def endpoint_deliveries(
        self,
        request: AuthedRequest,
        webhooks: NamedDependency[WebhookService],
        webhook_id: WebhookId,
        status: FromQuery[DeliveryStatus | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
    ) -> DeliveryPage:
        """The deliveries to one of your endpoints."""
        endpoint = await webhooks.get(request.user.id, webhook_id)
        items = await webhooks.of_endpoint(endpoint, status=status, limit=limit)
        return DeliveryPage(items=[delivery_read(d) for d in items])

    @post(
        "/{webhook_id:str}/secret",
        status_code=HTTP_201_CREATED,
        summary="Replace a webhook endpoint's signing secret",
        operation_id="rotateWebhookSecret",
        description="The new secret is shown only this once; pending retries use it.",
        responses=errors(400, 404),
    )
    async def rotate_secret(
        self,
        request: AuthedRequest,
        webhooks: NamedDependency[WebhookService],
        webhook_id: WebhookId,
    ) -> SigningSecret:
        """A new signing secret for the endpoint."""
        return SigningSecret(secret=await webhooks.rotate_secret(request.user.id, webhook_id))

    @delete(
        "/{webhook_id:str}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete a webhook endpoint",
        description="Its pending deliveries stop (they fail at their next attempt).",
        responses=errors(400, 404),
    )
    async def delete_webhook(
        self,
        request: AuthedRequest,
        webhooks: NamedDependency[WebhookService],
        webhook_id: WebhookId,
    ) -> None:
        """Delete one of your endpoints."""
        await webhooks.delete(request.user.id, webhook_id)


@get(
    "/api/exports/{export_id:str}/deliveries",
    tags=["webhooks"],
    summary="An export's webhook deliveries",
    operation_id="listExportDeliveries",
    description="Every delivery of the export's terminal event, with each attempt's status code "
    "or error and, while retrying, when the next attempt is due.",
    dependencies={
        "exports": Provide(provide_export_service, sync_to_thread=False),
        "webhooks": Provide(provide_webhook_service, sync_to_thread=False),
    },
    responses=errors(400, 404),
)
async def export_deliveries(
    request: AuthedRequest,
    exports: NamedDependency[ExportService],
    webhooks: NamedDependency[WebhookService],
    export_id: ExportId,
) -> DeliveryPage:
    """The delivery log of one of your exports."""
    export = await exports.get(request.user.id, export_id)
    return DeliveryPage(items=[delivery_read(d) for d in await webhooks.of_export(export.id)])
