"""Export events on Redis pub/sub: published by whichever process changes an export (the
worker, or the API on cancellation), received by whichever API replica holds the stream.

Each change is published once, on its owner's channel: a dashboard follows the channel, and a
stream of one export follows it too, the hub handing it only that export's events
(``event_export_id``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Literal

import msgspec
from redis.exceptions import RedisError

from vitae.exports.models import Export

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

# A publish waits no longer than this for Redis: a change is never held up by its event.
PUBLISH_WAIT = 1.0

# The fields an event leaves out of the export it carries.
SNAPSHOT = {"content"}

type EventKind = Literal["status", "progress"]


def user_channel(user_id: str) -> str:
    """The channel of every change to one user's exports."""
    return f"vitae:users:{user_id}:exports"


class ExportEvent(msgspec.Struct, kw_only=True):
    """What travels on the channels: the export as stored, and for progress its stage."""

    kind: EventKind
    export: msgspec.Raw  # the export's own JSON, embedded as is: encoded and parsed once
    stage: str | None = None
    progress: int | None = None

    def record(self) -> Export:
        """The export as it was when the event was published."""
        return Export.model_validate_json(bytes(self.export))


class _ExportId(msgspec.Struct):
    id: str


class _EventExportId(msgspec.Struct):
    export: _ExportId


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(ExportEvent)
_export_id = msgspec.json.Decoder(_EventExportId)


def event_export_id(data: bytes) -> str | None:
    """The id of the export a message is about (the rest of it is skipped, not built);
    ``None`` if it is not an event.
    """
    try:
        return _export_id.decode(data).export.id
    except msgspec.DecodeError:
        return None


def decode_event(data: bytes) -> ExportEvent:
    """Parse one message from a channel."""
    return _decoder.decode(data)


class ExportEvents:
    """Publishes export changes. A failed publish never fails the change itself: streams
    re-read the record on every heartbeat, so a lost message only delays a client.
    """

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def publish(
        self,
        export: Export,
        kind: EventKind = "status",
        *,
        stage: str | None = None,
        progress: int | None = None,
    ) -> None:
        """Publish on the owner's channel (one command per change)."""
        event = ExportEvent(
            kind=kind,
            # Without the résumé snapshot: followers see the API view, never the content.
            export=msgspec.Raw(export.model_dump_json(exclude=SNAPSHOT)),
            stage=stage,
            progress=progress,
        )
        data = _encoder.encode(event)
        try:
            async with asyncio.timeout(PUBLISH_WAIT):
                await self.redis.publish(user_channel(str(export.user_id)), data)  # pyright: ignore[reportUnknownMemberType]
        except (RedisError, OSError) as error:  # TimeoutError is an OSError
            log.warning("could not publish %s event of export %s: %s", kind, export.id, error)
