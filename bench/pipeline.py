"""`just bench`: the export pipeline against its limit and its peers, in one run; each part is
described in docs/benchmarks.md.

1. typst: ``render_pdf`` in this process on 1 and N threads, the same input and distinct ones.
2. isolation: one render at a time in a thread and in a render process (the hand-over's cost).
3. templates: each template's compile CPU per document and per page, and a long word's.
4. peers: the same résumé as HTML (bench/peers_html.py) by WeasyPrint and Chromium.
5. e2e: the processes ``vitae dev`` starts (bench/stack.py) under open-loop load
   (bench/load.py): saturation, then 25/50/90 % of it; CPU and commands per export.
6. matrix: saturation of 1 and 2 worker processes, each with 1 and 2 render processes.

Figures are printed and, unless ``--no-write``, written between the ``bench`` markers of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

import measure
from load import ConfigResult, Phase, Plan, measure_stack, run, sample_resume, variant
from measure import MS, ROOT, BenchError, Latency, say, supervise, tree_cpu_seconds
from peers_html import resume_html
from processes import Children
from pypdf import PdfReader
from report import command_line, heading, now, num, publish, table
from stack import StackConfig, start_stack

from vitae.rendering import Renderer, RenderOptions, default_templates_dir, list_templates
from vitae.rendering.pdf import encode_resume, render_encoded, render_pdf
from vitae.rendering.settings import RenderSettings

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

    from playwright.async_api import Page

HARD_LIMIT = 20 * 60  # seconds: past this the run is interrupted, whatever it is doing
PARTS = ("typst", "isolation", "templates", "peers", "e2e", "matrix")
LONG = ROOT / "tests" / "documents" / "samples" / "long.json"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
VITAE = ("api", "worker-", "render-")


def engine(
    name: str, inputs: str, workers: int, lats: list[float], took: float, cpu: float, pdf: bytes
) -> list[str]:
    """A row of the closed-loop table: latencies and CPU in seconds, and one PDF it made."""
    lat, count = Latency.of_seconds(lats), len(PdfReader(BytesIO(pdf)).pages)
    figures = [lat.p50, lat.p95, len(lats) / took, cpu / len(lats) * MS]
    row = [name, inputs, str(workers), *map(num, figures), str(count), str(lat.n)]
    say(f"  {' | '.join(row)}")
    return row


@dataclass
class Report:
    """Everything one run measured."""

    engines: list[list[str]] = field(default_factory=list[list[str]])
    isolation: list[list[str]] = field(default_factory=list[list[str]])
    templates: list[list[str]] = field(default_factory=list[list[str]])
    configs: list[ConfigResult] = field(default_factory=list[ConfigResult])
    matrix: dict[tuple[int, int], float] = field(default_factory=dict[tuple[int, int], float])
    notes: list[str] = field(default_factory=list[str])


# -- Typst alone -------------------------------------------------------------------------------


def _classic(resume: dict[str, Any]) -> bytes:
    """The résumé compiled with the ``classic`` template, in this thread."""
    return render_pdf(resume, RenderOptions("classic"), templates_dir=default_templates_dir())


def _compiles(inputs: str, deadline: float, counter: Iterator[int]) -> list[float]:
    """One thread's closed loop of ``render_pdf`` until the deadline."""
    resume, lats = sample_resume(), []
    while time.perf_counter() < deadline:
        doc = resume if inputs == "same" else variant(resume, next(counter))
        started = time.perf_counter()
        _classic(doc)
        lats.append(time.perf_counter() - started)
    return lats


def _warm(ready: threading.Barrier) -> None:
    """Build this thread's compiler, then wait for the others'."""
    _classic(sample_resume())
    ready.wait()


def typst(report: Report, seconds: float, threads: int) -> None:
    """Closed loops of ``render_pdf`` on 1 and N threads, same and distinct inputs."""
    for count in sorted({1, threads}):
        for inputs in ("same", "distinct"):
            with ThreadPoolExecutor(count) as pool:
                ready = threading.Barrier(count)  # one warm compiler in each thread
                list(pool.map(_warm, [ready] * count))
                measure.wait_for_quiet()
                cpu, started, counter = time.process_time(), time.perf_counter(), itertools.count()
                deadlines = [started + seconds] * count
                loops = pool.map(_compiles, [inputs] * count, deadlines, [counter] * count)
                lats = list(itertools.chain.from_iterable(loops))
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            pdf = _classic(sample_resume())
            report.engines.append(engine("Typst", inputs, count, lats, elapsed, cpu, pdf))


# -- isolation: a render process against a thread --------------------------------------------

TINY_MAIN = '#let data = json(bytes(sys.inputs.data))\nHello #data.at("name", default: "")\n'
TINY_META = {"name": "tiny", "title": "Tiny", "description": "One line.", "options": [
    {"name": "paperSize", "type": "choice", "values": ["a4"], "default": "a4"}]}  # fmt: skip


async def _isolation(
    name: str, resume: dict[str, Any], templates: Path, seconds: float
) -> list[str]:
    """Blocks of ten renders, alternating thread and process, for ``seconds``."""
    options = RenderOptions("tiny" if templates.name == "tiny" else "classic")
    loop, renderer = asyncio.get_running_loop(), Renderer(templates, RenderSettings(processes=1))
    lats: dict[str, list[float]] = {"thread": [], "process": []}
    cpu = dict.fromkeys(lats, 0.0)
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            ways: dict[str, Callable[[], Awaitable[bytes]]] = {
                "thread": lambda: loop.run_in_executor(
                    pool, render_encoded, encode_resume(resume), options, templates),
                "process": lambda: renderer.render(resume, options),
            }  # fmt: skip
            while not renderer.ready():  # noqa: ASYNC110  (the pool has no event to wait on)
                await asyncio.sleep(0.01)
            for way in ways.values():  # warm: compilers, caches
                for _ in range(5):
                    await way()
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                for key, way in ways.items():
                    before = tree_cpu_seconds(os.getpid())
                    for _ in range(10):
                        started = time.perf_counter()
                        await way()
                        lats[key].append(time.perf_counter() - started)
                    cpu[key] += tree_cpu_seconds(os.getpid()) - before
    finally:
        renderer.close()
    thread, process = (Latency.of_seconds(lats[k]) for k in lats)
    per = {k: cpu[k] / len(lats[k]) * MS for k in lats}
    return [name, f"{num(thread.p50)} → {num(process.p50)}", f"{process.p50 - thread.p50:+.2f}",
            f"{num(thread.p95)} → {num(process.p95)}",
            f"{num(per['thread'])} → {num(per['process'])}",
            f"{per['process'] - per['thread']:+.2f}"]  # fmt: skip


def isolation(report: Report, seconds: float) -> None:
    """The isolation's cost for a one-line template, the sample and the long résumé."""
    with tempfile.TemporaryDirectory() as root:
        tiny = Path(root) / "tiny"
        (tiny / "tiny").mkdir(parents=True)
        (tiny / "tiny" / "main.typ").write_text(TINY_MAIN, encoding="utf-8")
        (tiny / "tiny" / "template.json").write_text(json.dumps(TINY_META), encoding="utf-8")
        long = json.loads(LONG.read_text("utf-8"))
        cases = [
            ("a one-line template", {"name": "A"}, tiny),
            ("the sample", sample_resume(), None),
        ]
        for name, resume, templates in [*cases, ("a long résumé", long, None)]:
            measure.wait_for_quiet()
            folder = templates or default_templates_dir()
            report.isolation.append(asyncio.run(_isolation(name, resume, folder, seconds)))
            say(f"  {' | '.join(report.isolation[-1])}")


# -- templates ---------------------------------------------------------------------------------


def templates(report: Report, runs: int) -> None:
    """Each template: pages of the sample, median CPU ms per compile (a new name each time,
    after five to warm up), per page; the CPU of one 50 and 100 KiB word (grows linearly).
    """
    folder, sample = default_templates_dir(), sample_resume()
    for template in list_templates(folder):
        options, times, pdf = RenderOptions(template.name), [], b""
        for index in range(5 + runs):
            started = time.process_time()
            pdf = render_pdf(variant(sample, index), options, templates_dir=folder)
            times.append(time.process_time() - started)
        ms, pages = statistics.median(times[5:]) * MS, len(PdfReader(BytesIO(pdf)).pages)
        words = []
        for kib in (50, 100):
            doc = {"basics": {"name": "A", "summary": ("abcdefghij" * 103 * kib)[: kib * 1024]}}
            started = time.process_time()
            render_pdf(doc, options, templates_dir=folder)
            words.append(f"{time.process_time() - started:.2f} s")
        report.templates.append([template.name, str(pages), num(ms), num(ms / pages), *words])
        say(f"  {' | '.join(report.templates[-1])}")


# -- the peers ---------------------------------------------------------------------------------


def _weasyprint(start_at: float, seconds: float, offset: int) -> tuple[list[float], float, bytes]:
    """One process's closed loop from ``start_at`` (wall clock, so that processes start
    together); its latencies, CPU seconds and one PDF.
    """
    from weasyprint import HTML  # noqa: PLC0415  # pyright: ignore[reportMissingImports]  (bench group)

    resume, lats = sample_resume(), []
    pdf = HTML(string=resume_html(variant(resume, offset))).write_pdf() or b""
    time.sleep(max(start_at - time.time(), 0.0))
    cpu, deadline = time.process_time(), time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        page = resume_html(variant(resume, offset := offset + 1))
        started = time.perf_counter()
        HTML(string=page).write_pdf()
        lats.append(time.perf_counter() - started)
    return lats, time.process_time() - cpu, pdf


async def _print(page: Page, counter: Iterator[int], deadline: float, lats: list[float]) -> None:
    """One page printing distinct résumés back to back until the deadline."""
    resume = sample_resume()
    while time.perf_counter() < deadline:
        html = resume_html(variant(resume, next(counter)))
        started = time.perf_counter()
        await page.set_content(html)
        await page.pdf(format="A4", print_background=True)
        lats.append(time.perf_counter() - started)


async def _chromium(report: Report, seconds: float) -> None:
    """One browser, 1 then 2 reused pages printing distinct résumés back to back."""
    from playwright.async_api import async_playwright  # noqa: PLC0415

    resume, counter = sample_resume(), iter(range(10**9))
    async with async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pages = [await browser.new_page() for _ in range(2)]
        pdf = b""
        for page in pages:
            await page.set_content(resume_html(resume))
            pdf = await page.pdf(format="A4", print_background=True)
        for workers in (1, 2):
            await asyncio.to_thread(measure.wait_for_quiet)
            lats: list[float] = []
            deadline = time.perf_counter() + seconds

            cpu, started = tree_cpu_seconds(os.getpid()), time.perf_counter()
            await asyncio.gather(*(_print(p, counter, deadline, lats) for p in pages[:workers]))
            elapsed = time.perf_counter() - started
            cpu = tree_cpu_seconds(os.getpid()) - cpu
            report.engines.append(engine("Chromium", "distinct", workers, lats, elapsed, cpu, pdf))
        await browser.close()


def peers(report: Report, seconds: float, *, chromium: bool) -> None:
    """WeasyPrint (1 and 2 processes: it holds the GIL) and Chromium; a missing one is noted."""
    try:
        for workers in (1, 2):
            measure.wait_for_quiet()
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(workers, mp_context=context) as pool:
                start_at = time.time() + 8.0  # every process imports WeasyPrint first
                runs = [(start_at, seconds, 10_000 * i) for i in range(workers)]
                done = list(pool.map(_weasyprint, *zip(*runs, strict=True)))
            lats = [lat for one, _, _ in done for lat in one]
            cpu = sum(spent for _, spent, _ in done)
            report.engines.append(
                engine("WeasyPrint", "distinct", workers, lats, seconds, cpu, done[0][2])
            )
    except (ImportError, OSError) as error:
        report.notes.append(f"WeasyPrint could not run: {error}")
    if chromium:
        try:
            asyncio.run(_chromium(report, seconds))
        except Exception as error:  # noqa: BLE001  (Playwright's errors are many: note them)
            report.notes.append(f"Chromium could not run: {type(error).__name__}: {error}")


# -- Vitae end to end --------------------------------------------------------------------------


def e2e(
    report: Report, children: Children, workdir: Path, plan: Plan, config: StackConfig,
    *, profile: Path | None = None, saturation: float | None = None,
) -> ConfigResult | None:  # fmt: skip
    """One configuration (see ``measure_stack``); a failure is noted and the run goes on."""
    say(f"  {config.label}{' (store counted)' * config.count_store} …")
    try:
        stack = start_stack(config, children, workdir)
        try:
            result = run(measure_stack(stack, plan, profile, saturation))
        finally:
            stack.stop()
    except BenchError as error:
        say(f"    failed: {error}")
        report.notes.append(f"{config.label} failed: {str(error).splitlines()[0]}")
        return None
    report.notes += result.notes
    return result


def cpu_row(config: ConfigResult, phase: Phase) -> list[str]:
    """CPU ms per completed export of one phase, by process; the store beside the service."""
    vitae, store = phase.cpu_ms(*VITAE), phase.cpu_ms("mongoeco")
    wall, has = max(phase.cpu.get("wall", 1.0), 1e-9), phase.cpu.__contains__
    figures = [phase.cpu_ms(name) for name in ("api", "worker-", "render-")]
    figures += [vitae, store, 100 * store / (store + vitae), phase.cpu_ms("valkey")]
    figures += [phase.cpu_ms("moto") if has("moto") else math.nan, phase.cpu_ms("client")]
    figures += [phase.per_export("redis:")]
    figures += [phase.per_export("mongo:") if has("store proxy") else math.nan]
    return [config.label, phase.name, *map(num, figures), num(phase.cpu.get("other", 0) / wall, 2)]


LATENCY = [
    *("configuration", "load", "offered /s", "completed /s", "p50 ms", "p95 ms", "p99 ms"),
    *("max ms", "errors / sent", "client lag max ms"),
]
STAGES = ["configuration", "POST answered", "queued", "in the worker", "completed → event"]
CPU = [
    *("configuration", "load", "API", "worker(s)", "render processes", "service (API + workers)"),
    *("store (mongoeco)", "store's share %", "Valkey", "moto", "load client"),
    *("Valkey commands/export", "store commands/export", "other processes (cores)"),
]


def latency_row(config: ConfigResult, phase: Phase) -> list[str]:
    """A row of the latency table."""
    lat, errors = phase.latency, dict(phase.errors)
    sent = f"{sum(errors.values())} / {len(phase.outcomes)} {errors or ''}".strip()
    figures = [phase.rate, phase.throughput, lat.p50, lat.p95, lat.p99, lat.max]
    return [config.label, phase.name, *map(num, figures), sent, num(phase.max_lateness * MS)]


def markdown(report: Report, head: str) -> str:
    """The generated part of docs/benchmarks.md."""
    runs = [(c, p) for c in report.configs for p in c.phases]
    halves = [(c, p) for c, p in runs if p.name == "50%"]
    engines = ["engine", "inputs", "threads / workers", "p50 ms", "p95 ms", "PDFs/s", "CPU ms/PDF"]
    isolation = ["résumé", "p50 ms thread → process", "Δ", "p95 ms", "CPU ms/render", "Δ"]
    templates = ["template", "pages", "CPU ms/document", "CPU ms/page", "50 KiB word", "100 KiB"]
    sections = [
        ("Typst alone and the peers (closed loop)", [*engines, "pages", "n"],
         report.engines),
        ("What a render process costs against a thread", isolation, report.isolation),
        ("Compile CPU per template (the sample, median)", templates, report.templates),
        ("Vitae end to end (open loop; scheduled POST → `completed` event on its stream)",
         LATENCY, [latency_row(c, p) for c, p in runs]),
        ("Where the time goes at 50 % (medians, ms)", STAGES,
         [[c.label, *map(num, p.stage_medians().values())] for c, p in halves]),
        ("CPU per completed export (ms, /proc): the service, and the store apart", CPU,
         [cpu_row(c, p) for c, p in runs]),
        ("Saturation (exports/s), local storage", ["", "1 render process", "2 render processes"],
         [[f"{w} worker(s)", *(num(report.matrix.get((w, r), math.nan)) for r in (1, 2))]
          for w in (1, 2)] if report.matrix else []),
    ]  # fmt: skip
    sections += [
        (f"Profile of {name} at 50 % ({c.label}), py-spy, self time", ["function", "samples"],
         [[f"`{f}`", f"{100 * share:.1f} %"] for f, share in top])
        for c in report.configs for name, top in c.profile.items()
    ]  # fmt: skip
    parts = [head] + [f"### {title}\n\n{table(h, rows)}" for title, h, rows in sections if rows]
    return "\n\n".join(parts + [f"- {n}" for n in report.notes])


def e2e_all(
    report: Report, children: Children, workdir: Path, plan: Plan, args: argparse.Namespace
) -> None:
    """Local storage with 1 and 2 workers, S3 with 2; the store's commands behind the proxy."""
    configs = [StackConfig(1), StackConfig(2)] + [StackConfig(2, storage="s3")] * (not args.no_s3)
    for index, config in enumerate(configs):
        # Profiled: the first local shape, and S3, whose extra cost is botocore's and moto's.
        profiled = args.profile and (index == 0 or config.storage == "s3")
        spy = workdir / f"profile-{index}" if profiled else None
        if result := e2e(report, children, workdir / f"e2e-{index}", plan, config, profile=spy):
            report.configs.append(result)
    if report.configs:  # the store's commands: one more 50 % phase behind the proxy
        counted, config = (
            Plan(plan.duration, (0.5,), pool=plan.pool),
            StackConfig(1, count_store=True),
        )
        saturation = report.configs[0].saturation
        if result := e2e(
            report, children, workdir / "counted", counted, config, saturation=saturation
        ):
            result.label += " (store counted, one more hop)"
            report.configs.append(result)


def matrix(report: Report, children: Children, workdir: Path, plan: Plan) -> None:
    """The saturation of 1 and 2 worker processes, each with 1 and 2 render processes."""
    for workers, render in itertools.product((1, 2), (1, 2)):
        config, path = StackConfig(workers, render=render), workdir / f"matrix-{workers}-{render}"
        if result := e2e(report, children, path, Plan(plan.duration, (), plan.pool), config):
            report.matrix[workers, render] = result.saturation


def run_parts(args: argparse.Namespace, children: Children, workdir: Path) -> Report:
    """Each part asked for, in order."""
    report, seconds, fractions = Report(), 1.5 if args.quick else 3.0, (0.25, 0.5, 0.9)
    plan = Plan(4.0, fractions, pool=40, probe=30) if args.quick else Plan(10.0, fractions)
    steps: dict[str, Callable[[], None]] = {
        "typst": lambda: typst(report, seconds, args.threads),
        "isolation": lambda: isolation(report, seconds),
        "templates": lambda: templates(report, 10 if args.quick else 40),
        "peers": lambda: peers(report, seconds, chromium=not args.no_chromium),
        "e2e": lambda: e2e_all(report, children, workdir, plan, args),
        "matrix": lambda: matrix(report, children, workdir, plan),
    }
    for part in PARTS:
        if part in (args.only or PARTS):
            say(f"{part} …")
            steps[part]()
    return report


def bench(args: argparse.Namespace, children: Children, workdir: Path) -> None:
    """Run each part asked for, and report."""
    started, clock = now(), time.monotonic()
    report = run_parts(args, children, workdir)
    head = heading("just bench", started, time.monotonic() - clock)
    publish(markdown(report, head), "bench", write=not args.no_write)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the benchmark under ``supervise``."""
    parser = command_line(__doc__)
    add = parser.add_argument
    add("--quick", action="store_true", help="shorter phases (about 5 minutes)")
    add("--only", choices=PARTS, action="append", help="run only these parts (repeatable)")
    add("--no-s3", action="store_true", help="skip the S3 (moto) configuration")
    add("--no-chromium", action="store_true", help="skip headless Chromium")
    add("--threads", type=int, default=2, help="N of the Typst threads (2)")
    add("--profile", action="store_true", help="py-spy on API, workers, store at 50 %% load")
    return supervise("bench", HARD_LIMIT, partial(bench, parser.parse_args(argv)))


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
