"""The ``webhooks`` (endpoints) and ``deliveries`` collections."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from odmantic import EmbeddedModel, Field, Index, Model
from odmantic.bson import ObjectId
from odmantic.query import desc

from vitae.timeutil import utcnow


class EventType(StrEnum):
    """The terminal events of an export."""

    COMPLETED = "export.completed"
    FAILED = "export.failed"
    CANCELLED = "export.cancelled"


ALL_EVENTS = tuple(EventType)


class WebhookEndpoint(Model):
    """A URL of a user's that receives every terminal event of that user's exports.
    ``secret`` signs the deliveries; it is shown once, when the endpoint is created.
    """

    user_id: ObjectId = Field(key_name="userId")
    url: str
    description: str = ""
    events: list[EventType] = Field(default_factory=lambda: list(ALL_EVENTS))
    enabled: bool = True
    secret: str
    created_at: datetime = Field(default_factory=utcnow, key_name="createdAt")
    updated_at: datetime = Field(default_factory=utcnow, key_name="updatedAt")

    model_config = {  # noqa: RUF012  (ODMantic's declared config style)
        "collection": "webhooks",
        "indexes": lambda: [Index(WebhookEndpoint.user_id, desc(WebhookEndpoint.created_at))],
    }


class DeliveryStatus(StrEnum):
    """``pending`` until an attempt succeeds (``succeeded``) or none may follow (``failed``)."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class DeliveryAttempt(EmbeddedModel):
    """One call: when, what came back (a status code or an error), how long it took."""

    number: int
    at: datetime
    status_code: int | None = Field(default=None, key_name="statusCode")
    error: str | None = None
    duration_ms: int = Field(key_name="durationMs")


class Delivery(Model):
    """One event for one destination; its id is ``{eventId}:{endpointId|callback}``, so
    recording the same event twice for a destination is impossible.
    """

    id: str = Field(primary_field=True)
    export_id: ObjectId = Field(key_name="exportId")
    user_id: ObjectId = Field(key_name="userId")
    endpoint_id: ObjectId | None = Field(default=None, key_name="endpointId")
    url: str
    event_id: str = Field(key_name="eventId")
    event_type: EventType = Field(key_name="eventType")
    event_created_at: datetime = Field(key_name="eventCreatedAt")
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: list[DeliveryAttempt] = Field(default_factory=list)
    next_attempt_at: datetime | None = Field(default=None, key_name="nextAttemptAt")
    created_at: datetime = Field(default_factory=utcnow, key_name="createdAt")
    updated_at: datetime = Field(default_factory=utcnow, key_name="updatedAt")
    completed_at: datetime | None = Field(default=None, key_name="completedAt")

    model_config = {  # noqa: RUF012  (ODMantic's declared config style)
        "collection": "deliveries",
        "indexes": lambda: [
            Index(Delivery.export_id, Delivery.created_at),
            Index(Delivery.endpoint_id, Delivery.created_at),
            # Single-field: the reconciler reads the pending deliveries by equality, which the
            # embedded store serves only from an index on that field alone.
            Index(Delivery.status),
        ],
    }


CALLBACK = "callback"


def delivery_id(event_id: str, endpoint_id: ObjectId | None) -> str:
    """The id of an event's delivery to an endpoint, or to the export's ``callbackUrl``."""
    return f"{event_id}:{endpoint_id or CALLBACK}"
