# ruff: noqa: INP001, T201  (a script that prints its figures)
"""Compile cost of every template: CPU milliseconds per document and per page.

    uv run python bench/templates.py [--runs 40]

The sample résumé (examples/jsonresume-sample.json), one reused compiler per template as in
the workers, and a different name and summary on every compile: Typst caches what it can
between compiles, so the same input twice would measure the cache. The first five compiles
warm up; the figure is the median CPU time (process time, so other load on the machine
counts less than in wall time) of the rest. Also: a 50 KiB and a 100 KiB word without a
space, whose cost must grow linearly.
"""

import argparse
import io
import json
import statistics
import time
from pathlib import Path

import pypdf
import typst

from vitae.rendering import RenderOptions, default_templates_dir, list_templates, render_pdf

SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "jsonresume-sample.json"
WARM_UP = 5


def per_template(name: str, templates_dir: Path, runs: int) -> tuple[int, float]:
    """Pages of the sample and the median CPU milliseconds of one compile."""
    compiler = typst.Compiler(
        templates_dir / name / "main.typ",
        root=templates_dir,
        font_paths=[templates_dir / "fonts"],
        ignore_system_fonts=True,
    )
    sample = json.loads(SAMPLE.read_text(encoding="utf-8"))
    times: list[float] = []
    pdf = b""
    for run in range(WARM_UP + runs):
        resume = json.loads(json.dumps(sample))
        resume["basics"]["name"] += f" {run}"
        resume["basics"]["summary"] += f" ({run})"
        started = time.process_time()
        result = compiler.compile(sys_inputs={"data": json.dumps(resume), "options": "{}"})
        times.append(time.process_time() - started)
        if not isinstance(result, bytes):
            raise TypeError(f"template {name!r} produced no PDF")
        pdf = result
    pages = len(pypdf.PdfReader(io.BytesIO(pdf)).pages)
    return pages, statistics.median(times[WARM_UP:]) * 1000


def long_word_seconds(name: str, templates_dir: Path, kib: int) -> float:
    """CPU seconds of a résumé whose summary is one word of `kib` KiB."""
    word = ("abcdefghij" * (kib * 103))[: kib * 1024]
    started = time.process_time()
    render_pdf(
        {"basics": {"name": "A", "summary": word}}, RenderOptions(name), templates_dir=templates_dir
    )
    return time.process_time() - started


def main() -> None:
    """Print a table of the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    templates_dir = default_templates_dir()
    print(
        "| Template | Pages | CPU ms per document | CPU ms per page | 50 KiB word | 100 KiB word |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for template in list_templates(templates_dir):
        pages, ms = per_template(template.name, templates_dir, args.runs)
        half = long_word_seconds(template.name, templates_dir, 50)
        full = long_word_seconds(template.name, templates_dir, 100)
        print(
            f"| {template.name} | {pages} | {ms:.1f} | {ms / pages:.1f} "
            f"| {half:.2f} s | {full:.2f} s |"
        )


if __name__ == "__main__":
    main()
