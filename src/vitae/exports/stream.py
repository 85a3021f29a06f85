"""Server-Sent Events: one export's changes, or every change to the caller's exports.

A stream subscribes first and reads the record second, so no change falls between the two;
it sends the current state (unless ``Last-Event-ID`` says the client has it), then each
newer change. Each event's id is the export's version. While idle it sends a comment every
heartbeat and re-reads the record, so even a lost pub/sub message only delays a change.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Annotated, override

from bson import ObjectId
from litestar import Request, get
from litestar.datastructures import State
from litestar.params import HeaderParameter, PathParameter, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from vitae.exports.deps import provide_export_service
from vitae.exports.events import ExportEvent, decode_event, user_channel
from vitae.exports.leases import leased
from vitae.exports.models import TERMINAL, Export
from vitae.exports.schemas import ExportEventData
from vitae.exports.views import to_read
from vitae.http import errors
from vitae.ids import OBJECT_ID_PATTERN
from vitae.users.auth import ALL_EXPORTS, authenticate_stream

if TYPE_CHECKING:
    from vitae.exports.hub import EventHub
    from vitae.exports.service import ExportService

RETRY_MS = 2000
type Messages = AsyncGenerator[ServerSentEventMessage]


async def render(export: Export, exports: ExportService, event: ExportEvent | None = None) -> str:
    """An event's ``data``: the same fields as ``GET /api/exports/{id}``, plus progress."""
    read = await to_read(export, exports)
    return ExportEventData(
        **{f: getattr(read, f) for f in read.__struct_fields__},
        stage=event.stage if event else None,
        progress=event.progress if event else None,
    ).encode()


def sse(kind: str, export: Export, data: str) -> ServerSentEventMessage:
    """One SSE message; its id is the export's version."""
    return ServerSentEventMessage(data=data, event=kind, id=str(export.version), retry=RETRY_MS)


class EncodedMessage(ServerSentEventMessage):
    """An SSE message encoded once: every stream that sends it writes the same bytes."""

    def __init__(self, message: ServerSentEventMessage) -> None:
        super().__init__(data=message.data, event=message.event, id=message.id, retry=message.retry)
        self.encoded = message.encode()

    @override
    def encode(self) -> bytes:
        return self.encoded


RENDERED_CACHE = 512


class RenderedEvents:
    """Every stream following an export receives the same pub/sub message; it is decoded,
    rendered and encoded as SSE once per app instance (a fresh file link and stream token cost
    more than the fan-out), so each of a thousand followers only writes the bytes.
    """

    def __init__(self, size: int = RENDERED_CACHE) -> None:
        self.size = size
        self._entries: OrderedDict[bytes, tuple[ExportEvent, Export, EncodedMessage]] = (
            OrderedDict()
        )

    async def get(
        self, raw: bytes, exports: ExportService
    ) -> tuple[ExportEvent, Export, EncodedMessage]:
        """The decoded event, its export and its SSE message, shared by all followers."""
        hit = self._entries.get(raw)
        if hit is None:
            event = decode_event(raw)
            record = event.record()
            data = await render(record, exports, event)
            hit = (event, record, EncodedMessage(sse(event.kind, record, data)))
            self._entries[raw] = hit
            if len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return hit


def last_event_id(raw: str | None) -> int:
    """The version the client already has; garbage counts as none."""
    try:
        return int(raw or 0)
    except ValueError:
        return 0


async def follow_export(
    export_id: str,
    user_id: str,
    exports: ExportService,
    hub: EventHub,
    rendered: RenderedEvents,
    since: int,
    heartbeat: float,
) -> AsyncGenerator[ServerSentEventMessage | None]:
    """The events of one export until it reaches a terminal status.

    It first yields ``None``, once subscribed and the export read (``NotFoundError`` if the
    user has no such export): the caller answers 404 before the stream starts, and one read,
    made after subscribing so that no change falls between the two, serves the check and the
    stream.
    """
    owner = ObjectId(user_id)
    # The owner's channel carries every change of theirs; the hub passes on this export's.
    async with hub.subscribe(user_channel(user_id), export_id) as inbox:
        current = await exports.get(owner, export_id)
        yield None
        current_message: ServerSentEventMessage | None = None  # if rendered already
        sent = since
        while True:
            if current.version > sent:
                yield current_message or sse("status", current, await render(current, exports))
                sent = current.version
            if current.status in TERMINAL:
                return
            try:
                raw = await asyncio.wait_for(inbox.get(), heartbeat)
            except TimeoutError:
                yield ServerSentEventMessage(comment="keep-alive", data=None)
                fresh = await exports.get(owner, export_id)
                if fresh.version > current.version:
                    current, current_message = fresh, None
                continue
            if raw is None:
                return  # the hub lost Redis: the client reconnects with Last-Event-ID
            event, record, message = await rendered.get(raw, exports)
            if event.kind == "progress":
                if record.version >= sent and record.status not in TERMINAL:
                    yield message
            elif record.version > current.version:
                current, current_message = record, message


async def follow_user(
    user_id: str, exports: ExportService, hub: EventHub, rendered: RenderedEvents, heartbeat: float
) -> Messages:
    """Every change to the user's exports, starting with the state of the active ones."""
    async with hub.subscribe(user_channel(user_id)) as inbox:
        for export in await exports.active(ObjectId(user_id)):
            yield sse("status", export, await render(export, exports))
        while True:
            try:
                raw = await asyncio.wait_for(inbox.get(), heartbeat)
            except TimeoutError:
                yield ServerSentEventMessage(comment="keep-alive", data=None)
                continue
            if raw is None:
                return  # the hub lost Redis: the client reconnects and gets the current state
            _, _, message = await rendered.get(raw, exports)
            yield message


ExportIdPath = Annotated[
    str, PathParameter(pattern=OBJECT_ID_PATTERN, description="The export's id")
]
LastEventId = Annotated[
    str | None,
    HeaderParameter(name="Last-Event-ID", description="Resume after this version", required=False),
]
# Declared for the document and generated clients; `authenticate_stream` reads it, with the
# bearer header, so that both ways are checked in one place.
StreamToken = Annotated[
    str | None,
    QueryParameter(
        description="A short-lived stream token, as `eventsUrl` carries it: instead of the "
        "bearer header, for a browser's EventSource (valid for this stream only)",
        required=False,
    ),
]


@get(
    "/api/exports/{export_id:str}/events",
    tags=["exports"],
    summary="Follow an export live (Server-Sent Events)",
    operation_id="streamExportEvents",
    description=(
        "`text/event-stream`: first the current state, then every change, until a terminal "
        "status. Events `status` and `progress`; `id` is the export's version; `data` has the "
        "fields of GET /api/exports/{id} (plus `stage` and `progress`). Authenticate with the "
        "bearer header, or with the `token` query parameter that `eventsUrl` carries (valid "
        "for this stream only). `Last-Event-ID` resumes without repeats."
    ),
    responses=errors(400, 404, 429),
    media_type="text/event-stream",
)
async def export_events(
    request: Request[None, None, State],
    state: State,
    export_id: ExportIdPath,
    last_event: LastEventId = None,
    token: StreamToken = None,  # noqa: ARG001  (read by authenticate_stream)
) -> ServerSentEvent:
    """Stream one of your exports' changes."""
    user_id = await authenticate_stream(request, state.settings.jwt_secret, export_id)
    messages = follow_export(
        export_id,
        str(user_id),
        provide_export_service(state),
        state.hub,
        state.rendered,
        last_event_id(last_event),
        state.settings.sse_heartbeat,
    )
    await anext(messages)  # subscribed and read: 404 before the stream starts
    try:
        lease = await state.stream_leases.take(str(user_id))  # 429 past the user's streams
    except BaseException:
        await messages.aclose()
        raise
    return ServerSentEvent(leased(messages, lease))


@get(
    "/api/exports/events",
    tags=["exports"],
    summary="Follow all your exports live (Server-Sent Events)",
    operation_id="streamAllExportEvents",
    description=(
        "One stream of every change to your exports, for a dashboard: first the state of the "
        "active ones, then each change. Authenticate with the bearer header or the `token` "
        "query parameter of `eventsUrl` from GET /api/users/me."
    ),
    responses=errors(400, 429),
    media_type="text/event-stream",
)
async def all_export_events(
    request: Request[None, None, State],
    state: State,
    token: StreamToken = None,  # noqa: ARG001  (read by authenticate_stream)
) -> ServerSentEvent:
    """Stream every change to your exports."""
    user_id = await authenticate_stream(request, state.settings.jwt_secret, ALL_EXPORTS)
    exports = provide_export_service(state)
    lease = await state.stream_leases.take(str(user_id))  # 429 past the user's streams
    messages = follow_user(
        str(user_id), exports, state.hub, state.rendered, state.settings.sse_heartbeat
    )
    return ServerSentEvent(leased(messages, lease))
