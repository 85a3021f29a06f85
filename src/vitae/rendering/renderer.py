"""An asyncio facade over `render_pdf`, running compiles in a thread pool."""

import asyncio
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from vitae.rendering.catalog import TemplateInfo, list_templates
from vitae.rendering.pdf import RenderOptions, encode_resume, render_encoded


class Renderer:
    """Renders résumés on a pool of `threads` workers, each thread with its own compilers.

    Typst releases the GIL while compiling, so threads give real parallelism.
    """

    def __init__(self, templates_dir: Path, threads: int | None = None) -> None:
        workers = threads if threads is not None else (os.cpu_count() or 1)
        if workers < 1:
            raise ValueError("threads must be at least 1")
        self._templates_dir = templates_dir
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vitae-render")

    async def render(self, resume: Mapping[str, Any], options: RenderOptions) -> bytes:
        """Render a JSON Resume document to PDF bytes; raises `RenderError` on failure."""
        # Encoded here, so the worker sees the résumé as it was when render() was called.
        data = encode_resume(resume)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool, render_encoded, data, options, self._templates_dir
        )

    def templates(self) -> list[TemplateInfo]:
        """Return the template catalog, sorted by name."""
        return list_templates(self._templates_dir)

    def close(self) -> None:
        """Finish running compiles, drop queued ones and stop the threads."""
        self._pool.shutdown(wait=True, cancel_futures=True)
