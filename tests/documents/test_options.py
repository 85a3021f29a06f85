"""Template options as each template's documents show them: section order, language,
fonts, accent colour, PDF/A-2b."""

# ruff: noqa: RUF001  (typographic dashes and apostrophes are what the templates print)

import io
from typing import Any

import pypdf
import pytest

from pdftext import TEMPLATES, TEMPLATES_DIR, document, load
from vitae.rendering import find_template


@pytest.fixture(scope="module")
def sample() -> dict[str, Any]:
    return load("jsonresume-sample")


def text_of(pdf: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


@pytest.mark.parametrize("template", TEMPLATES)
def test_section_order_is_followed(template: str, sample: dict[str, Any]):
    default = text_of(document(sample, template))
    reordered = text_of(document(sample, template, sectionOrder=["references", "education"]))

    def position(text: str, value: str) -> int:
        return text.index(value)

    assert position(default, "Pied Piper") < position(default, "DB1101")
    assert position(reordered, "Erlich Bachman") < position(reordered, "DB1101")
    assert position(reordered, "DB1101") < position(reordered, "Pied Piper")


@pytest.mark.parametrize("template", TEMPLATES)
def test_language_sets_headings_dates_and_present(template: str, sample: dict[str, Any]):
    resume = {**sample, "work": [{**sample["work"][0], "endDate": None}]}

    german = text_of(document(resume, template, language="de"))
    english_headings = text_of(document(resume, template, language="en", dateLanguage="fr"))
    custom = text_of(document(resume, template, presentLabel="bis jetzt"))

    assert "Berufserfahrung".casefold() in german.casefold()
    assert "Dez. 2013 – heute" in german
    assert "Experience".casefold() in english_headings.casefold()
    assert "déc. 2013 – aujourd’hui" in english_headings
    assert "Dec 2013 – bis jetzt" in custom


@pytest.mark.parametrize("template", TEMPLATES)
def test_every_declared_language_renders(template: str):
    declared = find_template(TEMPLATES_DIR, template).option("language")
    assert declared is not None
    resume = {"work": [{"name": "W", "startDate": "2013-12-01"}]}
    for language in declared.values:
        # An undeclared or untranslated language would stop the compile with an error.
        assert document(resume, template, language=language).startswith(b"%PDF-")


@pytest.mark.parametrize("template", TEMPLATES)
def test_font_family_is_embedded(template: str, sample: dict[str, Any]):
    for family, font_name in [("Noto Serif", b"NotoSerif"), ("Inter", b"Inter")]:
        assert font_name in document(sample, template, fontFamily=family)


@pytest.mark.parametrize("template", TEMPLATES)
def test_accent_color_is_used(template: str, sample: dict[str, Any]):
    # The colour appears in the content stream as RGB fractions (0.8 0.2 0.4 for #cc3366).
    pdf = document(sample, template, accentColor="#cc3366")
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    stream = reader.pages[0].get_contents()
    assert stream is not None
    assert b"0.8 0.2 0.4" in stream.get_data()


@pytest.mark.parametrize("template", TEMPLATES)
def test_pdf_a_2b(template: str, sample: dict[str, Any]):
    pdf = document(sample, template, pdfStandard="a-2b")

    assert b"<pdfaid:part>2</pdfaid:part>" in pdf
    assert b"<pdfaid:conformance>B</pdfaid:conformance>" in pdf
    assert b"pdfaid" not in document(sample, template)
