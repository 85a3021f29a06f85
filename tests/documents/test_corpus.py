"""What a reader and a machine get from every template with every sample of the corpus:
no word printed over another, addresses extracted exactly, the name first, the watermark
absent from the text, PDF/UA-1; and the options that shape the document (fitPages, photo),
the structure (headings, outline, language) and time that grows linearly with a long word.
"""

# ruff: noqa: RUF001  (CJK dates and typographic characters are what the templates print)

import base64
import io
import re
import time
from typing import Any, cast

import pypdf
import pytest

from pdftext import (
    SAMPLES,
    TEMPLATES,
    TEMPLATES_DIR,
    document,
    load,
    overlapping_words,
    png,
    poppler_text,
    pypdf_text,
    word_boxes,
)
from vitae.rendering import RenderError, RenderOptions, find_template, render_pdf
from vitae.rendering.photo import MAX_PHOTO_BYTES

PHOTO_TEMPLATES = ["compact", "sidebar"]
WATERMARK_WORDS = ["Created with", "free plan"]
# Joins contact details and an entry's details: a line neither starts nor ends with one.
SEPARATORS = ("·", "|")
HEADINGS = {
    "summary": "Summary", "work": "Experience", "volunteer": "Volunteering",
    "education": "Education", "projects": "Projects", "awards": "Awards",
    "certificates": "Certificates", "publications": "Publications", "skills": "Skills",
    "languages": "Languages", "interests": "Interests", "references": "References",
}  # fmt: skip
SIDEBAR_SECTIONS = {"skills", "languages", "interests"}
# Extractors put right-to-left words and Devanagari clusters in their own order, so the
# name-first check reads the other scripts only.
NAME_ORDER_SKIPPED = {"ar", "he", "hi"}


def squeezed(text: str) -> str:
    """Text without white space or hyphens: a name wrapped over two lines reads the same."""
    return re.sub(r"[\s\-\u00ad]", "", text)


def page_count(pdf: bytes) -> int:
    return len(pypdf.PdfReader(io.BytesIO(pdf)).pages)


def catalog(pdf: bytes) -> dict[str, Any]:
    """The PDF's document catalog (its root dictionary)."""
    return cast("dict[str, Any]", pypdf.PdfReader(io.BytesIO(pdf)).trailer["/Root"])


def outline(pdf: bytes) -> list[str]:
    """The titles of the PDF's bookmarks (top level)."""
    items = pypdf.PdfReader(io.BytesIO(pdf)).outline
    return [str(item["/Title"]) for item in items if isinstance(item, dict)]


@pytest.mark.parametrize("sample", list(SAMPLES))
@pytest.mark.parametrize("template", TEMPLATES)
def test_corpus_document_reads_right(template: str, sample: str) -> None:
    resume = load(sample)
    basics = resume.get("basics", {})
    pdf = document(resume, template, watermark=True, pdfStandard="ua-1")
    poppler = poppler_text(pdf)
    extracted = pypdf_text(pdf)

    for number, page in enumerate(word_boxes(pdf), start=1):
        collisions = [(a.text, b.text) for a, b in overlapping_words(page)]
        assert collisions == [], f"page {number}: words printed over each other"
    for key in ["email", "phone"]:
        if basics.get(key):
            assert basics[key] in poppler, f"{key} is not extracted exactly by pdftotext"
            assert basics[key] in extracted, f"{key} is not extracted exactly by pypdf"
    if basics.get("url"):
        # A web address longer than a line wraps: nothing is added or lost but the break.
        shown = re.sub(r"^https?://", "", basics["url"]).rstrip("/")
        assert shown in poppler.replace("\n", "")
        assert shown in extracted.replace("\n", "")
    if sample not in NAME_ORDER_SKIPPED:
        name = squeezed(basics["name"])
        assert squeezed(poppler).startswith(name), "the name is not the first text"
        assert squeezed(extracted).startswith(name), "the name is not the first text"
    for words in WATERMARK_WORDS:
        assert words not in poppler
        assert words not in extracted
    lines = [line.strip() for line in poppler.splitlines()]
    assert not [line for line in lines if line.endswith(SEPARATORS)], "a line ends with a separator"
    assert not [line for line in lines if line.startswith(SEPARATORS)], (
        "a line starts with a separator"
    )
    assert b"<pdfuaid:part>1</pdfuaid:part>" in pdf


@pytest.mark.parametrize("template", TEMPLATES)
def test_sections_are_headings_in_the_outline(template: str) -> None:
    resume = load("jsonresume-sample")
    pdf = document(resume, template)
    order = find_template(TEMPLATES_DIR, template).option("sectionOrder")
    assert order is not None
    assert isinstance(order.default, tuple)

    titles = outline(pdf)
    present = {key for key in HEADINGS if resume.get(key)} | {"summary"}
    expected = [HEADINGS[key] for key in order.default if key in present]
    if template == "sidebar":  # skills, languages and interests are in the sidebar, after
        side = [HEADINGS[key] for key in order.default if key in SIDEBAR_SECTIONS]
        expected = [h for h in expected if h not in side] + ["Profiles"] + side
    assert titles == expected
    assert catalog(pdf)["/Lang"] == "en"
    assert catalog(pdf)["/MarkInfo"]["/Marked"]


@pytest.mark.parametrize("template", TEMPLATES)
def test_language_of_the_document(template: str) -> None:
    pdf = document(load("ja"), template)
    assert catalog(pdf)["/Lang"] == "ja"


@pytest.mark.parametrize("template", TEMPLATES)
def test_continuation_pages_carry_the_name(template: str) -> None:
    resume = load("long")
    pages = pypdf_text(document(resume, template)).split("\f")

    assert len(pages) > 1
    for page in pages[1:]:
        assert squeezed(resume["basics"]["name"]) in squeezed(page)


@pytest.mark.parametrize("template", TEMPLATES)
def test_long_end_cells_wrap_beside_the_title(template: str) -> None:
    title = "Principal Engineer"
    resume = {
        "basics": {"name": "Ada Long"},
        "work": [
            {
                "name": "Acme",
                "position": title,
                "location": "Llanfairpwllgwyngyll, Isle of Anglesey, Wales, United Kingdom " * 2,
                "startDate": "2019-01",
            }
        ],
        "education": [
            {
                "institution": "University",
                "studyType": "PhD",
                "area": "Typography",
                "startDate": "2015-09",
                "score": "Thesis: On the line breaking of very long titles and scores " * 2,
            }
        ],
    }
    present = "still there, planning to stay for long"
    pdf = document(resume, template, presentLabel=present)

    for page in word_boxes(pdf):
        assert overlapping_words(page) == []
    # The title keeps its line: it is not squeezed to a word a line.
    assert title in poppler_text(pdf)


@pytest.mark.parametrize("template", TEMPLATES)
def test_a_long_word_costs_time_in_proportion(template: str) -> None:
    def seconds(kib: int) -> float:
        word = ("abcdefghij" * (kib * 103))[: kib * 1024]
        resume = {"basics": {"name": "A", "summary": word, "label": word[:5000]}}
        start = time.process_time()
        render_pdf(resume, RenderOptions(template), templates_dir=TEMPLATES_DIR)
        return time.process_time() - start

    half, full = seconds(50), seconds(100)

    # About half a second for 100 KiB on a 2-core machine; generous bounds for slow CI.
    assert full < 10
    assert full < 3 * half + 0.5, f"50 KiB: {half:.2f} s, 100 KiB: {full:.2f} s"


@pytest.mark.parametrize("template", TEMPLATES)
def test_academic_dates_and_words_stay_whole(template: str) -> None:
    word = "Pneumonoultramicroscopicsilicovolcanoconiosis" * 3
    text = poppler_text(document({"basics": {"name": "A", "summary": word}}, template))

    assert word in squeezed(text)
    assert "\u200b" not in text


@pytest.mark.parametrize("template", TEMPLATES)
def test_cjk_dates_are_not_split(template: str) -> None:
    text = poppler_text(document(load("zh"), template))
    assert "2019年3月 – 至今" in text
    assert re.search(r"年\n", text) is None


@pytest.mark.parametrize("template", TEMPLATES)
def test_fit_pages_tightens_until_the_resume_fits(template: str) -> None:
    resume = load("jsonresume-sample")
    if template == "compact":  # a page already: make it longer
        resume["work"] = resume["work"] * 5
    assert page_count(document(resume, template)) == 2

    fitted = document(resume, template, fitPages=1)
    assert page_count(fitted) == 1
    # Nothing is left out: the same sections, the same last words.
    assert outline(fitted) == outline(document(resume, template))
    assert squeezed("a valuable addition to any company") in squeezed(pypdf_text(fitted))
    # Where the résumé fits already, fitPages changes nothing.
    assert document(resume, template, fitPages=2) == document(resume, template)


@pytest.mark.parametrize("template", TEMPLATES)
def test_fit_pages_reports_a_resume_that_cannot_fit(template: str) -> None:
    with pytest.raises(RenderError, match="does not fit on 1 page"):
        document(load("long"), template, fitPages=1)


def with_image(image: str) -> dict[str, Any]:
    resume = load("jsonresume-sample")
    resume["basics"]["image"] = image
    return resume


def images_in(pdf: bytes) -> int:
    return len(re.findall(rb"/Subtype\s*/Image\b", pdf))


PHOTO = "data:image/png;base64," + base64.b64encode(png(60, 40)).decode()


@pytest.mark.parametrize("template", PHOTO_TEMPLATES)
def test_photo_from_a_data_uri(template: str) -> None:
    shown = document(with_image(PHOTO), template, pdfStandard="ua-1")
    hidden = document(with_image(PHOTO), template, photo="hide")

    assert images_in(shown) == 1
    assert images_in(hidden) == 0
    assert squeezed(pypdf_text(shown)).startswith("RichardHendriks")


@pytest.mark.parametrize(
    "image",
    [
        "https://example.com/me.png",  # fetched by nobody here: left out
        "data:image/jpeg;base64," + base64.b64encode(png(4, 4)).decode(),  # a PNG, not a JPEG
        "data:image/png;base64,not base64!",
        "data:image/gif;base64,R0lGODlhAQABAAAAACw=",
        "data:image/png;base64,"
        + base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(MAX_PHOTO_BYTES)).decode(),
    ],
)
def test_a_photo_that_cannot_be_used_is_left_out(image: str) -> None:
    for template in PHOTO_TEMPLATES:
        assert images_in(document(with_image(image), template)) == 0
