"""The webhooks API's request and response bodies (camelCase JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

from vitae.webhooks.models import DeliveryStatus, EventType

type WebhookUrl = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=2048,
        description="https URL (plain http only where the service allows it) on a public address",
        examples=["https://hooks.example.com/vitae"],
    ),
]
type Description = Annotated[str, msgspec.Meta(max_length=200)]
type Events = Annotated[
    list[EventType],
    msgspec.Meta(min_length=1, description="Which events to send; default: all three"),
]


class WebhookCreate(msgspec.Struct, rename="camel", forbid_unknown_fields=True, kw_only=True):
    """Register a URL to receive every terminal event of your exports."""

    url: WebhookUrl
    description: Description = ""
    events: Events | None = None


class WebhookUpdate(msgspec.Struct, rename="camel", forbid_unknown_fields=True, kw_only=True):
    """Change an endpoint; absent fields are kept."""

    url: WebhookUrl | None = None
    description: Description | None = None
    events: Events | None = None
    enabled: bool | None = None


class WebhookRead(msgspec.Struct, rename="camel", kw_only=True):
    """An endpoint, without its secret."""

    id: str
    url: str
    description: str
    events: list[EventType]
    enabled: bool
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookRead, kw_only=True):
    """A new endpoint with its signing secret: shown this once, keep it."""

    secret: Annotated[
        str,
        msgspec.Meta(
            description="HMAC-SHA256 key of the Vitae-Signature header; shown only now",
            examples=["whsec_3q2+7w..."],
        ),
    ]


class WebhookPage(msgspec.Struct, rename="camel", kw_only=True):
    """Your endpoints, newest first."""

    items: list[WebhookRead]
    total: int


class SigningSecret(msgspec.Struct, rename="camel", kw_only=True):
    """A new signing secret: shown this once, keep it."""

    secret: str


class AttemptRead(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """One call of a delivery."""

    number: int
    at: datetime
    duration_ms: int
    status_code: int | None = None
    error: str | None = None


class DeliveryRead(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """One event sent (or being sent) to one destination, with every attempt."""

    id: str
    event_id: str
    event_type: EventType
    url: str
    destination: Annotated[
        str, msgspec.Meta(description="`callback` (the export's callbackUrl) or an endpoint id")
    ]
    status: DeliveryStatus
    attempts: list[AttemptRead]
    created_at: datetime
    next_attempt_at: datetime | None = None
    completed_at: datetime | None = None


class DeliveryPage(msgspec.Struct, rename="camel", kw_only=True):
    """Deliveries: an export's, oldest first, or an endpoint's, newest first."""

    items: list[DeliveryRead]


class WebhookEvent(msgspec.Struct, rename="camel", kw_only=True):
    """The body of every delivery: the event and the export as GET /api/exports/{id} shows it."""

    id: str
    type: EventType
    created_at: datetime
    data: dict[str, Any]
