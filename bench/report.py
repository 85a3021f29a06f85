"""Reports: Markdown tables, the machine and versions measured, and writing a generated part
of docs/benchmarks.md between its ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->`` markers
(the prose around them is kept).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import re
import shlex
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from measure import ROOT, say

DOC = ROOT / "docs" / "benchmarks.md"
PACKAGES = ("typst", "weasyprint", "playwright", "litestar", "saq", "mongoeco", "moto")


def command_line(doc: str | None, *, writes: bool = True) -> argparse.ArgumentParser:
    """An entry point's options, described by the first paragraph of its docstring; with
    ``writes``, ``--no-write``.
    """
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n", 1)[0])
    if writes:
        parser.add_argument(
            "--no-write", action="store_true", help="print only, leave docs/benchmarks.md alone"
        )
    return parser


def num(value: float, digits: int = 1) -> str:
    """A figure for a table: thousands separated, a dash for none."""
    return "–" if math.isnan(value) else f"{value:,.{digits}f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _version(package: str) -> str:
    try:
        return f"{package} {metadata.version(package)}"
    except metadata.PackageNotFoundError:
        return f"{package} not installed"


def machine() -> str:
    """The machine and the versions measured."""
    info = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace").splitlines()
    cpu = next((x.split(":", 1)[1].strip() for x in info if x.startswith("model name")), "?")
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    try:
        chromium = subprocess.run(
            ["/usr/bin/chromium", "--version"], capture_output=True, text=True, timeout=20,
            check=False,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        chromium = "no Chromium"
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, Linux {platform.release()}, "
        f"Python {platform.python_version()}; {', '.join(map(_version, PACKAGES))}, {chromium}"
    )


def heading(recipe: str, started: datetime, elapsed: float) -> str:
    """Which command ran when, for how long, on what, and how busy the machine was."""
    command = " ".join([recipe, *map(shlex.quote, sys.argv[1:])])
    return (
        f"Run `{command}` on {started:%Y-%m-%d %H:%M} UTC, {elapsed / 60:.1f} min. Machine: "
        f"{machine()}. One-minute load average at the end: {os.getloadavg()[0]:.2f}."
    )


def now() -> datetime:
    """The time a run started."""
    return datetime.now(UTC)


def publish(markdown: str, marker: str, *, write: bool, doc: Path = DOC) -> None:
    """Print the report; with ``write``, replace the part of ``doc`` between its markers."""
    say()
    say(markdown)
    if not write:
        return
    text = doc.read_text(encoding="utf-8")
    begin, end = f"<!-- {marker}:begin -->", f"<!-- {marker}:end -->"
    if begin not in text or end not in text:
        text = text.rstrip("\n") + f"\n\n{begin}\n{end}\n"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    doc.write_text(pattern.sub(lambda _: f"{begin}\n{markdown}\n{end}", text, count=1), "utf-8")
    say(f"\nwrote {doc.relative_to(ROOT) if doc.is_relative_to(ROOT) else doc}")
