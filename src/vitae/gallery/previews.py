"""Preview images of templates: the first page of a built-in sample résumé, as PNG."""

import asyncio
import json
from pathlib import Path
from typing import Any, Final

from vitae.rendering import RenderError, RenderOptions, render_png

# The sample résumé shipped with the templates (the canonical JSON Resume sample).
SAMPLE_PATH: Final = Path("lib") / "sample.json"
# 110 pixels per inch: an A4 page is 910 by 1286 pixels, sharp enough to judge a design.
PREVIEW_PPI: Final = 110.0


def preview_sample(templates_dir: Path) -> dict[str, Any]:
    """The sample résumé previews are rendered from; raises `RenderError` if it is missing."""
    path = templates_dir / SAMPLE_PATH
    try:
        sample = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RenderError(f"cannot read the preview sample {path}: {exc}") from exc
    if not isinstance(sample, dict):
        raise RenderError(f"the preview sample {path} must hold a JSON object")
    return sample  # pyright: ignore[reportUnknownVariableType]


def render_preview(templates_dir: Path, template: str, ppi: float = PREVIEW_PPI) -> bytes:
    """The first page of the sample rendered with `template`'s defaults, as PNG bytes."""
    pages = render_png(
        preview_sample(templates_dir), RenderOptions(template), templates_dir=templates_dir, ppi=ppi
    )
    return pages[0]


class PreviewCache:
    """Previews rendered once per app instance and kept in memory (in its state).

    Rendering is deterministic, so a cached image is the image a new render would give; a
    template that changes on disk is picked up at the next start.
    """

    def __init__(self) -> None:
        self._images: dict[tuple[Path, str], bytes] = {}
        self._lock = asyncio.Lock()

    async def get(self, templates_dir: Path, template: str) -> bytes:
        """The preview of `template`, rendered in a worker thread the first time."""
        key = (templates_dir, template)
        cached = self._images.get(key)
        if cached is not None:
            return cached
        # One render at a time: concurrent first requests wait for it instead of repeating it.
        async with self._lock:
            cached = self._images.get(key)
            if cached is None:
                cached = await asyncio.to_thread(render_preview, templates_dir, template)
                self._images[key] = cached
        return cached
