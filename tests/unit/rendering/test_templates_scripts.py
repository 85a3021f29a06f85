"""Every script a résumé may be written in renders with bundled fonts and no missing glyph.

Typst does not warn about a missing glyph in a plain PDF, but PDF/A-2b refuses to embed one
("could not be displayed with font"), so a PDF/A-2b compile is the check.
"""

# ruff: noqa: RUF001  (résumé text in Cyrillic and other scripts is the point)

import io
import json
import logging
from pathlib import Path
from typing import Any

import pypdf
import pytest

from vitae.rendering import (
    RenderOptions,
    default_templates_dir,
    find_template,
    render_pdf,
)
from vitae.rendering.scripts import detect_direction, detect_language

SAMPLES = Path(__file__).resolve().parent / "samples"
SCRIPTS = ["ar", "el", "he", "hi", "ja", "ko", "ru", "zh"]
TEMPLATES = ["academic", "classic", "compact", "sidebar"]
TEMPLATES_DIR = default_templates_dir()


def load(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def render(resume: dict[str, Any], template: str, **options: Any) -> bytes:
    return render_pdf(resume, RenderOptions(template, options=options), templates_dir=TEMPLATES_DIR)


def text_of(pdf: bytes) -> str:
    return " ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)


@pytest.mark.parametrize("script", SCRIPTS)
def test_language_and_direction_are_detected(script: str):
    resume = load(script)

    assert detect_language(resume) == script
    expected = "rtl" if script in {"ar", "he"} else "ltr"
    assert detect_direction("en", detect_language(resume)) == expected


def test_detection_ignores_a_few_foreign_letters():
    resume = {"basics": {"name": "王小明 (Wang Xiaoming)", "summary": "Backend engineer " * 20}}
    assert detect_language(resume) == "en"
    assert detect_language({}) == "en"
    assert detect_language({"basics": {"summary": "Я працюю інженером у Києві"}}) == "uk"


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("template", TEMPLATES)
def test_script_has_no_missing_glyph(template: str, script: str, caplog: pytest.LogCaptureFixture):
    resume = load(script)
    with caplog.at_level(logging.WARNING, logger="vitae.rendering"):
        pdf = render(resume, template, pdfStandard="a-2b")

    assert caplog.records == []  # no Typst warning either
    text = text_of(pdf)
    # Latin-script details of the résumé come out as written.
    assert resume["basics"]["email"] in text


MIXED = {
    "basics": {
        "name": "Mixed Scripts Ελληνικά Русский",
        "label": "中文 日本語のテキスト 한국어 العربية עברית हिन्दी",
        "summary": "Latin, Ελληνικά, Кириллица, 中文字符, ひらがな, カタカナ, 한글, "
        "العربية, עברית, देवनागरी.",
    },
    "work": [{"name": "Ünïcödé Åb", "position": "Ingénieure", "startDate": "2020-02"}],
}


@pytest.mark.parametrize("template", TEMPLATES)
def test_every_font_family_covers_every_script(template: str):
    families = find_template(TEMPLATES_DIR, template).option("fontFamily")
    assert families is not None
    for family in families.values:
        for language in ["en", "ar", "zh"]:
            pdf = render(MIXED, template, fontFamily=family, language=language, pdfStandard="a-2b")
            assert pdf.startswith(b"%PDF-")


@pytest.mark.parametrize("template", TEMPLATES)
def test_right_to_left_is_automatic_and_can_be_overridden(template: str):
    resume = load("ar")

    automatic = render(resume, template)
    forced_rtl = render(resume, template, direction="rtl")
    forced_ltr = render(resume, template, direction="ltr")

    assert automatic == forced_rtl
    assert automatic != forced_ltr
    # Arabic headings, from language "auto" ("References"; pypdf reverses multi-word RTL runs).
    assert "المراجع" in text_of(automatic)
