"""The name a completed export is offered for download under."""

from __future__ import annotations

import pytest

from vitae.exports.service import download_name

UNSAFE = ("/", "\\", '"', "'", "\n", "\r", "\t", "\x00", ";", ":", "*", "?", "<", ">", "|")


def test_a_plain_name_becomes_a_hyphenated_file_name() -> None:
    assert download_name("Richard Hendriks") == "Richard-Hendriks-Resume.pdf"


def test_surrounding_and_repeated_whitespace_collapses() -> None:
    assert download_name("  Richard \t  Hendriks \n") == "Richard-Hendriks-Resume.pdf"


@pytest.mark.parametrize(
    ("person", "expected"),
    [
        ("王小明", "王小明-Resume.pdf"),
        ("محمد علي", "محمد-علي-Resume.pdf"),
        ("Zoë Ångström", "Zoë-Ångström-Resume.pdf"),
        ("Дмитрий Иванов", "Дмитрий-Иванов-Resume.pdf"),
    ],
)
def test_non_latin_names_keep_their_letters(person: str, expected: str) -> None:
    assert download_name(person) == expected


def test_compatibility_forms_are_normalised() -> None:
    # Full-width Latin letters (U+FF32...) read as the ordinary ones after NFKC.
    assert download_name("\uff32\uff49\uff43\uff48\uff41\uff52\uff44") == "Richard-Resume.pdf"


@pytest.mark.parametrize(
    "person",
    [
        "../../etc/passwd",
        'Robert "Bobby" O\'Brien',
        "evil\\name\r\nSet-Cookie: x=1",
        'a"; filename="other.exe',
        "tab\there\x00nul",
        "C:\\Windows\\system32",
        "who? <me> | *you*",
    ],
)
def test_punctuation_separators_quotes_and_newlines_are_dropped(person: str) -> None:
    name = download_name(person)
    assert name.endswith("-Resume.pdf")
    assert not any(char in name for char in UNSAFE), name
    assert ".." not in name
    assert name.count(".") == 1  # only the extension's


def test_quotes_and_slashes_only_separate_words() -> None:
    assert download_name('Robert "Bobby" O\'Brien') == "Robert-Bobby-O-Brien-Resume.pdf"
    assert download_name("../../etc/passwd") == "etc-passwd-Resume.pdf"


@pytest.mark.parametrize("person", ["", "   ", "\n", "../", "///", '"\'"', "\u2014\u2013-"])
def test_nothing_left_gives_a_generic_name(person: str) -> None:
    assert download_name(person) == "Resume.pdf"
