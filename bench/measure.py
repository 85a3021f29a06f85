"""What the benchmarks read: latency statistics, CPU and memory from ``/proc``, how busy
the machine is, a py-spy profile; run as a script, the counting proxy in front of the store.

    python bench/measure.py LISTEN_PORT TARGET_PORT COUNTS_FILE
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from processes import Children, ProcessError, descendants

if TYPE_CHECKING:
    from types import FrameType

ROOT = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MS = 1000.0
MB = 1024 * 1024
QUIET_CORES = 0.25  # other processes' load under which a measurement starts
QUIET_WAIT = 8.0  # seconds a measurement may wait for it

# The benchmark cannot run to its end: a child that failed to start or stop is one such case.
BenchError = ProcessError


def say(text: str = "") -> None:
    """Print a line of progress now: runs are long, show them as they go."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


# -- statistics --------------------------------------------------------------------------------


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (``q`` in 0..100)."""
    if not ordered:
        return float("nan")
    rank = max(1, round(q / 100 * len(ordered) + 0.5))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True, slots=True)
class Latency:
    """A sample summarised, in milliseconds."""

    n: int
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of_seconds(cls, values: list[float]) -> Latency:
        """Summarise durations given in seconds."""
        return cls.of_ms([v * MS for v in values])

    @classmethod
    def of_ms(cls, values: list[float]) -> Latency:
        """Summarise durations given in milliseconds."""
        ordered = sorted(values)
        top = ordered[-1] if ordered else float("nan")
        p50, p95, p99 = (percentile(ordered, q) for q in (50, 95, 99))
        return cls(len(ordered), p50, p95, p99, top)

    def row(self) -> str:
        """``p50 p95 p99 max (n)`` aligned for a printed table."""
        cells = (self.p50, self.p95, self.p99, self.max)
        return "".join(f"{cell:>9.1f}" for cell in cells) + f"   (n={self.n})"


# -- /proc readings ----------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User plus system CPU of a process, all its threads; 0 once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return 0.0
    fields = raw.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process and its live descendants (a worker's render processes, Chromium's)."""
    return sum(cpu_seconds(p) for p in [pid, *descendants(pid)])


def rss_bytes(pid: int) -> int:
    """Resident memory (``VmRSS``); 0 once the process is gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def machine_busy_seconds() -> float:
    """CPU seconds spent by every process on the machine, all cores (``/proc/stat``)."""
    first = Path("/proc/stat").read_text(encoding="ascii").splitlines()[0].split()
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in first[1:9])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def wait_for_quiet(limit: float = QUIET_WAIT) -> float:
    """Wait, at most ``limit`` seconds, until processes other than this one and its
    descendants keep fewer than ``QUIET_CORES`` busy (the machine is shared); the last
    reading, in cores (the phase runs anyway after the limit, and the report shows the load).
    """
    deadline = time.monotonic() + limit
    while True:
        mine = [os.getpid(), *descendants(os.getpid())]
        before = machine_busy_seconds() - sum(map(cpu_seconds, mine))
        time.sleep(1.0)
        busy = max(machine_busy_seconds() - sum(map(cpu_seconds, mine)) - before, 0.0)
        if busy < QUIET_CORES or time.monotonic() >= deadline:
            return busy


type Reader = Callable[[], float]


@dataclass
class CpuMeter:
    """CPU seconds of named readers (a process, a process tree) between ``start`` and
    ``stop``, plus ``client`` (this process), ``other`` (the rest of the machine) and
    ``wall``; and the change of any counters (commands served by the data servers).
    """

    readers: dict[str, Reader]
    counters: Callable[[], dict[str, float]] | None = None
    counts: dict[str, float] = field(default_factory=dict[str, float])
    _before: dict[str, float] = field(default_factory=dict[str, float])

    def read(self) -> dict[str, float]:
        """Every reading now."""
        now = {name: read() for name, read in self.readers.items()}
        now["client"] = time.process_time()
        now["machine"] = machine_busy_seconds()
        now["wall"] = time.monotonic()
        return now

    def start(self) -> None:
        """Take the first reading."""
        self.counts = self.counters() if self.counters else {}
        self._before = self.read()

    def stop(self) -> dict[str, float]:
        """The change of every reading since ``start``; ``counts`` holds the counters'."""
        after = self.read()
        spent = {name: after[name] - self._before.get(name, 0.0) for name in after}
        machine = spent.pop("machine")
        spent["other"] = max(machine - sum(v for k, v in spent.items() if k != "wall"), 0.0)
        if self.counters:
            before, self.counts = self.counts, self.counters()
            self.counts = {k: v - before.get(k, 0.0) for k, v in self.counts.items()}
        return spent


def supervise(name: str, limit: float, work: Callable[[Children, Path], None]) -> int:
    """Run ``work`` with a temporary folder and the list of the processes it starts, and stop
    every one of them whatever happens. Ctrl-C, SIGTERM, SIGHUP and the time ``limit`` (in
    seconds, SIGALRM) end it through its ``finally`` blocks. The exit status.
    """

    def interrupt(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    # A shell that starts a job in the background makes it ignore SIGINT.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
        signal.signal(signum, interrupt)
    signal.alarm(round(limit))
    children = Children()
    try:
        with tempfile.TemporaryDirectory(prefix=f"vitae-{name}-") as tmp:
            try:
                work(children, Path(tmp))
            finally:
                children.stop_all()
    except KeyboardInterrupt as stop:
        say(f"\nstopped ({stop or 'Ctrl-C'}); every process started is stopped")
        return 130
    except BenchError as error:
        say(f"failed: {error}")
        return 1
    return 0


# -- py-spy ------------------------------------------------------------------------------------


def start_profile(pids: dict[str, int], seconds: float, out: Path) -> list[subprocess.Popen[bytes]]:
    """``py-spy record`` on each process for ``seconds``, raw stacks to ``out/NAME``."""
    out.mkdir(parents=True, exist_ok=True)
    spy = str(Path(sys.executable).with_name("py-spy"))
    options = f"--duration {round(seconds)} --rate 200 --gil --nonblocking --format raw".split()
    return [
        subprocess.Popen(
            [spy, "record", "--pid", str(pid), *options, "--output", str(out / name)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, pid in pids.items()
    ]


def top_functions(raw: Path, count: int = 12) -> list[tuple[str, float]]:
    """The functions most often on a CPU (innermost frame) in a raw py-spy file, with their
    share of the samples.
    """
    selfs: Counter[str] = Counter()
    total = 0
    if raw.exists():
        for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
            stack, _, samples = line.rpartition(" ")
            if stack and samples.isdigit():
                selfs[stack.rsplit(";", 1)[-1]] += int(samples)
                total += int(samples)
    return [(frame, n / total) for frame, n in selfs.most_common(count)]


# -- the counting proxy in front of the store --------------------------------------------------

OP_MSG = 2013
HEADER = struct.Struct("<iiii")


def command_name(opcode: int, body: bytes) -> str:
    """The command of one client message: the first key of an OP_MSG's body section."""
    if opcode != OP_MSG:
        return f"opcode {opcode}"
    # flagBits (4 bytes), section kind (1 byte, 0 = body), BSON length (4), element type (1)
    if len(body) < 10 or body[4] != 0:
        return "OP_MSG (sequence first)"
    end = body.find(b"\0", 10)
    return body[10:end].decode("utf-8", "replace") if end > 0 else "OP_MSG"


async def proxy(listen: int, target: int, out: Path) -> None:
    """Forward bytes both ways unchanged, count the clients' commands by name, and rewrite
    ``out`` (JSON, atomically) when they changed, at most every 0.2 s; until SIGTERM.
    """
    counts: Counter[str] = Counter()

    async def upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await reader.readexactly(HEADER.size)
            length, _, _, opcode = HEADER.unpack(head)
            body = await reader.readexactly(length - HEADER.size)
            counts[command_name(opcode, body)] += 1
            writer.write(head + body)
            await writer.drain()

    async def downstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)
        pumps = [
            asyncio.create_task(upstream(reader, up_writer)),
            asyncio.create_task(downstream(up_reader, writer)),
        ]
        with contextlib.suppress(Exception):
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for pump in pumps:
            pump.cancel()
        writer.close()
        up_writer.close()

    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    written: dict[str, int] = {}
    while not stop.is_set():
        if dict(counts) != written:
            written = dict(counts)
            out.with_suffix(".part").write_text(json.dumps(written), encoding="utf-8")
            out.with_suffix(".part").replace(out)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.2)
    server.close()


if __name__ == "__main__":
    asyncio.run(proxy(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])))
