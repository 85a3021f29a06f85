# ruff: noqa: INP001  (a helper of bench/pipeline.py, not a package)
"""Shared pieces of the benchmarks (bench/pipeline.py and bench/sse.py): the sample résumé,
statistics, CPU readings from ``/proc`` and stopping on signals; child processes are in
bench/processes.py, the harness shared with the process tests.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from processes import ProcessError, descendants

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "jsonresume-sample.json"
TEMPLATE = "classic"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MS = 1000.0
QUIET_CORES = 0.25
QUIET_WAIT = 8.0  # seconds a measurement may wait for other processes to calm down


# The benchmark cannot run to its end: a child that failed to start or stop is one such case.
BenchError = ProcessError


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


def rss_bytes(pid: int) -> int:
    """Resident memory (``VmRSS`` of ``/proc/<pid>/status``)."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise BenchError(f"no VmRSS for process {pid}")


def machine_busy_seconds() -> float:
    """CPU seconds spent by every process on the machine, all cores (``/proc/stat``)."""
    first = Path("/proc/stat").read_text(encoding="ascii").splitlines()[0].split()
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in first[1:9])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


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
