"""Open-loop load on a running Vitae: exports arrive at a fixed rate whatever the service's
progress, and each is followed to its end on its Server-Sent Events stream. Latency runs from
the moment an export was *scheduled* to arrive (a slow client cannot hide queueing) to the
receipt of its ``completed`` event.

Saturation: a burst estimates the capacity ``mu0``; exports then arrive at ``OVERLOAD`` times
that for half a phase, and the completions per second while a backlog is sure to exist (from
30 % of the phase to the last arrival) estimate it again; a full phase at ``REFINE`` times
that estimate gives the saturation throughput the same way. Then each fraction of it runs.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import measure
import msgspec
from measure import MS, ROOT, BenchError, CpuMeter, Latency, say, wait_for_quiet

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Coroutine
    from pathlib import Path

    from stack import Stack

SAMPLE = ROOT / "examples" / "jsonresume-sample.json"
TERMINAL = frozenset({"completed", "failed", "cancelled"})
EXPORT_TIMEOUT = 60.0  # seconds an export may take before it counts as an error
IDLE_REUSE = 2.0  # seconds; uvicorn closes keep-alive connections idle for 5
EVENT_SPLIT = re.compile(rb"\r?\n\r?\n")
OVERLOAD, REFINE, WINDOW_FROM, PROBE_RATE = 1.3, 1.15, 0.3, 200.0
WARMUP = 12  # exports at 10/s before a configuration is measured
# Processes py-spy records at 50 % load with --profile, besides the workers: the store too,
# so that its share of the CPU is explained, not only counted.
PROFILED = frozenset({"api", "mongoeco"})


def sample_resume() -> dict[str, Any]:
    """The canonical JSON Resume sample."""
    resume: dict[str, Any] = json.loads(SAMPLE.read_text(encoding="utf-8"))
    return resume


def variant(resume: dict[str, Any], index: int) -> dict[str, Any]:
    """The résumé with a numbered name: a distinct input for Typst's caches (same layout)."""
    basics = dict(resume.get("basics") or {})
    basics["name"] = f"{basics.get('name', 'Ada')} {index:05d}"
    return {**resume, "basics": basics}


def run[T](main: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on uvloop when installed (uvicorn's ``standard`` extra brings it)."""
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:
        return asyncio.run(main)
    return asyncio.run(main, loop_factory=uvloop.new_event_loop)


class EventData(msgspec.Struct, rename="camel"):
    """What the benchmarks read of an event's ``data``."""

    status: str
    id: str = ""
    version: int = 0
    stage: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    error: str | None = None


decode_event = msgspec.json.Decoder(EventData).decode


def parse_event(message: bytes) -> tuple[str, EventData] | None:
    """An SSE message's kind and data; None for a comment (heartbeat)."""
    kind, data = "", None
    for line in message.splitlines():
        if line.startswith(b"event:"):
            kind = line[6:].strip().decode()
        elif line.startswith(b"data:"):
            data = line[5:].strip()
    return None if data is None else (kind, decode_event(data))


# -- a small HTTP/1.1 client -------------------------------------------------------------------

type Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@dataclass
class Response:
    """A response head, with the body for plain responses."""

    status: int
    headers: dict[str, str]
    body: bytes = b""

    def json(self, expected: int) -> dict[str, Any]:
        """The JSON body of the expected answer; anything else stops the benchmark."""
        if self.status != expected:
            raise BenchError(f"the API answered {self.status}: {self.body[:300]!r}")
        return json.loads(self.body)


class Client:
    """HTTP/1.1 to one loopback port, reusing idle connections; a bearer token on every
    request except event streams, which carry their own token in ``eventsUrl``. Hand-written:
    httpx cost more client CPU, taken from the API (docs/sse-benchmark.md, *The client*).
    """

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.auth = f"Authorization: Bearer {token}\r\n"
        self._idle: list[tuple[Connection, float]] = []  # with the time each became idle

    async def _send(
        self, method: str, path: str, body: bytes | None
    ) -> tuple[Connection, Response]:
        """Send a request on an idle connection or a new one; the connection and the answer's
        head (the connection is closed if that fails).
        """
        conn: Connection | None = None
        while self._idle and conn is None:
            candidate, since = self._idle.pop()
            if time.monotonic() - since < IDLE_REUSE and not candidate[0].at_eof():
                conn = candidate
            else:
                candidate[1].close()
        if conn is None:
            conn = await asyncio.open_connection("127.0.0.1", self.port, limit=1 << 20)
        reader, writer = conn
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
        if "token=" not in path:
            head += self.auth
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        try:
            writer.write((head + "\r\n").encode() + (body or b""))
            lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        except BaseException:
            writer.close()
            raise
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])
        }
        return (reader, writer), Response(int(lines[0].split(" ", 2)[1]), headers)

    def _release(self, conn: Connection, response: Response) -> None:
        if response.headers.get("connection", "").lower() == "close":
            conn[1].close()
        else:
            self._idle.append((conn, time.monotonic()))

    def close(self) -> None:
        """Close every idle connection."""
        while self._idle:
            self._idle.pop()[0][1].close()

    @staticmethod
    async def chunks(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
        """The chunks of a chunked body, to its end."""
        while size := int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16):
            yield (await reader.readexactly(size + 2))[:-2]
        await reader.readuntil(b"\r\n")

    async def request(self, method: str, path: str, body: object = None) -> Response:
        """A plain request (``body`` sent as JSON); the whole answer is read."""
        encoded = None if body is None else msgspec.json.encode(body)
        (reader, writer), response = await self._send(method, path, encoded)
        try:
            if response.headers.get("transfer-encoding", "").lower() == "chunked":
                response.body = b"".join([c async for c in self.chunks(reader)])
            else:
                length = int(response.headers.get("content-length", "0"))
                response.body = await reader.readexactly(length)
        except BaseException:
            writer.close()
            raise
        self._release((reader, writer), response)
        return response

    async def events(self, path: str) -> AsyncIterator[tuple[str, EventData, float]]:
        """An SSE stream's events (kind, data, monotonic time of receipt) until the server ends
        it (read to its end, so that the connection can serve another request).
        """
        (reader, writer), response = await self._send("GET", path, None)
        try:
            if response.status != 200:
                raise BenchError(f"GET events answered {response.status}")  # noqa: TRY301
            pending = b""
            async for chunk in self.chunks(reader):
                at = time.monotonic()
                *messages, pending = EVENT_SPLIT.split(pending + chunk)
                for event in filter(None, map(parse_event, messages)):
                    yield *event, at
        except BaseException:
            writer.close()
            raise
        self._release((reader, writer), response)


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
    body = {"resumeId": resume_id, "template": "classic", "paperSize": "a4"}
    try:
        async with asyncio.timeout(EXPORT_TIMEOUT):
            created = (await client.request("POST", "/api/exports", body)).json(202)
            outcome.accepted = time.monotonic()
            async for kind, event, at in client.events(created["eventsUrl"]):
                if kind == "status" and event.status in TERMINAL and not outcome.status:
                    outcome.status, outcome.finished, outcome.event = event.status, at, event
                    if event.status != "completed":
                        outcome.error = f"{event.status}: {event.error}"
            if not outcome.status:
                outcome.error = "the stream ended before a terminal event"
    except TimeoutError:
        outcome.error = "timeout"
    except BenchError as error:
        outcome.error = str(error)
    except (OSError, asyncio.IncompleteReadError, msgspec.DecodeError) as error:
        outcome.error = f"{type(error).__name__}: {error}"


async def create_resumes(client: Client, count: int) -> list[str]:
    """``count`` résumés, each the sample with its own name (distinct Typst inputs)."""
    resume, gate = sample_resume(), asyncio.Semaphore(8)

    async def create(index: int) -> str:
        body = {"title": f"Bench {index}", "content": variant(resume, index), "template": "classic"}
        async with gate:
            return (await client.request("POST", "/api/resumes", body)).json(201)["id"]

    return list(await asyncio.gather(*(create(i) for i in range(count))))


@dataclass
class Phase:
    """One load phase: what was offered, what came back, and the CPU it cost."""

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
            return sum(low <= t <= high for t in done) / (high - low) if high > low else 0.0
        return len(done) / (done[-1] - self.started) if len(done) > 1 else float("nan")

    def stage_medians(self) -> dict[str, float]:
        """Median ms of each stage: POST answered, queued and in the worker (server stamps),
        completed to the client's receipt of the event.
        """
        stages: dict[str, list[float]] = {"accept": [], "queue": [], "work": [], "notify": []}
        for o in self.completed:
            e = o.event
            if e is None or not (e.created_at and e.started_at and e.completed_at):
                continue
            stages["accept"].append(o.accepted - o.scheduled)
            stages["queue"].append((e.started_at - e.created_at).total_seconds())
            stages["work"].append((e.completed_at - e.started_at).total_seconds())
            stages["notify"].append(o.finished + self.clock_offset - e.completed_at.timestamp())
        return {name: Latency.of_seconds(values).p50 for name, values in stages.items()}

    def per_export(self, prefix: str) -> float:
        """Commands per completed export of one data server (``redis:`` or ``mongo:``)."""
        total = sum(v for k, v in self.counts.items() if k.startswith(prefix))
        return total / len(self.completed) if self.completed else float("nan")

    def cpu_ms(self, *names: str) -> float:
        """CPU ms per completed export of the named readers together; a name ending in ``-``
        (``worker-``, ``render-``) stands for every reader it starts.
        """
        prefixes = tuple(n for n in names if n.endswith("-"))
        spent = sum(v for k, v in self.cpu.items() if k in names or k.startswith(prefixes))
        return spent / len(self.completed) * MS if self.completed else float("nan")


async def open_loop(
    stack: Stack, client: Client, resumes: list[str], name: str, rate: float, count: int,
    *, measured: bool = False,
) -> Phase:  # fmt: skip
    """``count`` exports arriving every ``1/rate`` seconds, then wait for all of them. A
    ``measured`` phase first waits a little for the machine to be quiet, and reads CPU and
    commands.
    """
    outcomes: list[Outcome] = []
    tasks: list[asyncio.Task[None]] = []
    meter = CpuMeter(stack.readers(), stack.counters) if measured else None
    if meter is not None:
        await asyncio.to_thread(wait_for_quiet)
        meter.start()
    offset, lateness = time.time() - time.monotonic(), 0.0
    started = time.monotonic() + 0.01
    for i in range(count):
        at = started + i / rate
        await asyncio.sleep(max(at - time.monotonic(), 0.0))
        lateness = max(lateness, time.monotonic() - at)
        outcomes.append(outcome := Outcome(scheduled=at))
        tasks.append(asyncio.create_task(one_export(client, resumes[i % len(resumes)], outcome)))
    arrivals_end = time.monotonic()
    await asyncio.gather(*tasks)
    cpu = meter.stop() if meter is not None else {}
    stack.check_alive()
    counts = meter.counts if meter is not None else {}
    return Phase(name, rate, outcomes, started, arrivals_end, cpu, counts, lateness, offset)


# -- one configuration: saturation, then fractions of it --------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    """How long and how hard to load a configuration."""

    duration: float  # seconds of arrivals per phase
    fractions: tuple[float, ...]  # of the saturation throughput
    pool: int = 100  # distinct résumés, cycled
    probe: int = 40


@dataclass
class ConfigResult:
    """Every phase of one configuration, and its saturation throughput."""

    label: str
    saturation: float
    phases: list[Phase] = field(default_factory=list[Phase])
    notes: list[str] = field(default_factory=list[str])
    profile: dict[str, list[tuple[str, float]]] = field(default_factory=dict[str, Any])


async def measure_stack(
    stack: Stack, plan: Plan, profile: Path | None = None, saturation: float | None = None
) -> ConfigResult:
    """Warm up, find the saturation throughput (unless given), then offer each fraction of
    it; with ``profile``, py-spy records the API and the workers during the 50 % phase.
    """
    client = Client(stack.port, stack.token)
    try:
        resumes = await create_resumes(client, plan.pool)
        await open_loop(stack, client, resumes, "warm-up", 10.0, WARMUP)
        if saturation is not None:
            result = ConfigResult(stack.config.label, saturation)
            await _fractions(stack, client, resumes, plan, result, profile)
            return result
        probe = await open_loop(stack, client, resumes, "probe", PROBE_RATE, plan.probe)
        rate, half = OVERLOAD * max(probe.throughput, 1.0), plan.duration / 2
        first = await open_loop(stack, client, resumes, "overload", rate, round(rate * half))
        first.window = (first.started + WINDOW_FROM * half, first.arrivals_end)
        rate = REFINE * (first.throughput or rate / OVERLOAD)
        count = round(rate * plan.duration)
        top = await open_loop(stack, client, resumes, "saturation", rate, count, measured=True)
        top.window = (top.started + WINDOW_FROM * plan.duration, top.arrivals_end)
        result = ConfigResult(stack.config.label, top.throughput, [top])
        arrived = sum(o.scheduled <= top.window[0] for o in top.outcomes)
        if arrived <= 1 + sum(o.ok and o.finished <= top.window[0] for o in top.outcomes):
            result.notes.append(f"{result.label}: no backlog, so saturation is a lower bound")
        say(f"    saturation {result.saturation:.1f} exports/s (offered {rate:.1f}/s)")
        await _fractions(stack, client, resumes, plan, result, profile)
        return result
    finally:
        client.close()


async def _fractions(
    stack: Stack, client: Client, resumes: list[str], plan: Plan, result: ConfigResult,
    profile: Path | None,
) -> None:  # fmt: skip
    """Each fraction of the saturation throughput, a measured phase each."""
    for fraction in plan.fractions:
        rate, name = fraction * result.saturation, f"{round(fraction * 100)}%"
        count = max(round(rate * plan.duration), 10)
        pids = stack.pids().items()
        profiled = {k: v for k, v in pids if k in PROFILED or k.startswith("worker")}
        spies = [] if profile is None or name != "50%" else measure.start_profile(
            profiled, count / rate, profile,
        )  # fmt: skip
        phase = await open_loop(stack, client, resumes, name, rate, count, measured=True)
        for spy in spies:
            spy.wait()
        if spies and profile is not None:
            result.profile = {p.name: measure.top_functions(p) for p in sorted(profile.iterdir())}  # noqa: ASYNC240
        result.phases.append(phase)
        lat = phase.latency
        say(
            f"    {name:>4} of saturation, {rate:5.1f}/s: p50 {lat.p50:6.1f} ms, "
            f"p95 {lat.p95:6.1f} ms, p99 {lat.p99:6.1f} ms, errors {sum(phase.errors.values())}"
        )
