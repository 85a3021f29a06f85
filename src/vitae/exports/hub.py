"""One Redis subscription per API process, fanned out to every open event stream.

Litestar's channels plugin does the same but its reader task dies with the first Redis
connection error and never comes back; this hub survives a Redis restart. When the
connection drops it ends every open stream (a browser's EventSource reconnects by itself,
with ``Last-Event-ID``), then reconnects and subscribes again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from vitae.exports.events import event_export_id

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

log = logging.getLogger(__name__)

# A stream's inbox receives message bodies, or None when the hub lost Redis.
type Inbox = asyncio.Queue[bytes | None]
RECONNECT_DELAY = 0.5


class EventHub:
    """Routes pub/sub messages to the inboxes of the streams that follow each channel."""

    def __init__(self, redis: Redis) -> None:
        # Its own client, without health checks: a health-check PING would read from the
        # pub/sub connection while the reader task is already waiting on it.
        self.redis = redis
        # Per channel, each follower's inbox and the one export it wants (``None``: all).
        self._inboxes: dict[str, dict[Inbox, str | None]] = {}
        self._ready: dict[str, asyncio.Future[None]] = {}
        # One command at a time: concurrent first commands would each open a connection,
        # and channels subscribed on the one that loses would never be read.
        self._commands = asyncio.Lock()
        self._pubsub: PubSub = redis.pubsub()
        self._subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Begin reading; call once, in the app's lifespan."""
        self._task = asyncio.create_task(self._run(), name="vitae-event-hub")

    async def stop(self) -> None:
        """End every stream and stop reading."""
        self._drop_all()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(RedisError, OSError):
            await self._pubsub.aclose()
        with contextlib.suppress(RedisError, OSError):
            await self.redis.aclose()

    @property
    def channels(self) -> int:
        """How many channels have at least one open stream."""
        return len(self._inboxes)

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str, export_id: str | None = None) -> AsyncGenerator[Inbox]:
        """An inbox for ``channel`` until the block ends (only ``export_id``'s events, if
        given); the last one out unsubscribes.
        """
        inbox: Inbox = asyncio.Queue()
        followers = self._inboxes.setdefault(channel, {})
        followers[inbox] = export_id
        try:
            ready = self._ready.get(channel)
            if ready is None:
                # The first follower subscribes; the others wait until it has.
                ready = self._ready[channel] = asyncio.get_running_loop().create_future()
                try:
                    async with self._commands:
                        await self._pubsub.subscribe(channel)
                except BaseException as error:
                    self._ready.pop(channel, None)
                    ready.set_exception(error)
                    ready.exception()  # retrieved: the followers below see it
                    raise
                ready.set_result(None)
                self._subscribed.set()
            else:
                await asyncio.shield(ready)
            yield inbox
        finally:
            followers.pop(inbox, None)
            if not followers and self._inboxes.get(channel) is followers:
                del self._inboxes[channel]
                self._ready.pop(channel, None)
                with contextlib.suppress(Exception):  # the stream is over either way
                    async with self._commands:
                        await self._pubsub.unsubscribe(channel)

    @staticmethod
    def _confirmed() -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    def _drop_all(self) -> None:
        for followers in self._inboxes.values():
            for inbox in followers:
                inbox.put_nowait(None)

    async def _run(self) -> None:
        while True:
            try:
                await self._subscribed.wait()
                message = await self._pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=1.0
                )
            except (RedisError, OSError) as error:
                log.warning("lost the Redis subscription (%s); streams end and reconnect", error)
                await self._reconnect()
                continue
            if message is None or message.get("type") != "message":
                continue
            channel, data = message["channel"], message["data"]
            if isinstance(channel, bytes) and isinstance(data, bytes):
                self._route(channel.decode(), data)

    def _route(self, channel: str, data: bytes) -> None:
        """Hand one message to its followers, without awaiting: the same bytes to each (a
        stream decodes and renders through the shared ``RenderedEvents``). The export's id is
        read once per message, and only if a follower wants a single export.
        """
        followers = self._inboxes.get(channel)
        if not followers:
            return
        about: str | None = None
        peeked = False
        for inbox, wanted in followers.items():
            if wanted is not None:
                if not peeked:
                    about, peeked = event_export_id(data), True
                if about != wanted:
                    continue
            inbox.put_nowait(data)

    async def _reconnect(self) -> None:
        """Tell every stream it may have missed events, then subscribe anew once Redis answers."""
        self._drop_all()
        with contextlib.suppress(RedisError, OSError):
            await self._pubsub.aclose()
        self._pubsub = self.redis.pubsub()
        self._subscribed.clear()
        self._ready = {channel: self._confirmed() for channel in self._inboxes}
        while True:
            await asyncio.sleep(RECONNECT_DELAY)
            try:
                if self._inboxes:
                    async with self._commands:
                        await self._pubsub.subscribe(*self._inboxes)
                    self._subscribed.set()
                else:
                    await self.redis.ping()  # pyright: ignore[reportGeneralTypeIssues]
            except (RedisError, OSError):
                continue
            return
