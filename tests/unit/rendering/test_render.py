"""Rendering's contract without the templates' looks: the catalog, refusals, errors and the
Renderer. Each template's documents are read in tests/documents."""

import asyncio
import io
import json
from pathlib import Path
from typing import Any, cast

import pypdf
import pytest

from vitae.rendering import (
    PaperSize,
    Renderer,
    RenderError,
    RenderOptions,
    UnknownTemplateError,
    default_templates_dir,
    list_templates,
    render_pdf,
)
from vitae.rendering.settings import RenderSettings

SAMPLE = Path(__file__).resolve().parents[3] / "examples" / "jsonresume-sample.json"
TEMPLATES = ["academic", "classic", "compact", "sidebar"]


@pytest.fixture(scope="module")
def templates_dir() -> Path:
    return default_templates_dir()


@pytest.fixture(scope="module")
def sample() -> dict[str, Any]:
    return json.loads(SAMPLE.read_text(encoding="utf-8"))


def pages_text(pdf: bytes) -> list[str]:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return [" ".join(page.extract_text().split()) for page in reader.pages]


def text_of(pdf: bytes) -> str:
    return " ".join(pages_text(pdf))


def render(resume: dict[str, Any], templates_dir: Path, template: str, **options: Any) -> bytes:
    return render_pdf(resume, RenderOptions(template, **options), templates_dir=templates_dir)


def test_list_templates_returns_every_template(templates_dir: Path) -> None:
    infos = list_templates(templates_dir)

    names = [info.name for info in infos]
    assert names == sorted(names)
    assert set(TEMPLATES) <= set(names)
    infos = [info for info in infos if info.name in TEMPLATES]
    for info in infos:
        assert info.title
        assert info.description
        assert info.paper_sizes == ("a4", "letter")


@pytest.mark.parametrize("name", ["nope", "../templates", "/etc", "", "fonts", "lib", "classic/"])
def test_unknown_template_is_refused(
    name: str, templates_dir: Path, sample: dict[str, Any]
) -> None:
    with pytest.raises(UnknownTemplateError) as caught:
        render(sample, templates_dir, name)

    assert name in caught.value.message


def test_unsupported_paper_size_is_refused(templates_dir: Path, sample: dict[str, Any]) -> None:
    with pytest.raises(RenderError, match="legal"):
        render(sample, templates_dir, "classic", paper_size=cast("PaperSize", "legal"))


def test_unencodable_resume_is_refused(templates_dir: Path) -> None:
    with pytest.raises(RenderError, match="JSON"):
        render({"basics": {"name": float("nan")}}, templates_dir, "classic")


def test_typst_error_becomes_one_line_render_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "template.json").write_text(
        json.dumps({"name": "broken", "title": "B", "description": "B", "paperSizes": ["a4"]})
    )
    (broken / "main.typ").write_text('#panic("boom")\n')

    with pytest.raises(RenderError) as caught:
        render({}, tmp_path, "broken")

    assert "boom" in caught.value.message
    assert "\n" not in caught.value.message


def test_default_templates_dir_can_be_overridden(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VITAE_TEMPLATES_DIR", str(tmp_path))

    assert default_templates_dir() == tmp_path


async def test_renderer_renders_concurrently(templates_dir: Path, sample: dict[str, Any]) -> None:
    renderer = Renderer(templates_dir, RenderSettings(processes=2))
    try:
        names = [f"Person Number{i}" for i in range(8)]
        jobs = [
            renderer.render(
                {**sample, "basics": {**sample["basics"], "name": name}},
                RenderOptions(
                    TEMPLATES[i % len(TEMPLATES)], paper_size="letter" if i % 3 else "a4"
                ),
            )
            for i, name in enumerate(names)
        ]
        pdfs = await asyncio.gather(*jobs)
    finally:
        renderer.close()

    for name, pdf in zip(names, pdfs, strict=True):
        text = text_of(pdf)
        assert name in text
        assert [other for other in names if other in text] == [name]


async def test_renderer_lists_templates_and_reports_errors(templates_dir: Path) -> None:
    renderer = Renderer(templates_dir, RenderSettings(processes=1))
    try:
        assert set(TEMPLATES) <= {info.name for info in renderer.templates()}
        with pytest.raises(UnknownTemplateError):
            await renderer.render({}, RenderOptions("nope"))
    finally:
        renderer.close()
