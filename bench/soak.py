"""`just soak`: Vitae as ``vitae dev`` runs it (one worker, local storage), as fast with a
long history as empty.

The same steady open-loop load twice: on an empty store, then on one seeded with
``--history`` finished exports across ``--users`` users (1,000 of them the load's own user's;
created over the past 29 days so that the retention purge leaves them alone), inserted
straight into the store. Reported side by side: latency, the store's and the service's CPU
per export, ``GET /api/exports?limit=20`` for the user with 1,000 exports, each process's
resident memory before and after the load.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import pymongo
from bson import ObjectId
from load import Client, Phase, create_resumes, open_loop, run
from measure import MB, Latency, rss_bytes, say, supervise
from report import command_line, heading, now, num, publish, table
from stack import StackConfig, start_stack

from vitae.exports.models import Export, ExportStatus
from vitae.users.models import User

if TYPE_CHECKING:
    from pathlib import Path

    from processes import Children
    from stack import Stack

HARD_LIMIT = 20 * 60
OWN = 1_000  # of the history, exports of the load's own user (its list is timed)


def seed(stack: Stack, history: int, users: int) -> float:
    """Insert the history straight into the store, a thousand at a time; the seconds taken."""
    started, now_ = time.monotonic(), datetime.now(UTC)
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        f"mongodb://127.0.0.1:{stack.servers['mongoeco'].port}/?directConnection=true",
        tz_aware=True,
    )
    with client:
        db = client["vitae"]
        own = db.users.find_one({"email": "bench@vitae.test"}) or {}
        others = [User(email=f"user{i}@soak.test", name=f"U{i}").model_dump_doc()  # pyright: ignore[reportCallIssue]
                  for i in range(max(users - 1, 1))]  # fmt: skip
        db.users.insert_many(others)
        owners = [own["_id"], *(doc["_id"] for doc in others)]
        for start in range(0, history, 1_000):
            docs: list[dict[str, Any]] = []
            for i in range(start, min(start + 1_000, history)):
                owner = owners[0] if i < OWN else owners[1 + i % (len(owners) - 1)]
                created = now_ - timedelta(days=29 * (1 - i / history))
                key = f"exports/{owner}/{i}.pdf"
                docs.append(Export(  # pyright: ignore[reportCallIssue]  (ODMantic makes the id)
                    user_id=owner, resume_id=ObjectId(), status=ExportStatus.COMPLETED,
                    template="classic", paper_size="a4", watermarked=False, file_name="R.pdf",
                    file_url=f"file:///{key}", file_size=48_000, storage_key=key, attempts=1,
                    version=3, created_at=created, updated_at=created, started_at=created,
                    completed_at=created + timedelta(seconds=1),
                ).model_dump_doc())  # fmt: skip
            db.exports.insert_many(docs, ordered=False)
    return time.monotonic() - started


def memory(stack: Stack) -> dict[str, float]:
    """Resident MB of each process, the worker's render processes together."""
    rss = {name: rss_bytes(pid) / MB for name, pid in stack.pids().items()}
    return rss | {"render processes": sum(map(rss_bytes, stack.render_pids())) / MB}


async def load(stack: Stack, rate: float, seconds: float) -> tuple[Phase, Latency, dict[str, Any]]:
    """Warm up, then the measured load, then 40 list requests; memory around the load."""
    client = Client(stack.port, stack.token)
    try:
        resumes = await create_resumes(client, 4)
        await open_loop(stack, client, resumes, "warm-up", rate, max(int(rate * 5), 5))
        before = memory(stack)
        phase = await open_loop(stack, client, resumes, "soak", rate, int(rate * seconds),
                                measured=True)  # fmt: skip
        rss = {n: f"{before[n]:.0f} → {mb:.0f}" for n, mb in memory(stack).items()}
        lists = []
        for _ in range(40):
            started = time.perf_counter()
            (await client.request("GET", "/api/exports?limit=20")).json(200)
            lists.append(time.perf_counter() - started)
        return phase, Latency.of_seconds(lists), rss
    finally:
        client.close()


def soak(args: argparse.Namespace, children: Children, workdir: Path) -> None:
    """Both runs, and the report."""
    started, clock, seeding = now(), time.monotonic(), 0.0
    runs: list[tuple[Phase, Latency, dict[str, Any]]] = []
    for history in (0, args.history):
        say(f"{history:,} stored exports: starting the service …")
        stack = start_stack(StackConfig(1), children, workdir / f"run-{history}")
        try:
            if history:
                seeding = seed(stack, history, args.users)
                say(f"  seeded in {seeding:.0f} s")
            runs.append(run(load(stack, args.rate, args.seconds)))
        finally:
            stack.stop()
    (empty, empty_lists, empty_rss), (full, full_lists, full_rss) = runs
    service = ("api", "worker-", "render-")
    rows = [
        ("exports completed", len(empty.completed), len(full.completed)),
        ("p50 ms", empty.latency.p50, full.latency.p50),
        ("p95 ms", empty.latency.p95, full.latency.p95),
        ("p99 ms", empty.latency.p99, full.latency.p99),
        ("store (mongoeco) CPU ms per export", empty.cpu_ms("mongoeco"), full.cpu_ms("mongoeco")),
        ("service (API + worker) CPU ms per export", empty.cpu_ms(*service), full.cpu_ms(*service)),
        (f"`GET /api/exports?limit=20` p50 ms ({OWN:,} exports)", empty_lists.p50, full_lists.p50),
        (f"`GET /api/exports?limit=20` p95 ms ({OWN:,} exports)", empty_lists.p95, full_lists.p95),
    ]
    cells = [[name, num(a), num(b), f"{b / a:.2f}×"] for name, a, b in rows]
    cells += [[f"{n} resident MB, before → after", empty_rss[n], full_rss.get(n, "–"), ""]
              for n in empty_rss]  # fmt: skip
    head = heading("just soak", started, time.monotonic() - clock)
    offered = f"{args.rate:g} exports/s offered for {args.seconds:g} s"
    total = int(args.rate * args.seconds)
    lines = [
        f"{head} {offered} ({total}) on each store; seeding took {seeding:.0f} s.",
        table(["", "empty store", f"{args.history:,} stored exports", "ratio"], cells),
        f"Errors: {dict(empty.errors)} empty, {dict(full.errors)} with the history.",
    ]
    publish("\n\n".join(lines), "soak", write=not args.no_write)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the soak under ``supervise``."""
    parser = command_line(__doc__)
    add = parser.add_argument
    add("--history", type=int, default=50_000, help="exports seeded (50,000)")
    add("--users", type=int, default=1_000, help="users they belong to (1,000)")
    add("--rate", type=float, default=5.0, help="exports offered per second (5)")
    add("--seconds", type=float, default=60.0, help="length of the load (60)")
    add("--quick", action="store_true", help="5,000 exports seeded and 15 s of load")
    args = parser.parse_args(argv)
    if args.quick:
        args.history, args.seconds = min(args.history, 5_000), min(args.seconds, 15.0)
    return supervise("soak", HARD_LIMIT, partial(soak, args))


if __name__ == "__main__":
    sys.exit(main())
