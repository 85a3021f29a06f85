# ruff: noqa: INP001  (a helper of bench/pipeline.py, not a package)
"""Open-loop load on a running Vitae: exports arrive at a fixed rate whatever the service's
progress, and each is followed to its end through its Server-Sent Events stream.

Each export: ``POST /api/exports`` (202 with ``eventsUrl``), then ``GET eventsUrl`` read until
the ``completed`` (or ``failed``/``cancelled``) status event. Its latency runs from the moment
it was scheduled to arrive (not when the client got round to sending it, so a slow client
cannot hide queueing) to the receipt of the terminal event. The client is a small HTTP/1.1
client on asyncio streams with keep-alive connections, so that it spends little of the
machine's two cores.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec
from pipeline_common import (
    MS,
    QUIET_WAIT,
    BenchError,
    CpuMeter,
    Latency,
    sample_resume,
    variant,
    wait_for_quiet,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Coroutine

    from pipeline_stack import Stack

TERMINAL = frozenset({"completed", "failed", "cancelled"})
EXPORT_TIMEOUT = 60.0  # seconds an export may take before it counts as an error
IDLE_REUSE = 2.0  # seconds; uvicorn closes keep-alive connections idle for 5
EVENT_SPLIT = re.compile(rb"\r?\n\r?\n")


class Created(msgspec.Struct, rename="camel"):
    """What the benchmark reads of ``POST /api/exports``'s answer."""

    export_id: str
    events_url: str


class EventData(msgspec.Struct, rename="camel"):
    """What the benchmark reads of an event's ``data``."""

    status: str
    created_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    error: str | None = None


class ResumeCreated(msgspec.Struct):
    """``POST /api/resumes``'s answer."""

    id: str


decode_created = msgspec.json.Decoder(Created).decode
decode_event = msgspec.json.Decoder(EventData).decode
decode_resume = msgspec.json.Decoder(ResumeCreated).decode


class HttpError(BenchError):
    """The service answered something else than expected."""


def run[T](main: Coroutine[Any, Any, T]) -> T:
    """Run the load on uvloop when installed (uvicorn's ``standard`` extra brings it), so
    the client spends as little as possible of the machine's cores.
    """
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:
        return asyncio.run(main)
    return asyncio.run(main, loop_factory=uvloop.new_event_loop)


# -- a small HTTP/1.1 client -------------------------------------------------------------------


@dataclass
class Connection:
    """One keep-alive connection to the API."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = 0.0


@dataclass
class Response:
    """A response head, with the body for plain responses."""

    status: int
    headers: dict[str, str]
    body: bytes = b""


class Client:
    """HTTP/1.1 to one loopback port, reusing idle connections; a bearer token on every
    request except event streams, which carry their own token in ``eventsUrl``.
    """

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.auth = f"Authorization: Bearer {token}\r\n"
        self._idle: list[Connection] = []

    async def _connect(self) -> Connection:
        """An idle connection, unless uvicorn may have closed it (it does after 5 idle
        seconds), else a new one.
        """
        while self._idle:
            conn = self._idle.pop()
            if time.monotonic() - conn.idle_since < IDLE_REUSE and not conn.reader.at_eof():
                return conn
            conn.writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port, limit=1 << 20)
        return Connection(reader, writer)

    def _release(self, conn: Connection, response: Response) -> None:
        if response.headers.get("connection", "").lower() == "close":
            conn.writer.close()
        else:
            conn.idle_since = time.monotonic()
            self._idle.append(conn)

    def close(self) -> None:
        """Close every idle connection."""
        while self._idle:
            self._idle.pop().writer.close()

    @staticmethod
    async def _head(conn: Connection) -> Response:
        raw = await conn.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        return Response(status, headers)

    @staticmethod
    async def _chunks(conn: Connection) -> AsyncIterator[bytes]:
        while True:
            size = int((await conn.reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
            if size == 0:
                await conn.reader.readuntil(b"\r\n")
                return
            chunk = await conn.reader.readexactly(size + 2)
            yield chunk[:-2]

    def _send(
        self, conn: Connection, method: str, path: str, body: bytes | None, *, auth: bool
    ) -> None:
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
        if auth:
            head += self.auth
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        conn.writer.write((head + "\r\n").encode() + (body or b""))

    async def request(self, method: str, path: str, body: bytes | None = None) -> Response:
        """A plain request; the whole body is read."""
        conn = await self._connect()
        try:
            self._send(conn, method, path, body, auth=True)
            response = await self._head(conn)
            if response.headers.get("transfer-encoding", "").lower() == "chunked":
                response.body = b"".join([chunk async for chunk in self._chunks(conn)])
            else:
                length = int(response.headers.get("content-length", "0"))
                response.body = await conn.reader.readexactly(length)
        except BaseException:
            conn.writer.close()
            raise
        self._release(conn, response)
        return response

    @classmethod
    async def _stream_head(cls, conn: Connection) -> Response:
        """The head of an event stream; anything but 200 is an error."""
        response = await cls._head(conn)
        if response.status != 200:  # noqa: PLR2004
            length = int(response.headers.get("content-length", "0"))
            body = await conn.reader.readexactly(length)
            raise HttpError(f"GET events answered {response.status}: {body[:200]!r}")
        return response

    async def events(self, path: str) -> AsyncIterator[tuple[EventData, float]]:
        """An SSE stream's ``status`` events with their time of receipt, until the server ends
        the stream (read to its end, so that the connection can serve another request).
        """
        conn = await self._connect()
        try:
            self._send(conn, "GET", path, None, auth=False)
            response = await self._stream_head(conn)
            pending = b""
            async for chunk in self._chunks(conn):
                at = time.monotonic()
                *messages, pending = EVENT_SPLIT.split(pending + chunk)
                for message in messages:
                    event = _status_event(message)
                    if event is not None:
                        yield event, at
        except BaseException:
            conn.writer.close()
            raise
        self._release(conn, response)


def _status_event(message: bytes) -> EventData | None:
    kind = data = None
    for line in message.splitlines():
        if line.startswith(b"event:"):
            kind = line[6:].strip()
        elif line.startswith(b"data:"):
            data = line[5:].strip()
    if kind != b"status" or data is None:
        return None
    return decode_event(data)


# -- exports -----------------------------------------------------------------------------------


@dataclass
class Outcome:
    """One export as the client saw it (monotonic seconds) and as the server stamped it."""

    scheduled: float
    accepted: float = 0.0
    finished: float = 0.0
    status: str = ""
    error: str | None = None
    event: EventData | None = None

    @property
    def ok(self) -> bool:
        """Completed, with no error on the way."""
        return self.status == "completed" and self.error is None


async def one_export(client: Client, resume_id: str, outcome: Outcome) -> None:
    """Request one export and follow its stream to the terminal event."""
    body = msgspec.json.encode({"resumeId": resume_id, "template": "classic", "paperSize": "a4"})
    try:
        async with asyncio.timeout(EXPORT_TIMEOUT):
            response = await client.request("POST", "/api/exports", body)
            outcome.accepted = time.monotonic()
            if response.status != 202:  # noqa: PLR2004
                outcome.error = f"POST answered {response.status}"
                return
            created = decode_created(response.body)
            async for event, at in client.events(created.events_url):
                if event.status in TERMINAL and not outcome.status:
                    outcome.status, outcome.finished, outcome.event = event.status, at, event
                    if event.status != "completed":
                        outcome.error = f"{event.status}: {event.error}"
            if not outcome.status:
                outcome.error = "the stream ended before a terminal event"
    except TimeoutError:
        outcome.error = "timeout"
    except (OSError, asyncio.IncompleteReadError, BenchError, msgspec.DecodeError) as error:
        outcome.error = f"{type(error).__name__}: {error}"


async def create_resumes(client: Client, count: int) -> list[str]:
    """``count`` résumés, each the sample with its own name (distinct Typst inputs)."""
    resume = sample_resume()
    gate = asyncio.Semaphore(8)

    async def create(index: int) -> str:
        body = msgspec.json.encode(
            {"title": f"Bench {index}", "content": variant(resume, index), "template": "classic"}
        )
        async with gate:
            response = await client.request("POST", "/api/resumes", body)
        if response.status != 201:  # noqa: PLR2004
            raise HttpError(
                f"POST /api/resumes answered {response.status}: {response.body[:200]!r}"
            )
        return decode_resume(response.body).id

    return list(await asyncio.gather(*(create(i) for i in range(count))))


# -- phases ------------------------------------------------------------------------------------


@dataclass
class Phase:
    """One load phase: what was offered, what came back, and the CPU it cost."""

    config: str
    name: str
    rate: float
    outcomes: list[Outcome]
    started: float
    arrivals_end: float
    cpu: dict[str, float]
    counts: dict[str, float]
    max_lateness: float
    clock_offset: float  # wall clock minus monotonic clock, to compare with server stamps
    window: tuple[float, float] | None = None

    @property
    def completed(self) -> list[Outcome]:
        """The exports that completed without error."""
        return [o for o in self.outcomes if o.ok]

    @property
    def errors(self) -> Counter[str]:
        """Failed exports by reason."""
        return Counter((o.error or o.status).split(":")[0] for o in self.outcomes if not o.ok)

    @property
    def latency(self) -> Latency:
        """From the scheduled arrival to the terminal event, completed exports only."""
        return Latency.of_seconds([o.finished - o.scheduled for o in self.completed])

    @property
    def throughput(self) -> float:
        """Completions per second: inside ``window`` if set (saturation), else overall."""
        done = sorted(o.finished for o in self.completed)
        if self.window is not None:
            low, high = self.window
            inside = [t for t in done if low <= t <= high]
            return len(inside) / (high - low) if high > low else 0.0
        if len(done) < 2:  # noqa: PLR2004
            return float("nan")
        return len(done) / (done[-1] - self.started)

    def stage_medians(self) -> dict[str, float]:
        """Median milliseconds of each stage: POST answered, waiting in the queue (server
        stamps), in the worker (start to completed, server stamps), completed to the
        client's receipt of the event.
        """
        accept, queue, work, notify = [], [], [], []
        for o in self.completed:
            e = o.event
            if e is None or not (e.created_at and e.started_at and e.completed_at):
                continue
            accept.append(o.accepted - o.scheduled)
            queue.append((e.started_at - e.created_at).total_seconds())
            work.append((e.completed_at - e.started_at).total_seconds())
            notify.append(o.finished + self.clock_offset - e.completed_at.timestamp())
        return {
            name: sorted(values)[len(values) // 2] * MS if values else float("nan")
            for name, values in (
                ("accept", accept),
                ("queue", queue),
                ("work", work),
                ("notify", notify),
            )
        }

    def per_export(self, prefix: str) -> float:
        """Commands per completed export of one data server (``redis:`` or ``mongo:``)."""
        done = len(self.completed)
        total = sum(v for k, v in self.counts.items() if k.startswith(prefix))
        return total / done if done else float("nan")

    def cpu_ms_per_export(self, *names: str) -> float:
        """CPU milliseconds per completed export of the named processes together."""
        done = len(self.completed)
        return sum(self.cpu.get(n, 0.0) for n in names) / done * MS if done else float("nan")


async def open_loop(
    stack: Stack,
    client: Client,
    resumes: list[str],
    *,
    name: str,
    rate: float,
    count: int,
    meter: CpuMeter | None = None,
) -> Phase:
    """``count`` exports arriving every ``1/rate`` seconds, then wait for all of them. A
    measured phase (one with a ``meter``) first waits a little for the machine to be quiet.
    """
    outcomes: list[Outcome] = []
    tasks: list[asyncio.Task[None]] = []
    offset = time.time() - time.monotonic()
    lateness = 0.0
    if meter is not None:
        await asyncio.to_thread(wait_for_quiet, QUIET_WAIT)
        meter.start()
    started = time.monotonic() + 0.01
    for i in range(count):
        at = started + i / rate
        delay = at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        lateness = max(lateness, time.monotonic() - at)
        outcome = Outcome(scheduled=at)
        outcomes.append(outcome)
        tasks.append(asyncio.create_task(one_export(client, resumes[i % len(resumes)], outcome)))
    arrivals_end = time.monotonic()
    await asyncio.gather(*tasks)
    cpu = meter.stop() if meter is not None else {}
    counts = dict(meter.counts) if meter is not None else {}
    stack.check_alive()
    return Phase(
        config=stack.config.label,
        name=name,
        rate=rate,
        outcomes=outcomes,
        started=started,
        arrivals_end=arrivals_end,
        cpu=cpu,
        counts=counts,
        max_lateness=lateness,
        clock_offset=offset,
    )


@dataclass
class ConfigResult:
    """Every phase of one configuration, and its saturation throughput."""

    label: str
    saturation: float
    phases: list[Phase] = field(default_factory=list[Phase])
    notes: list[str] = field(default_factory=list[str])

    def phase(self, name: str) -> Phase | None:
        """The phase of that name, if it ran."""
        return next((p for p in self.phases if p.name == name), None)
