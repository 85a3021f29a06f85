# ruff: noqa: INP001  (a script, and a helper of bench/pipeline.py; not a package)
"""What running each compile in a render process costs, against a compile in a thread.

    uv run python bench/isolation.py [--seconds 5]

One render at a time through the same asyncio call a worker's job makes, for the sample
résumé (one page) and the long one (five pages): in a thread (``render_encoded`` in a
one-thread executor, the renderer before render processes) and in one render process
(``Renderer``). Latency is from the call to the PDF in hand; CPU is every thread of this
process plus the render process, from ``/proc``. The difference is the isolation's cost:
the request and the PDF pickled through a pipe, and the event loop waking on it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from vitae.rendering import Renderer, RenderOptions, default_templates_dir
from vitae.rendering.pdf import encode_resume, render_encoded
from vitae.rendering.settings import RenderSettings

ROOT = Path(__file__).resolve().parents[1]
RESUMES = {
    "one page": ROOT / "examples" / "jsonresume-sample.json",
    "five pages": ROOT / "tests" / "documents" / "samples" / "long.json",
}
# A one-line template: its compile takes well under a millisecond, so what is left is the
# cost of the hand-over itself.
TINY = "tiny"
TINY_MAIN = '#let data = json(bytes(sys.inputs.data))\nHello #data.at("name", default: "")\n'
TINY_META = {
    "name": TINY,
    "title": "Tiny",
    "description": "One line.",
    "options": [{"name": "paperSize", "type": "choice", "values": ["a4"], "default": "a4"}],
}
TICKS = os.sysconf("SC_CLK_TCK")
MS = 1000.0


@dataclass(frozen=True, slots=True)
class Run:
    """Renders of one résumé one way: median and p95 latency (ms), CPU per render (ms)."""

    median_ms: float
    p95_ms: float
    cpu_ms: float
    count: int


@dataclass(frozen=True, slots=True)
class Cost:
    """One résumé in a thread and in a render process."""

    resume: str
    thread: Run
    process: Run

    def line(self) -> str:
        """A one-line summary."""
        latency = self.process.median_ms - self.thread.median_ms
        cpu = self.process.cpu_ms - self.thread.cpu_ms
        return (
            f"render process vs thread, {self.resume}: latency median "
            f"{self.thread.median_ms:.1f} → {self.process.median_ms:.1f} ms ({latency:+.2f} ms), "
            f"p95 {self.thread.p95_ms:.1f} → {self.process.p95_ms:.1f} ms; CPU per render "
            f"{self.thread.cpu_ms:.1f} → {self.process.cpu_ms:.1f} ms ({cpu:+.2f} ms)"
        )


def cpu_seconds(pids: list[int]) -> float:
    """CPU time of this process (every thread) and of `pids`."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    total = usage.ru_utime + usage.ru_stime
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


@dataclass(slots=True)
class Samples:
    """Latencies (s) and CPU (s) of one way of rendering."""

    latencies: list[float]
    cpu: float = 0.0

    def run(self) -> Run:
        """The summary."""
        ordered = sorted(self.latencies)
        return Run(
            median_ms=statistics.median(ordered) * MS,
            p95_ms=ordered[int(len(ordered) * 0.95)] * MS,
            cpu_ms=self.cpu / len(ordered) * MS,
            count=len(ordered),
        )


async def block(
    render: Callable[[], Awaitable[bytes]], count: int, pids: list[int], into: Samples
) -> None:
    """`count` renders one after the other, added to `into`."""
    cpu_start = cpu_seconds(pids)
    for _ in range(count):
        start = time.perf_counter()
        await render()
        into.latencies.append(time.perf_counter() - start)
    into.cpu += cpu_seconds(pids) - cpu_start


async def measure_one(
    name: str, resume: dict[str, object], seconds: float, templates: Path
) -> Cost:
    """One résumé in a thread and in a render process, in alternating blocks of ten renders
    (so that a change of the machine's load touches both ways alike) for `seconds` in all.
    """
    options = RenderOptions(TINY if templates.name == TINY else "classic")
    loop = asyncio.get_running_loop()
    renderer = Renderer(templates, RenderSettings(processes=1))
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:

            async def in_thread() -> bytes:
                data = encode_resume(resume)
                return await loop.run_in_executor(pool, render_encoded, data, options, templates)

            async def in_process() -> bytes:
                return await renderer.render(resume, options)

            deadline = time.monotonic() + 30
            while not renderer.ready():
                if time.monotonic() > deadline:
                    raise RuntimeError("the render process did not start")
                await asyncio.sleep(0.01)
            thread, process = Samples([]), Samples([])
            await block(in_thread, 5, [], Samples([]))  # warm: compilers, caches
            await block(in_process, 5, [], Samples([]))
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                await block(in_thread, 10, [], thread)
                await block(in_process, 10, renderer.pids(), process)
    finally:
        renderer.close()
    return Cost(name, thread.run(), process.run())


def measure_isolation(seconds: float) -> list[Cost]:
    """The isolation's cost for a one-line template and each résumé, `seconds` each."""

    async def run(tiny: Path) -> list[Cost]:
        costs = [await measure_one("a one-line template", {"name": "A"}, seconds, tiny)]
        templates = default_templates_dir()
        for name, resume in resumes.items():
            costs.append(await measure_one(name, resume, seconds, templates))
        return costs

    resumes = {name: json.loads(path.read_text(encoding="utf-8")) for name, path in RESUMES.items()}
    with tempfile.TemporaryDirectory() as root:
        tiny = Path(root) / TINY
        (tiny / TINY).mkdir(parents=True)
        (tiny / TINY / "main.typ").write_text(TINY_MAIN, encoding="utf-8")
        (tiny / TINY / "template.json").write_text(json.dumps(TINY_META), encoding="utf-8")
        return asyncio.run(run(tiny))


def main() -> None:
    """Print the cost for each résumé."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="of renders, each way")
    args = parser.parse_args()
    for cost in measure_isolation(args.seconds):
        print(cost.line())  # noqa: T201  (a script's output)


if __name__ == "__main__":
    main()
