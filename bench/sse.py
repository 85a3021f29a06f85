# ruff: noqa: INP001  (a script, not a package)
"""Server-Sent Events at scale: many concurrent streams on one ``vitae api`` process, exports
driven through one ``vitae worker``, and the delay from each event's publish on Redis to its
receipt by every client that follows it.

    uv run python bench/sse.py [--streams 1000] [--scenario dashboard|backlog] [...]

It starts its own embedded Valkey, MongoDB-wire store, API and worker on loopback, in a
temporary directory, and stops them all on exit, error or Ctrl-C. It asserts nothing on time:
it prints figures. docs/sse-benchmark.md explains the method and the results.

Scenarios (the worker starts only once every stream is open, so that each stream's first
event proves its subscription and the open figures are not mixed with export traffic):

- ``dashboard``: ``--streams`` dashboard streams (``GET /api/exports/events``) spread over
  ``--users`` users, open for the whole run; ``--exports`` exports at ``--rate`` per second,
  round-robin over the users, so each of an export's events reaches streams/users streams.
- ``backlog``: ``--exports`` exports queued before the worker starts, ``--streams`` per-export
  streams (``GET /api/exports/{id}/events``) spread over them, as browser tabs waiting on a
  backlog; then the worker drains the queue and every stream ends at its export's last event.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import msgspec
from pipeline_common import (
    SAMPLE,
    BenchError,
    cpu_seconds,
    machine_busy_seconds,
    percentile,
    rss_bytes,
    say,
)
from processes import Child, spawn_vitae, wait_for_text
from redis.asyncio import Redis

from vitae.cli import create_user
from vitae.embedded import (
    free_port,
    start_mongo,
    start_redis,
    wait_for_port,
)
from vitae.settings import settings_from_env

CLOCK = Path(__file__).with_name("publish_clock.py")
TERMINAL = frozenset({"completed", "failed", "cancelled"})
FD_MARGIN = 512  # descriptors beyond one per stream: servers, logs, libraries
MIB = 1024 * 1024


def now_ns() -> int:
    """One clock for every process on the machine: CLOCK_MONOTONIC."""
    return time.monotonic_ns()


# -- /proc readings ----------------------------------------------------------------------------


def run_delay(pid: int) -> float:
    """Seconds the process's main thread was ready to run but waited for a CPU
    (``/proc/<pid>/schedstat``): how much the machine's other work held it back.
    """
    return int(Path(f"/proc/{pid}/schedstat").read_text(encoding="ascii").split()[1]) / 1e9


def socket_inodes(pid: int) -> set[str]:
    """The inodes of a process's open sockets."""
    inodes: set[str] = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = str(fd.readlink())
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    return inodes


def connections_to(pid: int, port: int) -> int:
    """How many TCP connections a process holds to a local port (e.g. Valkey's)."""
    inodes = socket_inodes(pid)
    count = 0
    for row in Path("/proc/net/tcp").read_text(encoding="ascii").splitlines()[1:]:
        columns = row.split()
        remote_port = int(columns[2].rsplit(":", 1)[1], 16)
        if remote_port == port and columns[9] in inodes:
            count += 1
    return count


def open_fds(pid: int) -> int:
    """How many file descriptors a process has open."""
    return sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir())


def raise_fd_limit(streams: int) -> tuple[int, int, int]:
    """Raise this process's soft RLIMIT_NOFILE (inherited by the API it starts) to fit the
    streams; returns the old soft limit, the new one and the hard limit.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = streams + FD_MARGIN
    if soft >= needed:
        return soft, soft, hard
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise BenchError(
            f"{streams} streams need {needed} file descriptors; the hard limit is {hard}"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return soft, needed, hard


# -- statistics --------------------------------------------------------------------------------


def summary(values: list[float]) -> str:
    """``p50 p95 p99 max`` of a sample, in its own unit, aligned for a table."""
    ordered = sorted(values)
    cells = [percentile(ordered, q) for q in (50, 95, 99)] + [ordered[-1] if ordered else 0.0]
    return "".join(f"{cell:>9.1f}" for cell in cells) + f"   (n={len(ordered)})"


# -- child processes ---------------------------------------------------------------------------


# -- the publish clock -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Published:
    """An event as the publish clock saw it leave Redis."""

    at: int
    export: str
    user: str
    key: str
    stage: str


class PublishClock:
    """bench/publish_clock.py in its own process; a thread collects its lines."""

    def __init__(self, redis_url: str) -> None:
        process = subprocess.Popen(  # noqa: S603  (our own command line)
            [sys.executable, str(CLOCK), redis_url],
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        self.child = Child("publish clock", process)
        self.events: list[Published] = []
        self.ready = threading.Event()
        assert process.stdout is not None  # noqa: S101  (stdout=PIPE)
        threading.Thread(target=self._collect, args=(process.stdout,), daemon=True).start()

    def _collect(self, stdout: IO[bytes]) -> None:
        for raw in stdout:
            line = raw.decode()
            if line.startswith("ready"):
                self.ready.set()
                continue
            at, export, user, kind, version, stage = line.split()
            key = f"{export}|{kind}|{version}|{stage}"
            self.events.append(Published(int(at), export, user, key, stage))

    def since(self, start: int) -> list[Published]:
        """The events published from ``start`` (monotonic ns) on."""
        return [event for event in list(self.events) if event.at >= start]

    def terminal(self, export: str) -> Published | None:
        """The export's terminal event, once published."""
        for event in list(self.events):
            if event.export == export and event.stage in TERMINAL:
                return event
        return None


# -- SSE clients -------------------------------------------------------------------------------


class EventData(msgspec.Struct):
    """What the benchmark reads of an event's ``data``."""

    id: str
    version: int
    status: str
    stage: str | None = None


decode_data = msgspec.json.Decoder(EventData).decode


class Stream:
    """One SSE connection, raw asyncio streams, and when each event reached it."""

    __slots__ = (
        "connect_ns",
        "duplicates",
        "ended",
        "error",
        "headers_ns",
        "heartbeats",
        "path",
        "ready_ns",
        "received",
        "target",
    )

    def __init__(self, path: str, target: str) -> None:
        self.path = path
        self.target = target  # the user id (dashboard) or the export id it follows
        self.connect_ns = self.headers_ns = self.ready_ns = 0
        self.received: dict[str, int] = {}
        self.duplicates = self.heartbeats = 0
        self.error: str | None = None
        self.ended = False

    def record(self, message: bytes, at: int) -> None:
        """Note one SSE message: a heartbeat comment, or an event under its key."""
        kind = data = None
        for line in message.split(b"\r\n"):
            if line.startswith(b"data: "):
                data = line[6:]
            elif line.startswith(b"event: "):
                kind = line[7:].decode()
            elif line.startswith(b":"):
                self.heartbeats += 1
        if data is None:
            return
        event = decode_data(data)
        key = f"{event.id}|{kind}|{event.version}|{event.stage or event.status}"
        if key in self.received:
            self.duplicates += 1
        else:
            self.received[key] = at
        self.ready_ns = self.ready_ns or at


async def open_stream(
    stream: Stream, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int
) -> None:
    """Send the GET and check the response head: 200, and a chunked body."""
    writer.write(
        f"GET {stream.path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Accept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n".encode()
    )
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    status = head.split(" ", 2)[1]
    if status != "200" or "transfer-encoding: chunked" not in head.lower():
        raise BenchError(f"GET {stream.path.split('?')[0]} answered {head.splitlines()[0]}")


async def read_events(stream: Stream, reader: asyncio.StreamReader) -> None:
    """Read chunks until the server ends the stream; stamp each on arrival."""
    pending = b""
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
        if size == 0:
            stream.ended = True
            return
        chunk = await reader.readexactly(size + 2)
        at = now_ns()
        *messages, pending = (pending + chunk[:-2]).split(b"\r\n\r\n")
        for message in messages:
            stream.record(message, at)


async def follow(stream: Stream, port: int, gate: asyncio.Semaphore) -> None:
    """Open one stream (at most ``gate`` opening at once) and read it until it ends."""
    writer: asyncio.StreamWriter | None = None
    try:
        async with gate:
            stream.connect_ns = now_ns()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            await open_stream(stream, reader, writer, port)
            stream.headers_ns = now_ns()
        await read_events(stream, reader)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, BenchError) as error:
        stream.error = f"{type(error).__name__}: {error}"
    finally:
        if writer is not None:
            writer.close()


# -- measurement helpers -----------------------------------------------------------------------


@dataclass
class Meter:
    """CPU seconds of every process taking part, per phase; of everything else on the machine
    (``others``: other sessions' work skews a run); and for the API's and the benchmark's
    event loops, the seconds they waited for a CPU (``... wait``).
    """

    pids: dict[str, int]
    phases: list[tuple[str, float, dict[str, float]]] = field(default_factory=list)
    waited: tuple[str, ...] = ("api", "bench")

    def read(self) -> dict[str, float]:
        """CPU seconds so far, by process, and the waits."""
        spent = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        spent["others"] = machine_busy_seconds() - sum(spent.values())
        return spent | {f"{name} wait": run_delay(self.pids[name]) for name in self.waited}

    @contextlib.contextmanager
    def phase(self, name: str) -> Generator[None]:
        """Measure the block as one phase."""
        before, start = self.read(), time.monotonic()
        try:
            yield
        finally:
            after = self.read()
            # A process started during the phase (the worker) spent all its CPU in it.
            spent = {k: after[k] - before.get(k, 0.0) for k in after}
            self.phases.append((name, time.monotonic() - start, spent))

    def table(self) -> list[str]:
        """The phases as rows: wall time, then CPU seconds per process."""
        names = [*self.pids, "others", *(f"{name} wait" for name in self.waited)]
        rows = [f"  {'phase':<10}{'wall s':>8}" + "".join(f"{n:>11}" for n in names)]
        for phase, wall, spent in self.phases:
            cells = "".join(f"{spent.get(n, 0.0):>11.2f}" for n in names)
            rows.append(f"  {phase:<10}{wall:>8.1f}{cells}")
        walls = sum(wall for _, wall, _ in self.phases)
        totals = "".join(f"{sum(s.get(n, 0.0) for *_, s in self.phases):>11.2f}" for n in names)
        rows.append(f"  {'total':<10}{walls:>8.1f}{totals}")
        return rows


async def watch_lag(samples: list[float], period: float = 0.01) -> None:
    """The benchmark's own event-loop lag: how late a 10 ms sleep wakes, in ms."""
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(period)
        samples.append((loop.time() - start - period) * 1000)


@dataclass
class Deliveries:
    """Each published event against each stream that should have received it."""

    delays: dict[str, list[float]] = field(default_factory=dict)  # ms, by stage
    spreads: list[float] = field(default_factory=list)  # ms, first to last stream, per event
    expected: int = 0
    delivered: int = 0
    events: int = 0
    missed: Stream | None = None  # one stream that missed an event, to show what it got


def match(published: list[Published], watchers: dict[str, list[Stream]]) -> Deliveries:
    """Pair every published event with its receipt on each stream that follows it."""
    result = Deliveries()
    for event in published:
        streams = watchers.get(event.user, []) + watchers.get(event.export, [])
        if not streams:
            continue
        result.events += 1
        result.expected += len(streams)
        arrivals = [s.received[event.key] for s in streams if event.key in s.received]
        result.delivered += len(arrivals)
        if len(arrivals) < len(streams) and result.missed is None:
            result.missed = next(s for s in streams if event.key not in s.received)
        result.delays.setdefault(event.stage, []).extend((t - event.at) / 1e6 for t in arrivals)
        if arrivals:
            result.spreads.append((max(arrivals) - min(arrivals)) / 1e6)
    return result


# -- the benchmark -----------------------------------------------------------------------------


@dataclass
class Account:
    """A benchmark user: bearer headers, a résumé, the dashboard stream's tokened URL."""

    user_id: str
    headers: dict[str, str]
    resume_id: str
    events_url: str


def check(response: httpx.Response, status: int) -> dict[str, Any]:
    """The JSON body of an expected answer; anything else stops the benchmark."""
    if response.status_code != status:
        raise BenchError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}: {response.text[:300]}"
        )
    body: dict[str, Any] = response.json()
    return body


class Bench:
    """Starts the service, opens the streams, drives exports and reports."""

    def __init__(
        self, args: argparse.Namespace, workdir: Path, cleanup: contextlib.ExitStack
    ) -> None:
        self.args = args
        self.workdir = workdir
        self.cleanup = cleanup
        self.port = free_port()
        valkey = start_redis()
        self.redis = self._keep(Child.of_server(valkey))
        self.redis_url, self.redis_port = valkey.url, valkey.port
        store = start_mongo(path=workdir / "mongo.sqlite3")
        self.mongo = self._keep(Child.of_server(store))
        self.mongo_port = store.port
        self.env = self._environment(store.url)
        self.clock = PublishClock(self.redis_url)
        self._keep(self.clock.child)
        self.api = self._keep(spawn_vitae("api", ["api"], env=self.env, cwd=workdir, logs=workdir))
        try:
            wait_for_port(self.port, self.api.process, timeout=60)
        except (RuntimeError, TimeoutError) as error:
            raise BenchError(f"the API did not start: {error}\n{self.api.tail()}") from None
        if not self.clock.ready.wait(20):
            raise BenchError("the publish clock did not subscribe")
        self.worker: Child | None = None
        self.meter = Meter(
            {
                "api": self.api.pid,
                "valkey": self.redis.pid,
                "mongo": self.mongo.pid,
                "bench": os.getpid(),
                "clock": self.clock.child.pid,
            }
        )

    def _keep(self, child: Child) -> Child:
        self.cleanup.callback(child.stop)
        return child

    def _environment(self, mongodb_url: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VITAE_")}
        return env | {
            "PYTHONUNBUFFERED": "1",
            "VITAE_REDIS_URL": self.redis_url,
            "VITAE_MONGODB_URL": mongodb_url,
            "VITAE_MONGODB_DATABASE": "vitae_bench",
            "VITAE_JWT_SECRET": secrets.token_urlsafe(48),
            "VITAE_HOST": "127.0.0.1",
            "VITAE_PORT": str(self.port),
            "VITAE_DATA_DIR": str(self.workdir / "data"),
            "VITAE_STORAGE": "local",
            "VITAE_SSE_HEARTBEAT": str(self.args.heartbeat),
            "VITAE_EXPORTS_PER_MINUTE": "0",  # the per-user limit would refuse the drive
        }

    async def start_worker(self) -> None:
        """Start ``vitae worker`` and wait until it says it is ready."""
        self.worker = self._keep(
            spawn_vitae("worker", ["worker"], env=self.env, cwd=self.workdir, logs=self.workdir)
        )
        self.meter.pids["worker"] = self.worker.pid
        await asyncio.to_thread(wait_for_text, self.worker, "worker ready", 60)

    async def accounts(self, http: httpx.AsyncClient) -> list[Account]:
        """Users (through ``vitae.cli.create_user``), a résumé each, their dashboard URLs."""
        settings = settings_from_env(self.env)
        content = json.loads(SAMPLE.read_text(encoding="utf-8"))
        accounts: list[Account] = []
        for number in range(self.args.users):
            user_id, token = await create_user(settings, f"bench{number}@vitae.test", "Bench", 0)
            headers = {"Authorization": f"Bearer {token}"}
            resume = check(
                await http.post(
                    "/api/resumes", json={"title": "Bench", "content": content}, headers=headers
                ),
                201,
            )
            me = check(await http.get("/api/users/me", headers=headers), 200)
            accounts.append(Account(user_id, headers, resume["id"], me["eventsUrl"]))
        return accounts

    async def request_export(
        self, http: httpx.AsyncClient, account: Account, durations: list[float] | None = None
    ) -> dict[str, Any]:
        """POST an export of the account's résumé: its id and ``eventsUrl``; how long the
        API took to answer goes to ``durations`` (ms).
        """
        start = time.monotonic()
        response = await http.post(
            "/api/exports", json={"resumeId": account.resume_id}, headers=account.headers
        )
        if durations is not None:
            durations.append((time.monotonic() - start) * 1000)
        return check(response, 202)

    def plan(self, accounts: list[Account], exports: list[dict[str, Any]]) -> list[Stream]:
        """Which stream follows what: dashboards round-robin over users, or per-export
        streams round-robin over the queued exports.
        """
        count = self.args.streams
        if self.args.scenario == "dashboard":
            return [
                Stream(accounts[i % len(accounts)].events_url, accounts[i % len(accounts)].user_id)
                for i in range(count)
            ]
        return [
            Stream(exports[i % len(exports)]["eventsUrl"], exports[i % len(exports)]["exportId"])
            for i in range(count)
        ]

    async def wait_for(self, what: str, done: Callable[[], bool], within: float) -> None:
        """Poll ``done()`` every 50 ms for up to ``within`` seconds."""
        start = time.monotonic()
        while not done():
            if time.monotonic() - start > within:
                say(f"  ! gave up waiting for {what} after {within:.0f} s")
                return
            await asyncio.sleep(0.05)

    async def subscriptions(self) -> int:
        """How many ``vitae:*`` channels Valkey has a (non-pattern) subscriber on."""
        client = Redis.from_url(self.redis_url)
        try:
            return len(await client.pubsub_channels("vitae:*"))
        finally:
            await client.aclose()

    async def idle(self, name: str, streams: list[Stream]) -> None:
        """Let ``--idle`` seconds pass with nothing to deliver, as one phase."""
        beats = sum(s.heartbeats for s in streams)
        with self.meter.phase(name):
            await asyncio.sleep(self.args.idle)
        cpu = self.meter.phases[-1][2]["api"]
        say(
            f"  {name}: {self.args.idle:.0f} s, API CPU {cpu:.2f} s "
            f"({100 * cpu / self.args.idle:.0f}% of a core), heartbeats received "
            f"{sum(s.heartbeats for s in streams) - beats}"
        )

    async def run(self) -> None:
        """Every phase, in order; streams are closed before returning, even on error."""
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}", timeout=60) as http:
            accounts = await self.accounts(http)
            parked_count = (
                self.args.users if self.args.scenario == "dashboard" else self.args.exports
            )
            parked = [
                await self.request_export(http, accounts[i % len(accounts)])
                for i in range(parked_count)
            ]
            streams = self.plan(accounts, parked)
            tasks: list[asyncio.Task[None]] = []
            try:
                await self.measure(http, accounts, parked, streams, tasks)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    async def measure(
        self,
        http: httpx.AsyncClient,
        accounts: list[Account],
        parked: list[dict[str, Any]],
        streams: list[Stream],
        tasks: list[asyncio.Task[None]],
    ) -> None:
        """Open, idle, drive, close: the phases that print figures."""
        api = self.api.pid
        say(f"API pid {api}; {len(parked)} export(s) queued before the worker starts")
        await self.idle("baseline", [])
        rss_before, fds_before = rss_bytes(api), open_fds(api)
        valkey_before = connections_to(api, self.redis_port)
        mongo_before = connections_to(api, self.mongo_port)

        say(f"opening {len(streams)} streams ({self.args.open_concurrency} at a time)…")
        gate = asyncio.Semaphore(self.args.open_concurrency)
        with self.meter.phase("open"):
            start = now_ns()
            tasks.extend(asyncio.create_task(follow(s, self.port, gate)) for s in streams)
            await self.wait_for(
                "every stream's first event",
                lambda: all(s.ready_ns or s.error for s in streams),
                self.args.open_timeout,
            )
        ready = [s for s in streams if s.ready_ns]
        self.report_open(streams, start)
        rss_open = rss_bytes(api)
        opened = max(len(ready), 1)
        say(
            f"  API RSS {rss_before / MIB:.1f} MiB → {rss_open / MIB:.1f} MiB: "
            f"+{(rss_open - rss_before) / MIB:.1f} MiB, "
            f"{(rss_open - rss_before) / opened / 1024:.1f} KiB per open stream"
        )
        say(
            f"  API open fds {fds_before} → {open_fds(api)}; API connections to Valkey "
            f"{valkey_before} → {connections_to(api, self.redis_port)}, to the store "
            f"{mongo_before} → {connections_to(api, self.mongo_port)}; "
            f"Redis channels subscribed: {await self.subscriptions()}"
        )
        await self.idle("idle", streams)

        watchers: dict[str, list[Stream]] = {}
        for stream in ready:
            watchers.setdefault(stream.target, []).append(stream)
        if self.args.scenario == "dashboard":
            measured = await self.drive_dashboard(http, accounts, parked, watchers)
        else:
            measured = await self.drive_backlog(parked, watchers)
        self.report_deliveries(measured, watchers)
        say(f"  API RSS after the drive: {rss_bytes(api) / MIB:.1f} MiB")
        await self.close(streams, tasks, rss_before, fds_before)

    async def start_worker_and_settle(
        self, exports: list[str], watchers: dict[str, list[Stream]]
    ) -> None:
        """Start the worker and wait until each export's last event reached its streams."""
        await self.start_worker()
        await self.wait_for(
            "the last events",
            lambda: all(self.delivered_to_all(e, watchers) for e in exports),
            self.args.settle,
        )

    def delivered_to_all(self, export: str, watchers: dict[str, list[Stream]]) -> bool:
        """Whether the export's terminal event reached every stream that follows it."""
        last = self.clock.terminal(export)
        if last is None:
            return False
        streams = watchers.get(last.user, []) + watchers.get(export, [])
        return all(last.key in s.received or s.error for s in streams)

    async def drive_dashboard(
        self,
        http: httpx.AsyncClient,
        accounts: list[Account],
        parked: list[dict[str, Any]],
        watchers: dict[str, list[Stream]],
    ) -> list[Published]:
        """Warm up on the parked exports, then ``--exports`` at ``--rate`` per second."""
        say("starting the worker; the parked exports warm it up…")
        with self.meter.phase("warm-up"):
            await self.start_worker_and_settle([p["exportId"] for p in parked], watchers)
        count, rate = self.args.exports, self.args.rate
        say(f"driving {count} exports at {rate:g}/s…")
        lag: list[float] = []
        with self.meter.phase("drive"):
            start = now_ns()
            watch = asyncio.create_task(watch_lag(lag))
            requests: list[asyncio.Task[dict[str, Any]]] = []
            durations: list[float] = []
            try:
                for number in range(count):
                    await asyncio.sleep(max(0.0, start / 1e9 + number / rate - time.monotonic()))
                    account = accounts[number % len(accounts)]
                    post = self.request_export(http, account, durations)
                    requests.append(asyncio.create_task(post))
                created = [r["exportId"] for r in await asyncio.gather(*requests)]
                await self.wait_for(
                    "the last events",
                    lambda: all(self.delivered_to_all(e, watchers) for e in created),
                    self.args.settle,
                )
            finally:
                watch.cancel()
        say(
            f"  client event-loop lag (ms): p99 {percentile(sorted(lag), 99):.1f}, "
            f"max {max(lag, default=0.0):.1f}"
        )
        say("  POST /api/exports answered in (ms)       p50      p95      p99      max")
        say("                                     " + summary(durations))
        return self.clock.since(start)

    async def drive_backlog(
        self, parked: list[dict[str, Any]], watchers: dict[str, list[Stream]]
    ) -> list[Published]:
        """Start the worker on the queued exports and follow them to their end."""
        say(f"starting the worker on {len(parked)} queued exports…")
        lag: list[float] = []
        with self.meter.phase("drain"):
            start = now_ns()
            watch = asyncio.create_task(watch_lag(lag))
            try:
                await self.start_worker_and_settle([p["exportId"] for p in parked], watchers)
            finally:
                watch.cancel()
        say(
            f"  client event-loop lag (ms): p99 {percentile(sorted(lag), 99):.1f}, "
            f"max {max(lag, default=0.0):.1f}"
        )
        return self.clock.since(start)

    async def close(
        self,
        streams: list[Stream],
        tasks: list[asyncio.Task[None]],
        rss_before: int,
        fds_before: int,
    ) -> None:
        """Close every client and see what the API gives back."""
        api = self.api.pid
        with self.meter.phase("close"):
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            left = await self.subscriptions()
            start = time.monotonic()
            while left and time.monotonic() - start < self.args.settle:
                await asyncio.sleep(0.1)
                left = await self.subscriptions()
            await asyncio.sleep(1)
        ended = sum(s.ended for s in streams)
        say(
            f"closed the clients ({ended} stream(s) had already been ended by the server); "
            f"Redis channels left {left} after {time.monotonic() - start:.1f} s; "
            f"API open fds {open_fds(api)} (before the streams {fds_before}); "
            f"API RSS {rss_bytes(api) / MIB:.1f} MiB (before the streams {rss_before / MIB:.1f})"
        )

    def final_report(self) -> None:
        """CPU by phase, and errors the service logged."""
        say("CPU seconds by phase:")
        for row in self.meter.table():
            say(row)
        for child in (self.api, self.worker):
            problems = child.log_problems() if child else []
            if child and problems:
                say(f"! {child.name} logged {len(problems)} error line(s), e.g. {problems[0]}")

    def report_open(self, streams: list[Stream], start: int) -> None:
        """Time to open, and what went wrong while opening."""
        ready = [s for s in streams if s.ready_ns]
        errors = [s.error for s in streams if s.error]
        headers = [s.headers_ns for s in streams if s.headers_ns]
        say(
            f"  {len(ready)} of {len(streams)} streams open; all response heads in "
            f"{(max(headers, default=start) - start) / 1e9:.2f} s, every first event in "
            f"{(max((s.ready_ns for s in ready), default=start) - start) / 1e9:.2f} s"
        )
        say("  per stream, connect → first event (ms):   p50      p95      p99      max")
        say(
            "                                     "
            + summary([(s.ready_ns - s.connect_ns) / 1e6 for s in ready])
        )
        if errors:
            say(f"  ! {len(errors)} stream(s) failed, e.g. {errors[0]}")

    def report_deliveries(
        self, published: list[Published], watchers: dict[str, list[Stream]]
    ) -> None:
        """Delay from publish to receipt, loss, duplicates, fan-out spread."""
        result = match(published, watchers)
        duplicates = sum(s.duplicates for streams in watchers.values() for s in streams)
        lost = result.expected - result.delivered
        say(
            f"  {result.events} events published, {result.expected} deliveries expected, "
            f"{result.delivered} delivered, {lost} lost, {duplicates} duplicate(s)"
        )
        _, wall, spent = self.meter.phases[-1]
        per = 1e6 / max(result.delivered, 1)
        say(
            f"  API CPU {spent['api']:.2f} s in {wall:.1f} s ({100 * spent['api'] / wall:.0f}% of "
            f"a core): {spent['api'] * per:.0f} µs per delivery; the benchmark's client "
            f"{spent['bench'] * per:.0f} µs per delivery"
        )
        stages = sorted(
            result.delays,
            key=lambda stage: min((e.at for e in published if e.stage == stage), default=0),
        )
        every = [d for stage in stages for d in result.delays[stage]]
        say("  delay publish → client (ms)        p50      p95      p99      max")
        say(f"    {'all events':<28}" + summary(every))
        for stage in stages:
            say(f"    {stage:<28}" + summary(result.delays[stage]))
        say(f"    {'fan-out spread per event':<28}" + summary(result.spreads))
        if result.missed is not None:
            self.report_missed(result.missed, published)

    @staticmethod
    def report_missed(stream: Stream, published: list[Published]) -> None:
        """What one stream that missed events received, against what was published."""
        got = sorted(stream.received, key=stream.received.__getitem__)
        sent = [e.key for e in published if stream.target in {e.export, e.user}]
        say(
            f"  ! e.g. a stream of {stream.target} received "
            f"{', '.join(k.split('|', 1)[1] for k in got)}; published after the start: "
            f"{', '.join(k.split('|', 1)[1] for k in sent)}"
        )


# -- entry point -------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="bench/sse.py", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    add = parser.add_argument
    add("--streams", type=int, default=1000, help="concurrent SSE streams (default 1000)")
    add("--scenario", choices=["dashboard", "backlog"], default="dashboard")
    add("--users", type=int, default=4, help="users whose dashboards share the streams (4)")
    add("--exports", type=int, default=60, help="exports to drive (default 60)")
    add("--rate", type=float, default=2.0, help="dashboard: exports requested per second (2)")
    add("--heartbeat", type=float, default=15.0, help="VITAE_SSE_HEARTBEAT of the API (15)")
    add("--idle", type=float, default=5.0, help="seconds measured idle, before and after opening")
    add("--open-concurrency", type=int, default=100, help="streams being opened at once (100)")
    add("--open-timeout", type=float, default=120.0, help="seconds to open every stream (120)")
    add("--settle", type=float, default=60.0, help="seconds to wait for the last events (60)")
    add("--duration", type=float, default=900.0, help="deadline of the whole run, s (900)")
    add("--keep", action="store_true", help="keep the work directory and its logs")
    return parser.parse_args(argv)


def describe_machine(limits: tuple[int, int, int], args: argparse.Namespace) -> None:
    """What the figures were measured on."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    say(
        f"machine: {os.cpu_count()} CPU(s) ({cpu}), {memory:.1f} GiB, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}"
    )
    old, new, hard = limits
    say(
        f"RLIMIT_NOFILE: soft {old}{f' → {new}' if new != old else ''} (hard {hard}); "
        f"{args.streams} streams need ≥ {args.streams + FD_MARGIN} here and in the API"
    )
    say(
        f"scenario {args.scenario}: {args.streams} streams, {args.users} user(s), "
        f"{args.exports} exports"
        + (f" at {args.rate:g}/s" if args.scenario == "dashboard" else "")
        + f", heartbeat {args.heartbeat:g} s"
    )


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's, as the API itself runs on: it keeps the client's own overhead small."""
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:
        return None
    return uvloop.new_event_loop


async def bounded(bench: Bench, duration: float) -> None:
    """The run, within its deadline."""
    async with asyncio.timeout(duration):
        await bench.run()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; every process it started is stopped whatever happens."""
    args = parse_args(argv)
    limits = raise_fd_limit(args.streams)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # unwind as on Ctrl-C
    describe_machine(limits, args)
    workdir = Path(tempfile.mkdtemp(prefix="vitae-bench-"))
    try:
        with contextlib.ExitStack() as cleanup:
            bench = Bench(args, workdir, cleanup)
            try:
                with asyncio.Runner(loop_factory=loop_factory()) as runner:
                    runner.run(bounded(bench, args.duration))
            except TimeoutError:
                say(f"benchmark stopped: the --duration deadline ({args.duration:g} s) passed")
                return 1
            except (BenchError, OSError) as error:
                say(f"benchmark failed: {error}\n--- api log (end) ---\n{bench.api.tail()}")
                return 1
            bench.final_report()
    except BenchError as error:
        say(f"benchmark failed: {error}")
        return 1
    except KeyboardInterrupt:
        say("interrupted; every process started was stopped")
        return 130
    finally:
        if args.keep:
            say(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
