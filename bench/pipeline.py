# ruff: noqa: INP001  (a script, not a package)
"""The export pipeline against its physical limit and its peers (issue 5), in one run.

    uv run python bench/pipeline.py [--quick] [--no-s3] [--no-chromium] [--no-knobs]
                                    [--count-store]

1. The limit: the sample résumé compiled by Typst in this process (``render_pdf``, one
   compiler per thread) on 1 and N threads, the same input again and again and a distinct
   input each time.
2. The peers: the same résumé as HTML rendered by WeasyPrint in-process and by headless
   Chromium (Debian's ``chromium`` through Playwright, one reused page per worker).
3. Vitae end to end: the processes ``vitae dev`` starts (embedded Valkey and MongoDB-wire
   store, ``vitae api``, then one and two ``vitae worker``; local storage, then S3 on moto's
   server), under open-loop load at fractions of the measured saturation throughput;
   latency from the scheduled POST to the ``completed`` event of the export's SSE stream;
   CPU per export of every process from ``/proc/<pid>/stat``.
4. Knobs: worker concurrency and render threads of one worker, at saturation and half load.

Valkey's commands per export are always counted (``INFO commandstats``); ``--count-store``
also counts the store's, through a small proxy in front of it (one more hop, so its latency
figures are not comparable with a run without it).

Figures are printed and written, with a plot, between markers in docs/benchmarks.md (the
prose around them is kept). Everything runs on loopback in a temporary directory; every
process the benchmark starts is stopped on exit, on error, on Ctrl-C and at the time limit.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from isolation import measure_isolation
from pipeline_common import (
    ROOT,
    BenchError,
    load_average,
    say,
    stop_on_signals,
)
from pipeline_e2e import Plan, run_config
from pipeline_limit import measure_typst
from pipeline_report import (
    Report,
    plot_latency,
    relative,
    results_markdown,
    write_block,
)
from pipeline_stack import StackConfig
from processes import Children

if TYPE_CHECKING:
    from pipeline_load import ConfigResult

DOC = ROOT / "docs" / "benchmarks.md"
PLOT = ROOT / "docs" / "benchmarks-latency.png"
HARD_LIMIT = 15 * 60  # seconds: past this the run is interrupted, whatever it is doing
KNOBS = (
    StackConfig(1, "local", concurrency=1, render_threads=1),
    StackConfig(1, "local", concurrency=10, render_threads=1),
    StackConfig(1, "local", concurrency=4, render_threads=2),
    StackConfig(1, "local", concurrency=30, render_threads=2),
)


@dataclass(frozen=True, slots=True)
class Durations:
    """Seconds of each kind of measurement."""

    limit: float
    peers: float
    plan: Plan
    knobs: Plan


FULL = Durations(
    limit=3.0,
    peers=4.0,
    plan=Plan(duration=10.0, fractions=(0.25, 0.5, 0.75, 0.9)),
    knobs=Plan(duration=6.0, fractions=(0.5,)),
)
QUICK = Durations(
    limit=1.5,
    peers=2.0,
    plan=Plan(duration=4.0, fractions=(0.25, 0.5, 0.9), pool=40, probe=30),
    knobs=Plan(duration=4.0, fractions=(0.5,), pool=40, probe=30),
)


def command_line() -> str:
    """How this run was started, for the report."""
    return " ".join(["bench/pipeline.py", *map(shlex.quote, sys.argv[1:])])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="shorter phases (about 3 minutes)")
    parser.add_argument("--no-s3", action="store_true", help="skip the S3 (moto) configuration")
    parser.add_argument("--no-chromium", action="store_true", help="skip headless Chromium")
    parser.add_argument("--no-knobs", action="store_true", help="skip the tuning-knob runs")
    parser.add_argument("--threads", type=int, default=2, help="N of the limit (default 2)")
    parser.add_argument(
        "--count-store",
        action="store_true",
        help="count the store's commands per export through a proxy (adds a hop)",
    )
    parser.add_argument("--doc", type=Path, default=DOC, help="the Markdown file to update")
    parser.add_argument("--plot", type=Path, default=PLOT, help="the PNG plot to write")
    parser.add_argument("--no-write", action="store_true", help="print only")
    return parser.parse_args(argv)


def run_limit(report: Report, seconds: float, threads: int) -> None:
    """Typst in-process, same and distinct inputs, on 1 and N threads."""
    say("the limit: Typst in-process …")
    for count in sorted({1, threads}):
        for inputs in ("same", "distinct"):
            row = measure_typst(count, seconds, inputs)
            report.limit.append(row)
            say(
                f"  {inputs:>8}, {count} thread(s): median {row.median_ms:.1f} ms, "
                f"{row.per_second:.1f}/s, CPU {row.cpu_ms:.1f} ms/compile"
            )
    say("  the isolation: a render process against a thread …")
    for cost in measure_isolation(min(seconds, 5.0)):
        report.notes.append(cost.line())
        say(f"    {cost.line()}")


def run_peers(report: Report, seconds: float, *, chromium: bool) -> None:
    """WeasyPrint and Chromium on the same résumé as HTML; a missing engine is noted."""
    from peers_render import measure_chromium, measure_weasyprint  # noqa: PLC0415

    say("the peers …")
    try:
        for workers in (1, 2):
            report.peers.append(measure_weasyprint(workers, seconds))
    except (ImportError, OSError) as error:
        report.notes.append(f"WeasyPrint could not run ({error}); see docs/benchmarks.md")
    if chromium:
        try:
            report.peers += measure_chromium([1, 2], seconds)
        except (ImportError, BenchError) as error:
            report.notes.append(f"Chromium could not run: {error}")
        except Exception as error:  # noqa: BLE001  (Playwright's errors are many; note and go on)
            report.notes.append(f"Chromium failed: {type(error).__name__}: {error}")
    for row in report.peers:
        say(
            f"  {row.engine}, {row.workers} worker(s): median {row.median_ms:.1f} ms, "
            f"{row.per_second:.1f}/s, CPU {row.cpu_ms:.1f} ms/PDF"
        )


def run_e2e(
    report: Report,
    children: Children,
    workdir: Path,
    durations: Durations,
    args: argparse.Namespace,
) -> None:
    """Each configuration in turn; then the knobs."""
    say("Vitae end to end …")
    configs = [StackConfig(1, "local"), StackConfig(2, "local")]
    if not args.no_s3:
        configs.append(StackConfig(2, "s3"))
    for index, config in enumerate(configs):
        result = _attempt(report, config, children, workdir / f"e2e-{index}", durations.plan, args)
        if result is not None:
            report.configs.append(result)
    if args.no_knobs or args.quick:
        return
    say("tuning knobs …")
    for index, config in enumerate(KNOBS):
        result = _attempt(
            report, config, children, workdir / f"knob-{index}", durations.knobs, args
        )
        if result is not None:
            report.knobs.append(result)


def _attempt(
    report: Report,
    config: StackConfig,
    children: Children,
    workdir: Path,
    plan: Plan,
    args: argparse.Namespace,
) -> ConfigResult | None:
    """One configuration; a failure is noted in the report and the run goes on."""
    try:
        return run_config(config, children, workdir, plan, count_store=args.count_store)
    except BenchError as error:
        say(f"    {config.label} failed: {error}")
        report.notes.append(f"{config.label} failed: {str(error).splitlines()[0]}")
        return None


def measure(args: argparse.Namespace, children: Children, workdir: Path) -> int:
    """The default run: limit, peers, end to end, knobs; then the report."""
    durations = QUICK if args.quick else FULL
    started = time.monotonic()
    report = Report(
        command=command_line(),
        started=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        load_before=load_average(),
    )
    run_limit(report, durations.limit, args.threads)
    run_peers(report, durations.peers, chromium=not args.no_chromium)
    run_e2e(report, children, workdir, durations, args)
    report.elapsed = time.monotonic() - started
    report.load_after = load_average()
    plot = None if args.no_write else plot_latency(report, args.plot)
    markdown = results_markdown(report, plot)
    say()
    say(markdown)
    if not args.no_write:
        write_block(args.doc, "bench", markdown)
        say(f"\nwrote {relative(args.doc)}" + (f" and {relative(plot)}" if plot else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run, report, and stop every process whatever happens."""
    args = parse_args(argv)
    stop_on_signals()
    signal.alarm(HARD_LIMIT)
    children = Children()
    try:
        with tempfile.TemporaryDirectory(prefix="vitae-pipeline-") as tmp:
            try:
                return measure(args, children, Path(tmp))
            finally:
                children.stop_all()
    except KeyboardInterrupt as stop:
        say(f"\nstopped ({str(stop) or 'Ctrl-C'}); every process the benchmark started is stopped")
        return 130
    except BenchError as error:
        say(f"\nthe benchmark failed: {error}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
