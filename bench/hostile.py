# ruff: noqa: INP001  (a script, not a package)
"""What a hostile résumé costs a worker: résumés at the size limits, rendered with each
template in render processes with the default limits (20 s, 1024 MB, 40 pages).

    uv run python bench/hostile.py

Prints, per document and template, the outcome (pages, or the limit that stopped it), the
seconds it took and the render process's peak resident and virtual memory (sampled every
5 ms from /proc); and the footprint of a warm, idle render process.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

from vitae.rendering import Renderer, RenderError, RenderOptions, default_templates_dir
from vitae.rendering.pdf import count_pages
from vitae.rendering.settings import RenderSettings
from vitae.resumes import limits
from vitae.resumes.limits import check_content

TEMPLATES = ("classic", "sidebar", "compact", "academic")


def documents() -> dict[str, dict[str, object]]:
    """Résumés the API accepts, each at some limit."""
    word = "x" * limits.MAX_STRING
    count = limits.MAX_DOCUMENT_BYTES // (limits.MAX_STRING + 3) - 2
    spaced = ("lorem ipsum dolor sit amet " * 400)[: limits.MAX_STRING]
    keywords = [f"keyword{j:03d}" for j in range(60)]
    docs: dict[str, dict[str, object]] = {
        "one unbroken 10,000-character word": {"basics": {"name": "M", "summary": word}},
        "unbroken words up to the size limit": {
            "basics": {"name": "M", "summary": word},
            "work": [{"highlights": [word] * count}],
        },
        "prose up to the size limit": {
            "basics": {"name": "M"},
            "work": [{"name": f"W{i}", "highlights": [spaced] * 2} for i in range(count // 2)],
        },
        "200 skills of 60 keywords": {
            "basics": {"name": "M"},
            "skills": [{"name": f"S{i}", "keywords": keywords} for i in range(limits.MAX_ITEMS)],
        },
    }
    for doc in docs.values():
        check_content(doc)  # each one passes the door
    return docs


def memory_kb(pid: int) -> tuple[int, int]:
    """Resident and virtual size of a process, in kB (zeros once it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return (0, 0)
    rss = re.search(r"^VmRSS:\s+(\d+)", status, re.MULTILINE)
    size = re.search(r"^VmSize:\s+(\d+)", status, re.MULTILINE)
    return (int(rss[1]) if rss else 0, int(size[1]) if size else 0)


async def ready(renderer: Renderer) -> None:
    """Wait for the render process to be warm."""
    deadline = time.monotonic() + 60
    while not renderer.ready():
        if time.monotonic() > deadline:
            raise RuntimeError("the render process did not start")
        await asyncio.sleep(0.01)


async def main() -> None:
    """Each document with each template, in a fresh render process each time."""
    templates = default_templates_dir()
    for name, doc in documents().items():
        print(name)  # noqa: T201  (a script's output)
        for template in TEMPLATES:
            renderer = Renderer(templates, RenderSettings(processes=1))
            try:
                await ready(renderer)
                (pid,) = renderer.pids()
                warm = memory_kb(pid)
                start = time.monotonic()
                task = asyncio.create_task(renderer.render(doc, RenderOptions(template)))
                peak = warm
                while not task.done():
                    now = memory_kb(pid)
                    peak = (max(peak[0], now[0]), max(peak[1], now[1]))
                    await asyncio.sleep(0.005)
                try:
                    outcome = f"{count_pages(task.result())} pages"
                except RenderError as error:
                    outcome = error.message
                print(  # noqa: T201
                    f"  {template:9} {time.monotonic() - start:5.1f} s  {outcome:45} "
                    f"peak RSS {peak[0] // 1024} MB, virtual {peak[1] // 1024} MB "
                    f"(warm: {warm[0] // 1024} / {warm[1] // 1024} MB)"
                )
            finally:
                renderer.close()


if __name__ == "__main__":
    asyncio.run(main())
