"""The gallery routes on a Litestar app of their own (the service's app adds its JWT guard),
with real template catalogue and real preview renders."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.datastructures import State
from litestar.testing import AsyncTestClient

from vitae.errors import VitaeError
from vitae.gallery import GALLERY_ROUTES, PreviewCache, preview_sample
from vitae.http import vitae_error_handler
from vitae.rendering import list_templates
from vitae.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ["academic", "classic", "compact", "sidebar"]


@pytest.fixture(scope="module")
async def gallery(settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    app = Litestar(
        route_handlers=list(GALLERY_ROUTES),
        state=State(
            {
                "settings": settings,
                "templates": list_templates(settings.templates_dir),
                "previews": PreviewCache(),
            }
        ),
        exception_handlers={VitaeError: vitae_error_handler},
    )
    async with AsyncTestClient(app) as client:
        yield client


async def test_templates_are_listed_with_their_options(gallery: AsyncTestClient[Litestar]):
    response = await gallery.get("/api/templates")

    assert response.status_code == 200
    templates = {t["name"]: t for t in response.json()}
    assert set(TEMPLATES) <= set(templates)
    compact = templates["compact"]
    assert compact["paperSizes"] == ["a4", "letter"]
    assert compact["previewUrl"] == "/api/templates/compact/preview.png"
    options = {option["name"]: option for option in compact["options"]}
    assert options["accentColor"] == {
        "name": "accentColor",
        "type": "color",
        "description": "Hex colour of the name, headings and links.",
        "default": "#a63d2a",
        "pattern": "^#(?:[0-9a-fA-F]{3}){1,2}$",
    }
    assert "Inter" in options["fontFamily"]["values"]
    assert options["dateLanguage"]["default"] is None
    assert options["presentLabel"]["maxLength"] == 40
    assert len(options["sectionOrder"]["default"]) == 12
    assert options["pdfStandard"]["values"] == ["none", "a-2b", "ua-1"]
    assert options["fitPages"]["values"] == ["off", "1", "2", "3"]


@pytest.mark.parametrize("template", TEMPLATES)
async def test_preview_is_a_cached_deterministic_png(
    gallery: AsyncTestClient[Litestar], template: str
):
    first = await gallery.get(f"/api/templates/{template}/preview.png")
    started = time.perf_counter()
    second = await gallery.get(f"/api/templates/{template}/preview.png")
    cached_seconds = time.perf_counter() - started

    assert first.status_code == 200
    assert first.headers["content-type"] == "image/png"
    assert first.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert second.content == first.content
    assert cached_seconds < 0.5
    assert first.headers["etag"] == '"' + hashlib.sha256(first.content).hexdigest()[:32] + '"'
    not_modified = await gallery.get(
        f"/api/templates/{template}/preview.png", headers={"If-None-Match": first.headers["etag"]}
    )
    assert not_modified.status_code == 304


@pytest.mark.parametrize(
    "name", ["nope", "..", "lib", "fonts", "%2e%2e%2fclassic", "classic%2F..", "CLASSIC"]
)
async def test_unknown_template_preview_is_404(gallery: AsyncTestClient[Litestar], name: str):
    response = await gallery.get(f"/api/templates/{name}/preview.png")

    assert response.status_code == 404


def test_preview_sample_is_the_canonical_sample(settings: Settings):
    canonical = json.loads((ROOT / "examples" / "jsonresume-sample.json").read_text("utf-8"))

    assert preview_sample(settings.templates_dir) == canonical


def test_readme_gallery_images_exist():
    for template in TEMPLATES:
        image = ROOT / "docs" / "gallery" / f"{template}.png"
        assert image.read_bytes().startswith(b"\x89PNG")
