"""An asyncio facade over the render processes."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vitae.rendering.catalog import TemplateInfo, list_templates
from vitae.rendering.pdf import RenderOptions, encode_resume
from vitae.rendering.processes import RenderPool
from vitae.rendering.settings import RenderSettings


class Renderer:
    """Renders résumés in render processes (`settings.processes`, default one per CPU), each
    with its own compilers, within the settings' limits (time, memory, pages).

    A render past its time or memory limit is killed with its process, which is replaced;
    see `vitae.rendering.processes`.
    """

    def __init__(self, templates_dir: Path, settings: RenderSettings | None = None) -> None:
        self._templates_dir = templates_dir
        self._pool = RenderPool(templates_dir, settings or RenderSettings())

    async def render(
        self,
        resume: Mapping[str, Any],
        options: RenderOptions,
        *,
        owner: str | None = None,
        wait: float | None = None,
    ) -> bytes:
        """Render a JSON Resume document to PDF bytes.

        Raises `RenderError` when a retry would fail the same way (template or data error,
        time, memory or page limit) and `RenderUnavailableError` when it might not (the render
        process died, or none was free in time). `owner` (a user id) may hold only some of
        the processes at once, so that one user's renders cannot take all of them. `wait`
        shortens the settings' wait for a free process (a job that spent part of its time
        already, fetching a photo, keeps within its own limit).
        """
        # Encoded here, so the process sees the résumé as it was when render() was called.
        return await self._pool.render(encode_resume(resume), options, owner, wait)

    def templates(self) -> list[TemplateInfo]:
        """Return the template catalog, sorted by name."""
        return list_templates(self._templates_dir)

    def pids(self) -> list[int]:
        """The process ids of the render processes."""
        return self._pool.pids()

    def ready(self) -> int:
        """How many render processes are warm and free."""
        return self._pool.ready()

    def close(self) -> None:
        """Stop the render processes."""
        self._pool.close()
