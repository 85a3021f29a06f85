"""Template options: declared in template.json, checked by validate_options (what each
template's documents make of them is in tests/documents/test_options.py)."""

import dataclasses
import json
import pickle
from pathlib import Path
from typing import Any

import msgspec
import pytest

from vitae.rendering import (
    InvalidOptionError,
    RenderError,
    RenderOptions,
    TemplateInfo,
    default_templates_dir,
    find_template,
    list_templates,
    render_pdf,
    validate_options,
    validate_paper_size,
)

SECTIONS = {
    "summary", "work", "volunteer", "education", "awards", "certificates", "publications",
    "skills", "languages", "interests", "references", "projects",
}  # fmt: skip
SAMPLE = Path(__file__).resolve().parents[3] / "examples" / "jsonresume-sample.json"
TEMPLATES_DIR = default_templates_dir()


@pytest.fixture(scope="module")
def sample() -> dict[str, Any]:
    return json.loads(SAMPLE.read_text(encoding="utf-8"))


def info(name: str = "classic") -> TemplateInfo:
    return find_template(TEMPLATES_DIR, name)


def render(resume: dict[str, Any], template: str = "classic", **options: Any) -> bytes:
    return render_pdf(resume, RenderOptions(template, options=options), templates_dir=TEMPLATES_DIR)


# Templates with room for a photo declare the `photo` option; the others leave it out.
PHOTO_TEMPLATES = {"compact", "sidebar"}


def test_every_template_declares_the_same_options():
    names = [option.name for option in info().options]
    assert names == [
        "paperSize", "accentColor", "fontFamily", "sectionOrder", "language", "dateLanguage",
        "presentLabel", "direction", "fitPages", "pdfStandard",
    ]  # fmt: skip
    for template in list_templates(TEMPLATES_DIR):
        expected = [*names[:-1], "photo", names[-1]] if template.name in PHOTO_TEMPLATES else names
        assert [option.name for option in template.options] == expected
        order = template.option("sectionOrder")
        assert order is not None
        assert set(order.values) == SECTIONS


def test_template_info_serialises_cleanly():
    encoded = msgspec.json.decode(msgspec.json.encode(info("compact")))
    assert json.loads(json.dumps(dataclasses.asdict(info("compact")))) == encoded
    accent = next(option for option in encoded["options"] if option["name"] == "accentColor")
    assert accent == {
        "name": "accentColor",
        "type": "color",
        "description": "Hex colour of the name, headings and links.",
        "default": "#a63d2a",
        "values": [],
        "pattern": "^#(?:[0-9a-fA-F]{3}){1,2}$",
        "max_length": None,
    }


def test_defaults_fill_every_option_but_paper_size():
    options = validate_options(info(), {})

    assert "paperSize" not in options
    assert options["accentColor"] == "#1f3a5f"
    assert options["fontFamily"] == "Libertinus Serif"
    assert options["language"] == "auto"
    assert options["dateLanguage"] is None
    assert options["presentLabel"] is None
    assert options["pdfStandard"] == "none"
    assert options["fitPages"] == "off"
    assert set(options["sectionOrder"]) == SECTIONS


def test_fit_pages_takes_a_number_or_its_digits():
    assert validate_options(info(), {"fitPages": 1})["fitPages"] == "1"
    assert validate_options(info(), {"fitPages": "3"})["fitPages"] == "3"
    for wrong in [0, 4, True, 1.5, "one"]:
        with pytest.raises(InvalidOptionError) as caught:
            validate_options(info(), {"fitPages": wrong})
        assert caught.value.option == "fitPages"


def test_values_are_normalised():
    options = validate_options(
        info(),
        {
            "accentColor": "#1F4E79",
            "fontFamily": "inter",
            "sectionOrder": ["work", "Education"],
            "dateLanguage": "DE",
            "presentLabel": "  bis   heute ",
            "pdfStandard": "a-2b",
        },
    )

    assert options["accentColor"] == "#1f4e79"
    assert options["fontFamily"] == "Inter"
    assert options["sectionOrder"][:3] == ("work", "education", "summary")
    assert sorted(options["sectionOrder"]) == sorted(SECTIONS)
    assert options["dateLanguage"] == "de"
    assert options["presentLabel"] == "bis heute"
    assert validate_options(info(), {"accentColor": "#abc"})["accentColor"] == "#aabbcc"
    # Stored normalised options (lists where tuples were, as a database gives them back)
    # validate to themselves, so the worker can check them again before rendering.
    stored = json.loads(json.dumps(options))
    assert validate_options(info(), stored) == options
    assert validate_options(info(), {"presentLabel": " "})["presentLabel"] is None


@pytest.mark.parametrize(
    ("options", "option", "words"),
    [
        ({"accentColour": "#000000"}, "accentColour", ["unknown option", "accentColor"]),
        ({"accentColor": "red"}, "accentColor", ["hex colour", "'red'"]),
        ({"accentColor": 5}, "accentColor", ["hex colour"]),
        ({"accentColor": None}, "accentColor", ["must not be null"]),
        ({"fontFamily": "Comic Sans"}, "fontFamily", ["'Inter'", "'Comic Sans'"]),
        ({"sectionOrder": "work"}, "sectionOrder", ["list", "'education'"]),
        ({"sectionOrder": ["work", "hobbies"]}, "sectionOrder", ["'hobbies'"]),
        ({"sectionOrder": ["work", "work"]}, "sectionOrder", ["twice"]),
        ({"dateLanguage": "xx"}, "dateLanguage", ["'de'", "'xx'"]),
        ({"language": "klingon"}, "language", ["'auto'", "'klingon'"]),
        ({"presentLabel": "x" * 41}, "presentLabel", ["40 characters"]),
        ({"presentLabel": 3}, "presentLabel", ["string"]),
        ({"direction": "up"}, "direction", ["'rtl'"]),
        ({"pdfStandard": "a-1a"}, "pdfStandard", ["'a-2b'"]),
        ({"paperSize": "a4"}, "paperSize", ["paperSize field"]),
    ],
)
def test_invalid_options_name_the_option_and_the_allowed_values(
    options: dict[str, Any], option: str, words: list[str]
):
    with pytest.raises(InvalidOptionError) as caught:
        validate_options(info(), options)

    assert caught.value.option == option
    assert option in caught.value.message
    for word in words:
        assert word in caught.value.message
    assert isinstance(caught.value, RenderError)
    copy = pickle.loads(pickle.dumps(caught.value))  # noqa: S301  (our own bytes)
    assert (copy.option, copy.message) == (caught.value.option, caught.value.message)


def test_paper_size_is_checked_on_its_own():
    assert validate_paper_size(info(), "Letter") == "letter"
    with pytest.raises(InvalidOptionError) as caught:
        validate_paper_size(info(), "legal")
    assert caught.value.option == "paperSize"
    assert "'a4', 'letter'" in caught.value.message


def test_render_refuses_invalid_options(sample: dict[str, Any]):
    with pytest.raises(InvalidOptionError, match="fontFamily"):
        render(sample, fontFamily="Wingdings")
