# ruff: noqa: INP001  (a helper of bench/pipeline.py, not a package)
"""The peers: the same résumé as HTML (bench/peers_html.py) rendered to PDF by WeasyPrint in
process, and by headless Chromium (Debian's ``chromium``) through Playwright with one reused
page per worker. Each engine runs a closed loop on 1 and on 2 workers (processes for
WeasyPrint, which holds the GIL; pages of one browser for Chromium), every document with a
distinct name, like the Typst ``distinct`` rows.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from peers_html import resume_html
from pipeline_common import (
    MS,
    QUIET_WAIT,
    BenchError,
    percentile,
    sample_resume,
    tree_cpu_seconds,
    variant,
    wait_for_quiet,
)
from pipeline_limit import EngineResult, count_pages

if TYPE_CHECKING:
    from collections.abc import Iterator

    from playwright.async_api import Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WARMUP_DOCS = 3


def _result(
    engine: str, workers: int, latencies: list[float], elapsed: float, cpu: float, pages: int
) -> EngineResult:
    ordered = sorted(latencies)
    return EngineResult(
        engine=engine,
        inputs="distinct",
        workers=workers,
        docs=len(ordered),
        median_ms=statistics.median(ordered) * MS,
        p95_ms=percentile(ordered, 95) * MS,
        per_second=len(ordered) / elapsed,
        cpu_ms=cpu / len(ordered) * MS,
        pages=pages,
    )


# -- WeasyPrint --------------------------------------------------------------------------------


def _weasyprint_loop(start_at: float, duration: float, offset: int) -> tuple[list[float], float]:
    """One process's closed loop from ``start_at`` (wall clock, so that processes start
    together) for ``duration`` seconds; returns its latencies and its CPU seconds.
    """
    from weasyprint import HTML  # noqa: PLC0415  (imported in each worker process)

    resume = sample_resume()
    for i in range(WARMUP_DOCS):
        HTML(string=resume_html(variant(resume, offset + i))).write_pdf()
    time.sleep(max(start_at - time.time(), 0.0))
    cpu = time.process_time()
    deadline = time.perf_counter() + duration
    latencies: list[float] = []
    index = offset + WARMUP_DOCS
    while time.perf_counter() < deadline:
        page = resume_html(variant(resume, index))
        started = time.perf_counter()
        HTML(string=page).write_pdf()
        latencies.append(time.perf_counter() - started)
        index += 1
    return latencies, time.process_time() - cpu


def measure_weasyprint(workers: int, duration: float) -> EngineResult:
    """WeasyPrint in this process (1 worker) or in ``workers`` processes at once."""
    from weasyprint import HTML  # noqa: PLC0415  (an optional dependency of the benchmark)

    pdf = HTML(string=resume_html(sample_resume())).write_pdf()
    pages = count_pages(pdf or b"")
    wait_for_quiet(QUIET_WAIT)
    if workers == 1:
        started = time.perf_counter()
        latencies, cpu = _weasyprint_loop(time.time(), duration, 0)
        elapsed = time.perf_counter() - started
        return _result("WeasyPrint (in-process)", 1, latencies, elapsed, cpu, pages)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        # Every process imports WeasyPrint and warms up before the common start.
        start_at = time.time() + 6.0
        futures = [
            pool.submit(_weasyprint_loop, start_at, duration, 10_000 * (i + 1))
            for i in range(workers)
        ]
        results = [future.result() for future in futures]
    latencies = [lat for lats, _ in results for lat in lats]
    cpu = sum(spent for _, spent in results)
    return _result("WeasyPrint (in-process)", workers, latencies, duration, cpu, pages)


# -- Chromium ----------------------------------------------------------------------------------


def chromium_available() -> bool:
    """Debian's chromium is installed (Playwright never downloads a browser here)."""
    return CHROMIUM.exists() and os.access(CHROMIUM, os.X_OK)


async def _print_loop(
    page: Page,
    resume: dict[str, Any],
    counter: Iterator[int],
    latencies: list[float],
    deadline: float,
) -> None:
    """One page printing distinct résumés back to back until the deadline."""
    while time.perf_counter() < deadline:
        html = resume_html(variant(resume, next(counter)))
        started = time.perf_counter()
        await page.set_content(html)
        await page.pdf(format="A4", print_background=True)
        latencies.append(time.perf_counter() - started)


async def _chromium(workers_list: list[int], duration: float) -> list[EngineResult]:
    from playwright.async_api import async_playwright  # noqa: PLC0415

    resume = sample_resume()
    results: list[EngineResult] = []
    async with async_playwright() as driver:
        browser = await driver.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            pdf = b""
            pages = [await browser.new_page() for _ in range(max(workers_list))]
            for page in pages:
                for i in range(WARMUP_DOCS):
                    await page.set_content(resume_html(variant(resume, i)))
                    pdf = await page.pdf(format="A4", print_background=True)
            page_count = count_pages(pdf)
            counter = iter(range(100_000, 10**9))
            for workers in workers_list:
                latencies: list[float] = []
                await asyncio.to_thread(wait_for_quiet, QUIET_WAIT)
                deadline = time.perf_counter() + duration
                cpu = tree_cpu_seconds(os.getpid())
                started = time.perf_counter()
                await asyncio.gather(
                    *(_print_loop(p, resume, counter, latencies, deadline) for p in pages[:workers])
                )
                elapsed = time.perf_counter() - started
                cpu = tree_cpu_seconds(os.getpid()) - cpu
                results.append(
                    _result("Chromium (reused page)", workers, latencies, elapsed, cpu, page_count)
                )
        finally:
            await browser.close()
    return results


def measure_chromium(workers_list: list[int], duration: float) -> list[EngineResult]:
    """Chromium printing to PDF from a reused page per worker, on 1 and 2 pages of one
    browser. CPU counts the browser's processes, Playwright's driver and this process.
    """
    if not chromium_available():
        raise BenchError(f"{CHROMIUM} is missing (apt-get install chromium)")
    return asyncio.run(_chromium(workers_list, duration))
