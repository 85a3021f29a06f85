# ruff: noqa: INP001  (a helper of bench/pipeline.py, not a package)
"""Where the CPU of an export goes: py-spy samples the API, the worker and the MongoDB-wire
store while open-loop load runs at a fixed share of the measured capacity.

py-spy runs with ``--gil`` (only the thread holding the GIL is sampled, i.e. Python code on a
CPU, not threads blocked in a socket or in Typst, which releases the GIL) and
``--nonblocking`` (the process is never paused). ``samples / rate`` is then the Python CPU
of a process; the rest of its OS-measured CPU is native work without the GIL (Typst, the
kernel). Each sample is attributed twice: to its *layer* (the innermost frame of a known
library; small stdlib helpers such as ``copy`` or ``dataclasses`` count for their caller) and
to the innermost *Vitae function* on its stack (the Motor thread pool's samples have none:
they are named by the pymongo method they run).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline_common import MS, BenchError, Children, CpuMeter, say
from pipeline_load import Client, Phase, create_resumes, open_loop, run
from pipeline_stack import Stack, StackConfig, start_stack

if TYPE_CHECKING:
    from pipeline_e2e import Plan

SAMPLE_RATE = 250  # Hz
LOAD_SHARE = 0.6  # of the probed capacity
PROFILED = ("api", "worker-1", "mongoeco")

# Frames that count for their caller: generic helpers, not a cost of their own.
FOLD = re.compile(
    r"\((copy|dataclasses|abc|<frozen abc>|contextlib|functools|typing|enum|weakref|"
    r"collections/__init__|<string>|types|re/__init__|_collections_abc)\.?p?y?:"
)
# The innermost frame matching one of these names the sample's layer (first rule wins).
LAYERS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p), name)
    for p, name in [
        (r"typst", "Typst (with the GIL)"),
        (r"structlog/|logging/|vitae/logs\.py", "logging (structlog, JSON lines)"),
        (r"jwt/|litestar/security/jwt", "JWT encode/decode"),
        (r"prometheus", "Prometheus metrics"),
        (r"odmantic/|pydantic", "ODMantic / pydantic models"),
        (
            (
                r"call_soon_threadsafe|_write_to_self|run_in_executor|ThreadPoolExecutor\.submit|"
                r"_chain_future|_WorkItem|_worker \(concurrent|motor/"
            ),
            "Motor's thread hand-off",
        ),
        (r"pymongo/|bson/", "pymongo / BSON"),
        (r"saq/", "SAQ"),
        (r"redis/", "redis-py"),
        (r"msgspec|json/", "JSON (json, msgspec)"),
        (r"aiobotocore|botocore|aioboto3|boto3", "aioboto3 / botocore"),
        (r"litestar/", "Litestar"),
        (r"uvicorn/|httptools|h11/", "uvicorn"),
        (r"anyio/", "anyio"),
        (r"mongoeco/wire", "mongoeco: wire protocol"),
        (r"mongoeco/engines", "mongoeco: SQLite engine"),
        (r"mongoeco/api", "mongoeco: command layer"),
        (r"mongoeco/", "mongoeco: other"),
        (r"sqlite3", "sqlite3"),
        (r"asyncio/|uvloop|selectors\.py", "asyncio event loop"),
        (r"threading\.py|concurrent/", "threads"),
        (r"vitae/", "Vitae's own code"),
    ]
]
STORE_FRAME = re.compile(r"^(?P<func>[^ ]+) \((?P<path>mongoeco/[^:]+)")
VITAE_FRAME = re.compile(r"^(?P<func>[^ ]+) \((?P<path>vitae/[^:]+)")
# Entry points: a sample whose innermost Vitae frame is one of these ran in a library
# (the event loop, uvicorn, SAQ's worker loop), not in a Vitae function.
ENTRY = ("vitae/cli.py", "vitae/__main__.py", "vitae/embedded.py")
PYMONGO_CALL = re.compile(
    r"^(?P<cls>Collection|Cursor|CommandCursor|Database)\.(?P<func>\w+) \(pymongo/"
)


def py_spy_binary() -> str | None:
    """py-spy next to this interpreter (``uv pip install py-spy``), else on the PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def _frames(stack: str) -> list[str]:
    return [f for f in stack.split(";") if f]


def layer_of(frames: list[str]) -> str:
    """The innermost known layer of a stack (leaf first, helpers folded into their caller)."""
    for frame in reversed(frames):
        if FOLD.search(frame):
            continue
        for pattern, name in LAYERS:
            if pattern.search(frame):
                return name
        return frame.split(" (", 1)[-1].split("/", 1)[0].rstrip(")")
    return "unknown"


def store_function_of(frames: list[str]) -> str:
    """For the store: its innermost own function (``module: function``)."""
    for frame in reversed(frames):
        match = STORE_FRAME.match(frame)
        if match:
            return f"{match['path'].removeprefix('mongoeco/').removesuffix('.py')}: {match['func']}"
    return "(no mongoeco frame) " + layer_of(frames)


def function_of(frames: list[str]) -> str:
    """The innermost Vitae function of a stack, or the pymongo call a Motor thread runs."""
    for frame in reversed(frames):
        match = VITAE_FRAME.match(frame)
        if match and match["path"] not in ENTRY:
            module = match["path"].removeprefix("vitae/").removesuffix(".py")
            return f"{module}: {match['func']}"
    for frame in frames:
        match = PYMONGO_CALL.match(frame)
        if match:
            return f"(Motor thread) pymongo {match['cls']}.{match['func']}"
    return "(no Vitae frame) " + layer_of(frames)


@dataclass
class ProcessProfile:
    """One process's samples, attributed."""

    name: str
    samples: int
    cpu_seconds: float
    layers: Counter[str] = field(default_factory=Counter[str])
    functions: Counter[str] = field(default_factory=Counter[str])


def read_raw(name: str, path: Path, cpu_seconds: float) -> ProcessProfile:
    """Parse py-spy's ``--format raw`` output (collapsed stacks with counts)."""
    profile = ProcessProfile(name, 0, cpu_seconds)
    if not path.exists():
        return profile
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames, n = _frames(stack), int(count)
        profile.samples += n
        profile.layers[layer_of(frames)] += n
        named = store_function_of if name == "mongoeco" else function_of
        profile.functions[named(frames)] += n
    return profile


@dataclass
class ProfileResult:
    """The profiled phase and each process's attributed samples."""

    phase: Phase
    processes: list[ProcessProfile]
    raw_dir: Path
    rate: int = SAMPLE_RATE

    def ms_per_export(self, samples: int) -> float:
        """Sampled Python CPU, in milliseconds per completed export."""
        done = len(self.phase.completed)
        return samples / self.rate / done * MS if done else float("nan")


class Sampler:
    """py-spy recording each named process until stopped (SIGINT makes it write its file)."""

    def __init__(self, binary: str, pids: dict[str, int], out: Path, children: Children) -> None:
        self.files = {name: out / f"{name}.txt" for name in pids}
        self.children = children
        self.recorders = [
            children.spawn(
                f"py-spy {name}",
                [
                    binary, "record", "--pid", str(pid), "--rate", str(SAMPLE_RATE),
                    "--gil", "--nonblocking", "--format", "raw", "-o", str(self.files[name]),
                ],
                env=dict(os.environ),
                cwd=out,
                log=out / f"py-spy-{name}.log",
            )
            for name, pid in pids.items()
        ]  # fmt: skip

    def stop(self) -> None:
        """Ask every recorder to write its samples, and wait for it."""
        for recorder in self.recorders:
            if recorder.alive():
                recorder.process.send_signal(signal.SIGINT)
        for recorder in self.recorders:
            try:
                recorder.process.wait(20)
            except subprocess.TimeoutExpired:
                self.children.stop(recorder)


def run_profile(children: Children, workdir: Path, plan: Plan, out: Path) -> ProfileResult:
    """Profile one worker on local storage under load at ``LOAD_SHARE`` of its capacity."""
    binary = py_spy_binary()
    if binary is None:
        raise BenchError("py-spy is missing (uv pip install --python .venv/bin/python py-spy)")
    out.mkdir(parents=True, exist_ok=True)
    say("  starting local, 1 worker, for the profile …")
    stack = start_stack(StackConfig(1, "local"), children, workdir, count_mongo=True)
    try:
        return run(_profile(stack, children, plan, binary, out))
    finally:
        stack.close()
        children.stop_all()


async def _profile(
    stack: Stack, children: Children, plan: Plan, binary: str, out: Path
) -> ProfileResult:
    client = Client(stack.port, stack.token)
    try:
        resumes = await create_resumes(client, plan.pool)
        await open_loop(stack, client, resumes, name="warm-up", rate=10.0, count=plan.warmup)
        probe = await open_loop(stack, client, resumes, name="probe", rate=200.0, count=plan.probe)
        rate = LOAD_SHARE * max(probe.throughput, 1.0)
        pids = {name: pid for name, pid in stack.pids().items() if name in PROFILED}
        sampler = Sampler(binary, pids, out, children)
        await asyncio.sleep(1.0)  # py-spy attaches
        meter = CpuMeter(stack.pids(), stack.counters)
        try:
            phase = await open_loop(
                stack, client, resumes, name="profile", rate=rate,
                count=round(rate * plan.duration * 1.5), meter=meter,
            )  # fmt: skip
        finally:
            sampler.stop()
        say(f"    profiled {len(phase.completed)} exports at {rate:.1f}/s")
        processes = [read_raw(name, sampler.files[name], phase.cpu.get(name, 0.0)) for name in pids]
        return ProfileResult(phase, processes, out)
    finally:
        client.close()
