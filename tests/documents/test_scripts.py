"""Every script a résumé may be written in renders with bundled fonts and no missing glyph.

Typst does not warn about a missing glyph in a plain PDF, but PDF/A-2b refuses to embed one
("could not be displayed with font"), so a PDF/A-2b compile is the check.
"""

import io
import logging

import pypdf
import pytest

from pdftext import TEMPLATES, TEMPLATES_DIR, document, load
from vitae.rendering import RenderOptions, find_template, render_pdf

SCRIPTS = ["ar", "el", "he", "hi", "ja", "ko", "ru", "zh"]


def text_of(pdf: bytes) -> str:
    return " ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("template", TEMPLATES)
def test_script_has_no_missing_glyph(template: str, script: str, caplog: pytest.LogCaptureFixture):
    resume = load(script)
    options = RenderOptions(template, options={"pdfStandard": "a-2b"})
    # Compiled here, not taken from the session's documents: the test reads its warnings.
    with caplog.at_level(logging.WARNING, logger="vitae.rendering"):
        pdf = render_pdf(resume, options, templates_dir=TEMPLATES_DIR)

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
            pdf = document(
                MIXED, template, fontFamily=family, language=language, pdfStandard="a-2b"
            )
            assert pdf.startswith(b"%PDF-")


@pytest.mark.parametrize("template", TEMPLATES)
def test_right_to_left_is_automatic_and_can_be_overridden(template: str):
    resume = load("ar")

    automatic = document(resume, template)
    forced_rtl = document(resume, template, direction="rtl")
    forced_ltr = document(resume, template, direction="ltr")

    assert automatic == forced_rtl
    assert automatic != forced_ltr
    # Arabic headings, from language "auto" ("References"; pypdf reverses multi-word RTL runs).
    assert "المراجع" in text_of(automatic)
