"""Each template with the sample and with small résumés: every section and field shown,
metadata, paper sizes, the watermark, hostile and long text, the compiler's cache."""

import io
from typing import Any

import pypdf
import pytest

from pdftext import TEMPLATES, TEMPLATES_DIR, document, load, pages_png, poppler_text
from vitae.rendering import RenderOptions, render_pdf

WATERMARK = "Created with Vitae"
# The sample has no certificates; one is added so that every section of the schema is shown.
CERTIFICATE = {
    "name": "Certified Compression Engineer",
    "date": "2015-05-01",
    "issuer": "Hooli University",
    "url": "https://hooli.example.com/certificates/compression",
}


@pytest.fixture(scope="module")
def sample() -> dict[str, Any]:
    resume = load("jsonresume-sample")
    resume.setdefault("certificates", [CERTIFICATE])
    return resume


def pages_text(pdf: bytes) -> list[str]:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return [" ".join(page.extract_text().split()) for page in reader.pages]


def text_of(pdf: bytes) -> str:
    return " ".join(pages_text(pdf))


@pytest.mark.parametrize("template", TEMPLATES)
def test_sample_shows_every_section(template: str, sample: dict[str, Any]) -> None:
    pdf = document(sample, template)

    assert pdf.startswith(b"%PDF-")
    text = text_of(pdf)
    expected = [
        # basics
        "Richard Hendriks",
        "Programmer",
        "richard.hendriks@mail.com",
        "(912) 555-4321",
        "richardhendricks.example.com",
        "Richard hails from Tulsa",
        "San Francisco",
        "neutralthoughts",
        "SoundCloud",
        # work
        "CEO/President",
        "Pied Piper",
        "Palo Alto, CA",
        "Awesome compression company",
        "Dec 2013 \N{EN DASH} Dec 2014",
        "Successfully won Techcrunch Disrupt",
        # volunteer
        "CoderDojo",
        "Teacher of the Month",
        # education
        "University of Oklahoma",
        "Information Technology",
        "Bachelor",
        "4.0",
        "DB1101 - Basic SQL",
        # awards
        "Digital Compression Pioneer Award",
        "Techcrunch",
        "There is no spoon.",
        # certificates
        "Certified Compression Engineer",
        "Hooli University",
        # publications
        "Video compression for 3d media",
        "Innovative middle-out compression algorithm",
        # skills
        "Web Development",
        "Master",
        "Javascript",
        "Mpeg",
        # languages
        "English",
        "Native speaker",
        # interests
        "Wildlife",
        "Unicorns",
        # references
        "Erlich Bachman",
        "It is my pleasure to recommend Richard",
        # projects
        "Miss Direction",
        "A mapping engine that misguides you",
        "Team lead, Designer",
        "Smoogle",
        "application",
        "Won award at AIHacks 2016",
        "Chrome Extension",
        "Aug 2016",
    ]
    # Case-insensitive: templates may set labels such as a profile's network in capitals.
    missing = [value for value in expected if value.casefold() not in text.casefold()]
    assert not missing


@pytest.mark.parametrize("template", TEMPLATES)
def test_document_metadata(template: str, sample: dict[str, Any]) -> None:
    reader = pypdf.PdfReader(io.BytesIO(document(sample, template)))

    assert reader.metadata is not None
    assert reader.metadata.title == "Richard Hendriks — Résumé"
    assert reader.metadata.author == "Richard Hendriks"


@pytest.mark.parametrize("template", TEMPLATES)
@pytest.mark.parametrize(("paper_size", "size"), [("a4", (595, 842)), ("letter", (612, 792))])
def test_paper_size(
    template: str,
    paper_size: str,
    size: tuple[int, int],
    sample: dict[str, Any],
) -> None:
    reader = pypdf.PdfReader(io.BytesIO(document(sample, template, paper_size=paper_size)))

    for page in reader.pages:
        assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == size


@pytest.mark.parametrize("template", TEMPLATES)
def test_watermark_on_every_page_only_when_requested(template: str) -> None:
    long = load("long")
    marked = pages_png(long, template, ppi=72, watermark=True)
    plain = pages_png(long, template, ppi=72)

    assert len(marked) > 1  # the résumé runs over a page, so "every page" is tested
    assert len(marked) == len(plain)
    assert all(a != b for a, b in zip(marked, plain, strict=True))


@pytest.mark.parametrize("template", TEMPLATES)
def test_watermark_is_not_text(template: str) -> None:
    long = load("long")
    marked = document(long, template, watermark=True)
    plain = document(long, template, watermark=False)

    assert pages_text(marked) == pages_text(plain)
    assert poppler_text(marked) == poppler_text(plain)
    assert WATERMARK not in poppler_text(marked)


@pytest.mark.parametrize("template", TEMPLATES)
@pytest.mark.parametrize(
    "resume",
    [
        {},
        {"basics": {"name": "A"}},
        {"basics": {}, "work": [], "skills": [{}], "education": [{"courses": []}]},
        # Wrong types are ignored rather than failing the export.
        {"basics": [], "work": "x", "education": [1, None], "languages": [{"language": 5}]},
    ],
)
def test_minimal_resume_renders(template: str, resume: dict[str, Any]) -> None:
    pdf = document(resume, template)

    assert len(pages_text(pdf)) == 1


SCHEMA_FIELDS = {
    "work": [
        "name",
        "location",
        "description",
        "position",
        "url",
        "startDate",
        "endDate",
        "summary",
        "highlights",
    ],
    "volunteer": [
        "organization",
        "position",
        "url",
        "startDate",
        "endDate",
        "summary",
        "highlights",
    ],
    "education": [
        "institution",
        "url",
        "area",
        "studyType",
        "startDate",
        "endDate",
        "score",
        "courses",
    ],
    "awards": ["title", "date", "awarder", "summary"],
    "certificates": ["name", "date", "url", "issuer"],
    "publications": ["name", "publisher", "releaseDate", "url", "summary"],
    "skills": ["name", "level", "keywords"],
    "languages": ["language", "fluency"],
    "interests": ["name", "keywords"],
    "references": ["name", "reference"],
    "projects": [
        "name",
        "description",
        "highlights",
        "keywords",
        "startDate",
        "endDate",
        "url",
        "roles",
        "entity",
        "type",
    ],
}
LIST_FIELDS = {"highlights", "courses", "keywords", "roles"}


@pytest.mark.parametrize("template", TEMPLATES)
def test_entries_with_a_single_field_show_it(template: str) -> None:
    resume: dict[str, Any] = {}
    expected: list[str] = []
    for section, fields in SCHEMA_FIELDS.items():
        resume[section] = []
        for field in fields:
            if field.endswith(("Date", "date")):
                value: Any = "2001-02-03"
                expected.append("Feb 2001")
            elif field == "url":
                value = f"https://example.com/{section}/{field}"
                expected.append(f"example.com/{section}/{field}")
            else:
                value = f"{section}{field.capitalize()}"
                expected.append(value)
            resume[section].append({field: [value] if field in LIST_FIELDS else value})

    text = text_of(document(resume, template)).casefold()

    assert [value for value in expected if value.casefold() not in text] == []


BASICS_ALONE = [
    ({"name": "Basicname"}, "Basicname"),
    ({"label": "Basiclabel"}, "Basiclabel"),
    ({"email": "me@example.com"}, "me@example.com"),
    ({"phone": "+1 555 0100"}, "+1 555 0100"),
    ({"url": "https://me.example.com/"}, "me.example.com"),
    ({"summary": "Basicsummary"}, "Basicsummary"),
    ({"location": {"address": "Basicaddress"}}, "Basicaddress"),
    ({"location": {"postalCode": "Basicpostcode"}}, "Basicpostcode"),
    ({"location": {"city": "Basiccity"}}, "Basiccity"),
    ({"location": {"countryCode": "Basiccountry"}}, "Basiccountry"),
    ({"location": {"region": "Basicregion"}}, "Basicregion"),
    ({"profiles": [{"network": "Basicnetwork"}]}, "Basicnetwork"),
    ({"profiles": [{"username": "Basicusername"}]}, "Basicusername"),
    ({"profiles": [{"url": "https://profile.example.com/me"}]}, "profile.example.com/me"),
]


@pytest.mark.parametrize("template", TEMPLATES)
@pytest.mark.parametrize(("basics", "shown"), BASICS_ALONE)
def test_basics_with_a_single_field_show_it(
    template: str, basics: dict[str, Any], shown: str
) -> None:
    text = text_of(document({"basics": basics}, template))

    assert shown.casefold() in text.casefold()


@pytest.mark.parametrize("template", TEMPLATES)
def test_hostile_text_is_printed_literally(template: str) -> None:
    tokens = ['#read("/etc/passwd")', "$x$", "*b*", "<l>", "@ref", "\\", "]", '#panic("no")']
    hostile = " ".join(tokens)
    resume = {
        "basics": {"name": hostile, "label": hostile, "summary": hostile},
        "work": [{"name": hostile, "position": hostile, "highlights": [hostile]}],
        "skills": [{"name": hostile, "keywords": [hostile]}],
        "references": [{"name": "R", "reference": hostile}],
    }

    text = text_of(document(resume, template))

    assert hostile in text
    assert "root:" not in text
    for token in tokens:
        assert token in text


@pytest.mark.parametrize("template", TEMPLATES)
def test_long_words_keep_their_text(template: str) -> None:
    word = "Pneumonoultramicroscopicsilicovolcanoconiosis" * 2
    text = pages_text(document({"basics": {"summary": word}}, template))[0]

    # Wrapping inserts no characters: the word only gains the line break(s).
    assert word in text.replace(" ", "")
    assert "\u200b" not in text


@pytest.mark.parametrize("template", TEMPLATES)
def test_cached_compiler_uses_the_new_inputs(template: str) -> None:
    # Two compiles in a row on this thread's cached compiler, not the session's documents.
    first = render_pdf(
        {"basics": {"name": "Alice Example"}}, RenderOptions(template), templates_dir=TEMPLATES_DIR
    )
    second = render_pdf(
        {"basics": {"name": "Bob Example"}},
        RenderOptions(template, paper_size="letter"),
        templates_dir=TEMPLATES_DIR,
    )

    assert "Alice Example" in text_of(first)
    assert "Bob Example" in text_of(second)
    assert "Alice Example" not in text_of(second)
    reader = pypdf.PdfReader(io.BytesIO(second))
    assert round(float(reader.pages[0].mediabox.width)) == 612
