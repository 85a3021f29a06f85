# ruff: noqa: INP001  (a helper of bench/pipeline.py, not a package)
"""The physical limit: the sample résumé compiled by Typst in this process, through
``vitae.rendering.render_pdf`` (one cached compiler per thread, as the worker's ``Renderer``),
in a closed loop on 1 and N threads.

Typst memoises (comemo) inside a compiler, so compiling the same input again can cost less
than a new one; both are measured: ``same`` repeats the sample, ``distinct`` changes the name
on every compile (the layout, and so the work, stays the same).
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass
from typing import Literal

from pipeline_common import (
    MS,
    QUIET_WAIT,
    TEMPLATE,
    percentile,
    sample_resume,
    variant,
    wait_for_quiet,
)
from pypdf import PdfReader

from vitae.rendering import RenderOptions, default_templates_dir, render_pdf

type Inputs = Literal["same", "distinct"]


@dataclass(frozen=True, slots=True)
class EngineResult:
    """A renderer measured in a closed loop: latency of one document, documents per second on
    ``workers`` threads or processes, and CPU per document (all threads and helpers).
    """

    engine: str
    inputs: str
    workers: int
    docs: int
    median_ms: float
    p95_ms: float
    per_second: float
    cpu_ms: float
    pages: int


def count_pages(pdf: bytes) -> int:
    """Pages of a PDF, to check that the engines render comparable documents."""
    from io import BytesIO  # noqa: PLC0415

    return len(PdfReader(BytesIO(pdf)).pages)


def _closed_loop(
    threads: int, duration: float, inputs: Inputs, options: RenderOptions
) -> tuple[list[float], float, float]:
    """Every thread compiles back to back until the deadline; returns the latencies, the
    elapsed time and the process's CPU seconds over the window.
    """
    resume = sample_resume()
    templates = default_templates_dir()
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(10**9))
    ready = threading.Barrier(threads + 1)
    go = threading.Barrier(threads + 1)
    deadline = [0.0]

    def work() -> None:
        render_pdf(variant(resume, 0), options, templates_dir=templates)  # builds the compiler
        ready.wait()
        go.wait()
        mine: list[float] = []
        while time.perf_counter() < deadline[0]:
            with lock:
                index = next(counter)
            doc = resume if inputs == "same" else variant(resume, index + 1)
            started = time.perf_counter()
            render_pdf(doc, options, templates_dir=templates)
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    pool = [threading.Thread(target=work, name=f"typst-{i}") for i in range(threads)]
    for thread in pool:
        thread.start()
    ready.wait()
    cpu, started = time.process_time(), time.perf_counter()
    deadline[0] = started + duration
    go.wait()
    for thread in pool:
        thread.join()
    return latencies, time.perf_counter() - started, time.process_time() - cpu


def measure_typst(threads: int, duration: float, inputs: Inputs) -> EngineResult:
    """Typst in-process on ``threads`` threads for about ``duration`` seconds."""
    options = RenderOptions(template=TEMPLATE)
    wait_for_quiet(QUIET_WAIT)
    latencies, elapsed, cpu = _closed_loop(threads, duration, inputs, options)
    ordered = sorted(latencies)
    pdf = render_pdf(sample_resume(), options, templates_dir=default_templates_dir())
    return EngineResult(
        engine="Typst (in-process)",
        inputs=inputs,
        workers=threads,
        docs=len(ordered),
        median_ms=statistics.median(ordered) * MS,
        p95_ms=percentile(ordered, 95) * MS,
        per_second=len(ordered) / elapsed,
        cpu_ms=cpu / len(ordered) * MS,
        pages=count_pages(pdf),
    )
