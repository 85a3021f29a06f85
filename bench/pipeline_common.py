# ruff: noqa: INP001  (a helper of bench/pipeline.py, not a package)
"""Shared pieces of the benchmarks (bench/pipeline.py and bench/sse.py): the sample résumé,
statistics, CPU readings from ``/proc`` and the registry of child processes that every exit
path stops.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from vitae.embedded import stop_process

if TYPE_CHECKING:
    from vitae.embedded import Server

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "jsonresume-sample.json"
TEMPLATE = "classic"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MS = 1000.0
QUIET_CORES = 0.25
QUIET_WAIT = 8.0  # seconds a measurement may wait for other processes to calm down


class BenchError(Exception):
    """The benchmark could not run to its end."""


def say(text: str = "") -> None:
    """Print a line of progress now: the run is long, show it as it goes."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def sample_resume() -> dict[str, Any]:
    """The canonical JSON Resume sample."""
    resume: dict[str, Any] = json.loads(SAMPLE.read_text(encoding="utf-8"))
    return resume


def variant(resume: dict[str, Any], index: int) -> dict[str, Any]:
    """The résumé with a numbered name: a distinct input for Typst's caches (same layout)."""
    basics = dict(resume.get("basics") or {})
    basics["name"] = f"{basics.get('name', 'Ada')} {index:05d}"
    return {**resume, "basics": basics}


# -- statistics --------------------------------------------------------------------------------


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (``q`` in 0..100)."""
    if not ordered:
        return float("nan")
    rank = max(1, round(q / 100 * len(ordered) + 0.5))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True, slots=True)
class Latency:
    """A latency sample summarised, in milliseconds."""

    n: int
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of_seconds(cls, values: list[float]) -> Latency:
        """Summarise durations given in seconds."""
        ordered = sorted(v * MS for v in values)
        top = ordered[-1] if ordered else float("nan")
        return cls(
            len(ordered),
            percentile(ordered, 50),
            percentile(ordered, 95),
            percentile(ordered, 99),
            top,
        )


# -- /proc readings ----------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User plus system CPU of a process, all its threads (``/proc/<pid>/stat``); 0 once gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return 0.0
    fields = raw.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU seconds spent by every process on the machine, all cores (``/proc/stat``)."""
    first = Path("/proc/stat").read_text(encoding="ascii").splitlines()[0].split()
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in first[1:9])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children, grandchildren …)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = (entry / "stat").read_text(encoding="ascii")
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            parents.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process and all its live descendants (e.g. Chromium and its helpers)."""
    return sum(cpu_seconds(p) for p in [pid, *descendants(pid)])


def foreign_cores(window: float = 1.0) -> float:
    """How many cores the rest of the machine (not this process nor its descendants) keeps
    busy, measured over ``window`` seconds.
    """
    mine = [os.getpid(), *descendants(os.getpid())]
    before = machine_busy_seconds(), sum(cpu_seconds(p) for p in mine)
    time.sleep(window)
    after = machine_busy_seconds(), sum(cpu_seconds(p) for p in mine)
    return max((after[0] - before[0]) - (after[1] - before[1]), 0.0) / window


def wait_for_quiet(limit: float, threshold: float = QUIET_CORES) -> float:
    """Wait, at most ``limit`` seconds, until other processes keep fewer than ``threshold``
    cores busy, so that a phase is not measured while someone else's job runs; returns the
    last reading (the phase runs anyway after the limit, and the report shows the load).
    """
    deadline = time.monotonic() + limit
    while True:
        busy = foreign_cores()
        if busy < threshold or time.monotonic() >= deadline:
            return busy


def load_average() -> float:
    """The one-minute load average: how busy the machine was, others' work included."""
    return os.getloadavg()[0]


type Counters = Callable[[], dict[str, float]]


@dataclass
class CpuMeter:
    """CPU seconds of named processes, and of the whole machine, between two readings; and
    the change of any other counters (e.g. commands served by the data servers).
    """

    pids: dict[str, int]
    counters: Counters | None = None
    counts: dict[str, float] = field(default_factory=dict[str, float])
    _before: dict[str, float] = field(default_factory=dict[str, float])
    _counts: dict[str, float] = field(default_factory=dict[str, float])
    _machine: float = 0.0
    _self: float = 0.0
    _wall: float = 0.0

    def start(self) -> None:
        """Take the first reading."""
        self._counts = self.counters() if self.counters else {}
        self._before = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self._machine = machine_busy_seconds()
        self._self = time.process_time()
        self._wall = time.monotonic()

    def stop(self) -> dict[str, float]:
        """CPU seconds since ``start`` by process, plus ``client`` (this process), ``other``
        (everything else on the machine) and ``wall`` (elapsed seconds); the counters'
        changes are left in ``counts``.
        """
        spent = {name: cpu_seconds(pid) - self._before[name] for name, pid in self.pids.items()}
        spent["client"] = time.process_time() - self._self
        machine = machine_busy_seconds() - self._machine
        spent["other"] = max(machine - sum(spent.values()), 0.0)
        spent["wall"] = time.monotonic() - self._wall
        if self.counters:
            after = self.counters()
            self.counts = {k: v - self._counts.get(k, 0.0) for k, v in after.items()}
        return spent


# -- child processes ---------------------------------------------------------------------------


@dataclass
class Child:
    """A process the benchmark started; SIGTERM on stop, then SIGKILL if it lingers."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path | None = None
    port: int = 0

    @classmethod
    def of_server(cls, server: Server) -> Child:
        """An embedded server of ``vitae.embedded`` (Valkey, mongoeco) as a child."""
        return cls(server.name, server.process, port=server.port)

    @property
    def pid(self) -> int:
        """The process id."""
        return self.process.pid

    def alive(self) -> bool:
        """Whether it still runs."""
        return self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the process and reap it."""
        stop_process(self.process, timeout)

    def tail(self, lines: int = 25) -> str:
        """The end of its log, for error messages."""
        if self.log is None or not self.log.exists():
            return ""
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def log_problems(self) -> list[str]:
        """Lines of its log that report an error."""
        if self.log is None or not self.log.exists():
            return []
        text = self.log.read_text(encoding="utf-8", errors="replace")
        marks = (" ERROR ", "Traceback", '"level": "error"', '"status": 5')
        return [line for line in text.splitlines() if any(mark in line for mark in marks)]


def spawn(name: str, command: list[str], *, env: dict[str, str], cwd: Path, log: Path) -> Child:
    """Start a command in its own session (a terminal's Ctrl-C reaches only the benchmark,
    which stops its children in order), its output into a log file.
    """
    with log.open("ab") as out:
        process = subprocess.Popen(  # noqa: S603  (our own command line)
            command,
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Child(name, process, log)


class Children:
    """Every process the benchmark started, stopped newest first (API and workers before the
    servers they use) by ``stop_all``, which every exit path of the benchmark reaches.
    """

    def __init__(self) -> None:
        self._children: list[Child] = []

    def add(self, child: Child) -> Child:
        """Remember a child to stop."""
        self._children.append(child)
        return child

    def spawn(
        self, name: str, command: list[str], *, env: dict[str, str], cwd: Path, log: Path
    ) -> Child:
        """Start a command (see ``spawn``) and remember it."""
        return self.add(spawn(name, command, env=env, cwd=cwd, log=log))

    def stop(self, child: Child) -> None:
        """Stop one child and forget it."""
        child.stop()
        if child in self._children:
            self._children.remove(child)

    def stop_all(self) -> None:
        """Stop every child still known, newest first; then any process still running below
        this one (e.g. a server whose start failed before it was registered).
        """
        while self._children:
            child = self._children.pop()
            with contextlib.suppress(Exception):  # keep stopping the others
                child.stop()
        stray = descendants(os.getpid())
        for pid in stray:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5.0
        while stray and time.monotonic() < deadline:
            time.sleep(0.1)
            stray = [pid for pid in stray if Path(f"/proc/{pid}").exists()]
        for pid in stray:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def stop_on_signals() -> None:
    """SIGTERM, SIGHUP and the time limit (SIGALRM) end the benchmark like Ctrl-C: through
    its ``finally`` blocks.
    """

    def interrupt(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    # A shell that starts a job in the background makes it ignore SIGINT; Ctrl-C and
    # ``kill -INT`` must stop the benchmark however it was started.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)
    signal.signal(signal.SIGALRM, interrupt)


def wait_for_text(child: Child, text: str, timeout: float) -> None:
    """Block until the child's log contains ``text``; fail early if the child exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise BenchError(
                f"{child.name} exited with {child.process.returncode}:\n{child.tail()}"
            )
        log = child.log
        if log is not None and log.exists() and text in log.read_text("utf-8", "replace"):
            return
        time.sleep(0.05)
    raise BenchError(f"{child.name} did not log {text!r} within {timeout} s:\n{child.tail()}")
