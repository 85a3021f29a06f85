# ruff: noqa: INP001, RUF001  (a benchmark script, not a package; typographic signs are meant)
"""`just soak`: Vitae as ``vitae dev`` runs it, as fast with a long history as empty.

Two runs of the same steady load, one on an empty store and one on a store seeded with a large
history (by default 50,000 finished exports across 1,000 users, 1,000 of them the load's own
user's, inserted straight into the store, created over the past 29 days so that the retention
purge leaves them alone). Each run: the service as ``vitae dev`` runs it (embedded Valkey, the
MongoDB-wire store on a SQLite file, local storage, the API and one worker, from
bench/pipeline_stack.py), exports offered at a fixed rate and followed to their end on their
event streams (bench/pipeline_load.py), then ``GET /api/exports?limit=20`` timed for the load's
user. Reported side by side: latency (p50/p95/p99), CPU per export of the store and of the
service (``/proc``), list latency, and each process's resident memory before and after the
load. Bounded: every phase has a deadline, the run stops itself after ``HARD_LIMIT`` and stops
every process it started, whatever happens.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pymongo
from bson import ObjectId
from pipeline_common import (
    ROOT,
    BenchError,
    CpuMeter,
    Latency,
    load_average,
    rss_bytes,
    say,
    stop_on_signals,
)
from pipeline_load import Client, Phase, create_resumes, open_loop, run
from pipeline_report import relative, write_block
from pipeline_stack import StackConfig, start_stack
from processes import Children

from vitae.exports.models import Export, ExportStatus
from vitae.users.models import User

if TYPE_CHECKING:
    from pipeline_stack import Stack

DOC = ROOT / "docs" / "benchmarks.md"
HARD_LIMIT = 20 * 60  # seconds: past this the run is interrupted, whatever it is doing
BATCH = 1_000  # documents per insert while seeding
OWN = 1_000  # of the history, exports of the load's own user (the list is timed for it)
LISTS = 40  # timed GET /api/exports?limit=20
RESUMES = 4
MB = 1024 * 1024
GOAL_RATIO = 1.25
GOAL_LIST_MS = 50.0


@dataclass
class Run:
    """One run: the history it started with and what the load measured."""

    history: int
    seed_seconds: float = 0.0
    phase: Phase | None = None
    lists: Latency | None = None
    rss_before: dict[str, float] = field(default_factory=dict[str, float])
    rss_after: dict[str, float] = field(default_factory=dict[str, float])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--history", type=int, default=50_000, help="exports seeded (50,000)")
    parser.add_argument("--users", type=int, default=1_000, help="users they belong to (1,000)")
    parser.add_argument("--rate", type=float, default=5.0, help="exports offered per second (5)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the load (60)")
    parser.add_argument("--doc", type=Path, default=DOC, help="the Markdown file to update")
    parser.add_argument("--no-write", action="store_true", help="print only")
    return parser.parse_args(argv)


# -- seeding -----------------------------------------------------------------------------------


def _finished(user: ObjectId, resume: ObjectId, created: datetime) -> dict[str, Any]:
    """A completed export as the worker leaves it."""
    done = created + timedelta(seconds=1)
    export = Export(  # pyright: ignore[reportCallIssue]  (ODMantic generates the id)
        user_id=user,
        resume_id=resume,
        status=ExportStatus.COMPLETED,
        template="classic",
        paper_size="a4",
        watermarked=False,
        file_name="Richard-Hendriks-Resume.pdf",
        file_url=f"file:///exports/{user}/{created.timestamp():.0f}.pdf",
        file_size=48_000,
        storage_key=f"exports/{user}/{created.timestamp():.0f}.pdf",
        attempts=1,
        version=3,
        created_at=created,
        updated_at=done,
        started_at=created,
        completed_at=done,
    )
    return export.model_dump_doc()


def seed(stack: Stack, history: int, users: int) -> float:
    """Insert ``history`` finished exports across ``users`` users (``OWN`` of them the load
    user's) straight into the store; the seconds it took.
    """
    started = time.monotonic()
    url = f"mongodb://127.0.0.1:{stack.servers['mongoeco'].port}/?directConnection=true"
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(url, tz_aware=True)
    try:
        db = client["vitae"]  # the default VITAE_MONGODB_DATABASE
        own = db.users.find_one({"email": "bench@vitae.test"})
        if own is None:
            raise BenchError("the load's user is missing from the store")
        others = [
            User(  # pyright: ignore[reportCallIssue]  (ODMantic generates the id)
                email=f"user{i}@soak.test", name=f"User {i}", credit_balance=5
            ).model_dump_doc()
            for i in range(max(users - 1, 1))
        ]
        db.users.insert_many(others)
        owners = [own["_id"], *(doc["_id"] for doc in others)]
        resumes = {owner: ObjectId() for owner in owners}
        now = datetime.now(UTC)
        span = timedelta(days=29).total_seconds()
        for start in range(0, history, BATCH):
            docs: list[dict[str, Any]] = []
            for i in range(start, min(start + BATCH, history)):
                owner = owners[0] if i < OWN else owners[1 + i % (len(owners) - 1)]
                created = now - timedelta(seconds=span * (1 - i / history))
                docs.append(_finished(owner, resumes[owner], created))
            db.exports.insert_many(docs, ordered=False)
            if start and start % 10_000 == 0:
                say(f"    {start:,} seeded ({time.monotonic() - started:.0f} s)")
    finally:
        client.close()
    return time.monotonic() - started


# -- one run -----------------------------------------------------------------------------------


def _rss(stack: Stack) -> dict[str, float]:
    return {name: rss_bytes(pid) / MB for name, pid in stack.pids().items()}


async def _time_lists(client: Client) -> Latency:
    """``GET /api/exports?limit=20`` one after another, as a user paging a dashboard."""
    durations: list[float] = []
    for _ in range(LISTS):
        started = time.perf_counter()
        response = await client.request("GET", "/api/exports?limit=20")
        if response.status != 200:  # noqa: PLR2004
            raise BenchError(f"GET /api/exports answered {response.status}")
        durations.append(time.perf_counter() - started)
    return Latency.of_seconds(durations)


async def _load(stack: Stack, result: Run, rate: float, seconds: float) -> None:
    client = Client(stack.port, stack.token)
    try:
        resumes = await create_resumes(client, RESUMES)
        warm = max(int(rate * 5), 5)
        await open_loop(stack, client, resumes, name="warm-up", rate=rate, count=warm)
        result.rss_before = _rss(stack)
        meter = CpuMeter(stack.pids())
        count = max(int(rate * seconds), 1)
        result.phase = await open_loop(
            stack, client, resumes, name="soak", rate=rate, count=count, meter=meter
        )
        result.rss_after = _rss(stack)
        result.lists = await _time_lists(client)
    finally:
        client.close()


def soak(args: argparse.Namespace, children: Children, workdir: Path, history: int) -> Run:
    """Start the service, seed it with ``history`` exports, offer the load, stop it."""
    label = f"{history:,} stored exports"
    say(f"{label}: starting the service …")
    stack = start_stack(StackConfig(1, "local"), children, workdir)
    result = Run(history)
    try:
        if history:
            say(f"  seeding {history:,} exports across {args.users:,} users …")
            result.seed_seconds = seed(stack, history, args.users)
            say(f"  seeded in {result.seed_seconds:.0f} s")
        say(f"  {args.rate:g} exports/s for {args.seconds:g} s …")
        run(_load(stack, result, args.rate, args.seconds))
    finally:
        stack.close()
        children.stop_all()
    return result


# -- the report --------------------------------------------------------------------------------


def _cores(phase: Phase) -> float:
    """How many cores the rest of the machine kept busy during the load."""
    wall = phase.cpu.get("wall", 0.0)
    return phase.cpu.get("other", 0.0) / wall if wall else float("nan")


def _ratio(full: float, empty: float) -> str:
    return f"{full / empty:.2f}×" if empty > 0 else "–"


def report(args: argparse.Namespace, runs: list[Run], started: str, elapsed: float) -> str:
    """The Markdown table of both runs and the goals' verdicts."""
    empty, full = runs
    lines = [
        f"Run `just soak {shlex.join(sys.argv[1:])}`".rstrip() + f" on {started}, "
        f"{elapsed / 60:.1f} min; {args.rate:g} exports/s offered for {args.seconds:g} s on "
        f"each store; seeding {full.history:,} exports took {full.seed_seconds:.0f} s. "
        f"One-minute load average at the end: {load_average():.2f}.",
        "",
        f"| | empty store | {full.history:,} stored exports | ratio |",
        "| --- | --- | --- | --- |",
    ]
    rows: list[tuple[str, float, float]] = []
    if empty.phase and full.phase:
        e, f = empty.phase, full.phase
        rows += [
            ("exports completed / offered", len(e.completed), len(f.completed)),
            ("p50 ms", e.latency.p50, f.latency.p50),
            ("p95 ms", e.latency.p95, f.latency.p95),
            ("p99 ms", e.latency.p99, f.latency.p99),
            (
                "store (mongoeco) CPU ms per export",
                e.cpu_ms_per_export("mongoeco"),
                f.cpu_ms_per_export("mongoeco"),
            ),
            ("API CPU ms per export", e.cpu_ms_per_export("api"), f.cpu_ms_per_export("api")),
            (
                "worker CPU ms per export",
                e.cpu_ms_per_export("worker-1"),
                f.cpu_ms_per_export("worker-1"),
            ),
        ]
        busy = ("other processes' cores", _cores(e), _cores(f))
        rows.append(busy)
    if empty.lists and full.lists:
        rows += [
            ("`GET /api/exports?limit=20` p50 ms", empty.lists.p50, full.lists.p50),
            ("`GET /api/exports?limit=20` p95 ms", empty.lists.p95, full.lists.p95),
        ]
    for name, a, b in rows:
        if name.startswith("exports completed"):
            offered = int(args.rate * args.seconds)
            lines.append(f"| {name} | {a:.0f} / {offered} | {b:.0f} / {offered} | |")
        elif name.startswith("other"):
            lines.append(f"| {name} | {a:.2f} | {b:.2f} | |")
        else:
            lines.append(f"| {name} | {a:.1f} | {b:.1f} | {_ratio(b, a)} |")
    for process in empty.rss_before:
        before_e, after_e = empty.rss_before[process], empty.rss_after.get(process, 0.0)
        before_f, after_f = full.rss_before.get(process, 0.0), full.rss_after.get(process, 0.0)
        lines.append(
            f"| {process} resident MB, before → after the load | {before_e:.0f} → {after_e:.0f} "
            f"| {before_f:.0f} → {after_f:.0f} | |"
        )
    lines += ["", *verdicts(empty, full)]
    errors = {k: v for run in runs if run.phase for k, v in run.phase.errors.items()}
    if errors:
        lines.append(f"Errors: {errors}.")
    return "\n".join(lines)


def verdicts(empty: Run, full: Run) -> list[str]:
    """The issue's goals, met or not."""
    if not (empty.phase and full.phase and full.lists):
        return ["A run did not finish: no verdict."]
    e, f = empty.phase, full.phase
    checks = [
        ("p95", f.latency.p95 / e.latency.p95 <= GOAL_RATIO),
        (
            "store CPU per export",
            f.cpu_ms_per_export("mongoeco") / e.cpu_ms_per_export("mongoeco") <= GOAL_RATIO,
        ),
    ]
    out = [
        f"- {name} with history ≤ {GOAL_RATIO}× empty: {'met' if ok else 'NOT met'}"
        for name, ok in checks
    ]
    list_ok = full.lists.p95 < GOAL_LIST_MS
    out.append(
        f"- list p95 < {GOAL_LIST_MS:.0f} ms for a user with ≥ {OWN:,} exports: "
        f"{'met' if list_ok else 'NOT met'} ({full.lists.p95:.1f} ms)"
    )
    return out


def main(argv: list[str] | None = None) -> int:
    """Both runs, the report, and every process stopped whatever happens."""
    args = parse_args(argv)
    stop_on_signals()
    signal.alarm(HARD_LIMIT)
    children = Children()
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    clock = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="vitae-soak-") as tmp:
            try:
                runs = [
                    soak(args, children, Path(tmp) / f"run-{history}", history)
                    for history in (0, args.history)
                ]
            finally:
                children.stop_all()
    except KeyboardInterrupt as stop:
        say(f"\nstopped ({str(stop) or 'Ctrl-C'}); every process the soak started is stopped")
        return 130
    except BenchError as error:
        say(f"\nthe soak failed: {error}")
        return 1
    markdown = report(args, runs, started, time.monotonic() - clock)
    say()
    say(markdown)
    if not args.no_write:
        write_block(args.doc, "soak", markdown)
        say(f"\nwrote {relative(args.doc)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
