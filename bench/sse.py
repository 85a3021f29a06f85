"""`just bench-sse`: many dashboard streams (``GET /api/exports/events``) on one ``vitae api``
process, exports driven through one worker, and the delay from each event's publish on Valkey
to its receipt by every stream that follows it. docs/sse-benchmark.md explains the method.

The worker starts once every stream is open: one export per user queued before proves each
stream's subscription. The publish clock is this script with ``--clock URL``, in a process of
its own, on the streams' clock (``time.monotonic_ns``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import redis
from load import TERMINAL, Client, run, sample_resume
from measure import MB, BenchError, CpuMeter, Latency, cpu_seconds, rss_bytes, say, supervise
from processes import Child, Children
from report import command_line, machine
from stack import StackConfig, start_stack

from vitae.cli import create_user
from vitae.settings import settings_from_env

if TYPE_CHECKING:
    from stack import Stack

# The export events' channels (one per user); other ``vitae:`` channels (the workers' webhook
# cache announcements) are not the streams'.
EXPORT_CHANNELS = "vitae:users:*"
FD_MARGIN = 512  # descriptors beyond one per stream: servers, logs, libraries


def clock(url: str) -> None:
    """The publish clock: one line per event, the first time it is seen on any channel
    (each is published once, on its owner's channel):
    ``<monotonic ns> <user id> <export id>|<kind>|<version>|<stage or status>``.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the benchmark stops it, after its streams
    pubsub = redis.Redis.from_url(url).pubsub()
    pubsub.psubscribe(EXPORT_CHANNELS)
    seen: set[str] = set()
    for message in pubsub.listen():
        at = time.monotonic_ns()
        if message["type"] == "psubscribe":
            sys.stdout.write("ready\n")
        elif message["type"] == "pmessage":
            event = json.loads(message["data"] or "{}")
            export = event["export"]
            stage = event.get("stage") or export["status"]
            key = f"{export['id']}|{event['kind']}|{export['version']}|{stage}"
            if key not in seen:
                seen.add(key)
                sys.stdout.write(f"{at} {export['user_id']} {key}\n")
        sys.stdout.flush()


@dataclass
class Published:
    """Every event the clock saw: ``(monotonic s, user, key)``."""

    events: list[tuple[float, str, str]] = field(default_factory=list[tuple[float, str, str]])
    ready: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def start(cls, url: str, children: Children) -> Published:
        """The clock in a process of its own, once it has subscribed."""
        command = [sys.executable, __file__, "--clock", url]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, start_new_session=True)
        children.add(Child("publish clock", process))
        published = cls()
        threading.Thread(target=published.collect, args=(process,), daemon=True).start()
        if not published.ready.wait(20):
            raise BenchError("the publish clock did not subscribe")
        return published

    def collect(self, process: subprocess.Popen[bytes]) -> None:
        """Read the clock's lines (in a thread)."""
        for raw in process.stdout or []:
            if raw.startswith(b"ready"):
                self.ready.set()
            else:
                at, user, key = raw.decode().split()
                self.events.append((int(at) / 1e9, user, key))


@dataclass
class Stream:
    """One dashboard stream, and when each event reached it."""

    user: str
    received: dict[str, float] = field(default_factory=dict[str, float])
    ended: set[str] = field(default_factory=set[str])  # exports whose last event came
    connect: float = 0.0
    ready: float = 0.0
    duplicates: int = 0
    error: str = ""


async def follow(stream: Stream, client: Client, path: str, gate: asyncio.Semaphore) -> None:
    """Open the stream (at most ``gate`` opening at once, until the first event) and read it."""
    await gate.acquire()
    stream.connect = time.monotonic()
    try:
        async for kind, event, at in client.events(path):
            key = f"{event.id}|{kind}|{event.version}|{event.stage or event.status}"
            stream.duplicates += key in stream.received
            stream.received.setdefault(key, at)
            if event.status in TERMINAL and kind == "status":
                stream.ended.add(event.id)
            if not stream.ready:
                stream.ready = at
                gate.release()
    except (OSError, asyncio.IncompleteReadError, BenchError) as error:
        stream.error = f"{type(error).__name__}: {error}"
    finally:
        if not stream.ready:
            gate.release()


async def wait_for(what: str, done: Callable[[], bool], within: float) -> None:
    """Poll ``done()`` every 50 ms for up to ``within`` seconds."""
    deadline = time.monotonic() + within
    while not done():
        if time.monotonic() > deadline:
            say(f"  ! gave up waiting for {what} after {within:.0f} s")
            return
        await asyncio.sleep(0.05)


@dataclass
class Accounts:
    """The users, a client and a résumé each, their dashboards' URLs and their exports."""

    stack: Stack
    clients: list[tuple[str, Client, str, str]] = field(default_factory=list)  # pyright: ignore[reportUnknownVariableType]
    owner: dict[str, str] = field(default_factory=dict[str, str])

    async def export(self, number: int) -> str:
        """Request an export for the next user, round-robin."""
        user, client, resume, _ = self.clients[number % len(self.clients)]
        answer = await client.request("POST", "/api/exports", {"resumeId": resume})
        self.owner[created := answer.json(202)["exportId"]] = user
        return created

    def delivered(self, ids: list[str], streams: list[Stream]) -> bool:
        """Whether each export's last event reached every stream of its owner."""
        by = self.owner
        return all(s.error or e in s.ended for e in ids for s in streams if s.user == by[e])


async def start(args: argparse.Namespace, children: Children, workdir: Path) -> Accounts:
    """The service without its worker, the publish clock, and the users."""
    env = {"VITAE_SSE_HEARTBEAT": str(args.heartbeat)}
    config = StackConfig()
    stack = await asyncio.to_thread(start_stack, config, children, workdir, workers=False, env=env)
    settings, accounts = settings_from_env(stack.env), Accounts(stack)
    for number in range(args.users):
        user, token = await create_user(settings, f"sse{number}@vitae.test", "Bench", 0)
        client = Client(stack.port, token)
        body = {"title": "Bench", "content": sample_resume()}
        resume = (await client.request("POST", "/api/resumes", body)).json(201)["id"]
        path = (await client.request("GET", "/api/users/me")).json(200)["eventsUrl"]
        accounts.clients.append((str(user), client, resume, path))
    return accounts


def report_deliveries(events: list[tuple[float, str, str]], streams: list[Stream]) -> int:
    """Deliveries expected and made, and the delay from publish to receipt by stage."""
    delays: dict[str, list[float]] = {}
    spreads, expected, got = [], 0, 0
    for at, user, key in events:
        arrivals = [s.received[key] for s in streams if s.user == user and key in s.received]
        expected, got = expected + sum(s.user == user for s in streams), got + len(arrivals)
        delays.setdefault(key.rsplit("|", 1)[1], []).extend((t - at) * 1000 for t in arrivals)
        spreads += [(max(arrivals) - min(arrivals)) * 1000] if arrivals else []
    duplicates = sum(s.duplicates for s in streams)
    say(f"  {expected} deliveries expected, {expected - got} lost, {duplicates} duplicate(s)")
    say("  delay publish → client (ms)    p50      p95      p99      max")
    say(f"    {'all events':<24}{Latency.of_ms([d for v in delays.values() for d in v]).row()}")
    for stage, values in delays.items():
        say(f"    {stage:<24}{Latency.of_ms(values).row()}")
    say(f"    {'fan-out spread':<24}{Latency.of_ms(spreads).row()}")
    return got


def report_open(streams: list[Stream], grown: int, took: float) -> list[Stream]:
    """How long opening took, what each stream costs the API; the streams that opened."""
    ready = [s for s in streams if s.ready]
    say(f"  {len(ready)} of {len(streams)} open in {took:.2f} s; connect → first event (ms)")
    say(f"    {'':<24}{Latency.of_seconds([s.ready - s.connect for s in ready]).row()}")
    say(f"  API RSS +{grown / MB:.1f} MiB: {grown / max(len(ready), 1) / 1024:.1f} KiB per stream")
    if errors := [s.error for s in streams if s.error]:
        say(f"  ! {len(errors)} stream(s) failed, e.g. {errors[0]}")
    return ready


def report_phases(phases: list[tuple[str, dict[str, float]]], names: list[str]) -> None:
    """The CPU seconds of each process in each phase."""
    say("CPU seconds by phase:")
    say(f"  {'phase':<10}{'wall s':>8}" + "".join(f"{n:>9}" for n in names))
    for name, spent in phases:
        cells = "".join(f"{spent.get(n, 0):>9.2f}" for n in names)
        say(f"  {name:<10}{spent['wall']:>8.1f}{cells}")


async def bench(args: argparse.Namespace, children: Children, workdir: Path) -> None:
    """Open, idle, drive, close, and report each phase."""
    accounts = await start(args, children, workdir)
    stack, url = accounts.stack, accounts.stack.env["VITAE_REDIS_URL"]
    published = await asyncio.to_thread(Published.start, url, children)
    parked = [await accounts.export(number) for number in range(args.users)]
    api = stack.pids()["api"]
    readers = {name: stack.pids()[name] for name in ("api", "valkey", "mongoeco")}
    meter = CpuMeter({name: partial(cpu_seconds, pid) for name, pid in readers.items()})
    phases: list[tuple[str, dict[str, float]]] = []

    async def phase(name: str, work: Awaitable[object]) -> None:
        meter.start()
        await work
        phases.append((name, meter.stop()))

    await phase("baseline", asyncio.sleep(args.idle))
    users = [user for user, *_ in accounts.clients]
    streams = [Stream(users[i % len(users)]) for i in range(args.streams)]
    rss, reader = rss_bytes(api), Client(stack.port, "")
    gate = asyncio.Semaphore(args.open_concurrency)
    say(f"opening {len(streams)} streams ({args.open_concurrency} at a time) …")
    tasks = [
        asyncio.create_task(follow(s, reader, accounts.clients[i % len(users)][3], gate))
        for i, s in enumerate(streams)
    ]
    opened = wait_for(
        "every first event", lambda: all(s.ready or s.error for s in streams), args.open_timeout
    )
    await phase("open", opened)
    ready = report_open(streams, rss_bytes(api) - rss, phases[-1][1]["wall"])
    await phase("idle", asyncio.sleep(args.idle))
    await asyncio.to_thread(stack.start_worker)
    meter.readers["worker"] = partial(cpu_seconds, stack.workers[0].pid)
    warm = wait_for("the warm-up", lambda: accounts.delivered(parked, ready), args.settle)
    await phase("warm-up", warm)

    async def drive() -> None:
        say(f"driving {args.exports} exports at {args.rate:g}/s …")
        began, posts = time.monotonic(), []
        for number in range(args.exports):
            await asyncio.sleep(max(0.0, began + number / args.rate - time.monotonic()))
            posts.append(asyncio.create_task(accounts.export(number)))
        ids = list(await asyncio.gather(*posts))
        await wait_for("the last events", lambda: accounts.delivered(ids, ready), args.settle)

    drive_start = time.monotonic()
    await phase("drive", drive())
    got = max(report_deliveries([e for e in published.events if e[0] >= drive_start], ready), 1)
    api_us, client_us = (phases[-1][1][name] * 1e6 / got for name in ("api", "client"))
    say(f"  CPU per delivery: API {api_us:.0f} µs, the client {client_us:.0f} µs")
    for task in tasks:  # close every stream, and see what Valkey and the API give back
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    valkey = redis.Redis.from_url(url)
    await phase(
        "close", wait_for("unsubscribes", lambda: not valkey.pubsub_channels(EXPORT_CHANNELS), 30)
    )
    left = len(valkey.pubsub_channels(EXPORT_CHANNELS))
    valkey.close()
    say(f"closed: Valkey channels left {left}, API RSS {rss_bytes(api) / MB:.1f} MiB")
    report_phases(phases, [*meter.readers, "client", "other"])


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the benchmark under ``supervise``."""
    parser = command_line(__doc__, writes=False)
    add = parser.add_argument
    add("--streams", type=int, default=1000, help="concurrent dashboard streams (1000)")
    add("--users", type=int, default=4, help="users whose dashboards share the streams (4)")
    add("--exports", type=int, default=60, help="exports to drive (60)")
    add("--rate", type=float, default=2.0, help="exports requested per second (2)")
    add("--heartbeat", type=float, default=15.0, help="VITAE_SSE_HEARTBEAT of the API (15)")
    add("--idle", type=float, default=5.0, help="seconds measured idle, before and after opening")
    add("--open-concurrency", type=int, default=100, help="streams being opened at once (100)")
    add("--open-timeout", type=float, default=120.0, help="seconds to open every stream (120)")
    add("--settle", type=float, default=60.0, help="seconds to wait for the last events (60)")
    add("--duration", type=float, default=900.0, help="deadline of the whole run, s (900)")
    add("--clock", metavar="REDIS_URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.clock:
        clock(args.clock)
        return 0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # the API inherits it
    if soft < args.streams + FD_MARGIN:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(args.streams + FD_MARGIN, hard), hard))
    say(
        f"machine: {machine()}\n{args.streams} streams, {args.users} users, {args.exports} exports "
        f"at {args.rate:g}/s, heartbeat {args.heartbeat:g} s"
    )
    return supervise("sse", args.duration, lambda children, tmp: run(bench(args, children, tmp)))


if __name__ == "__main__":
    sys.exit(main())
