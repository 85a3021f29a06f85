"""What text extractors read from a PDF: poppler's `pdftotext` (plain and with word boxes)
and pypdf, for checks on the documents the templates make.

Needs poppler-utils (`pdftotext`); CI installs it.
"""

import html
import io
import re
import subprocess
from dataclasses import dataclass

import pypdf

_WORD = re.compile(
    r'<word xMin="([-\d.]+)" yMin="([-\d.]+)" xMax="([-\d.]+)" yMax="([-\d.]+)">(.*?)</word>'
)
# Share of the smaller word's height two words must share to count as printed over each
# other. Poppler's word boxes span the font's whole ascent and descent, which for Arabic or
# Devanagari faces reaches into the neighbouring lines of normally set text; text printed
# over text shares (nearly) all of it.
_OVERLAP_SHARE = 0.5
# Horizontal overlap below this (points) is kerning or rounding, not a collision.
_OVERLAP_WIDTH = 0.5


@dataclass(frozen=True, slots=True)
class Word:
    """A word as poppler sees it: its box in points (y grows downwards) and its text."""

    x0: float
    y0: float
    x1: float
    y1: float
    text: str


def _pdftotext(pdf: bytes, *args: str) -> str:
    # poppler-utils' pdftotext from the PATH (Debian puts it in /usr/bin), fixed arguments.
    done = subprocess.run(  # noqa: S603
        ["pdftotext", *args, "-", "-"],  # noqa: S607
        input=pdf,
        capture_output=True,
        check=True,
        timeout=60,
    )
    return done.stdout.decode()


def poppler_text(pdf: bytes) -> str:
    """The text `pdftotext` extracts, pages separated by form feeds."""
    return _pdftotext(pdf, "-enc", "UTF-8")


def pypdf_text(pdf: bytes) -> str:
    """The text pypdf extracts, pages separated by form feeds."""
    return "\f".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)


def word_boxes(pdf: bytes) -> list[list[Word]]:
    """Every word of every page with its box (`pdftotext -bbox`)."""
    pages = _pdftotext(pdf, "-bbox", "-enc", "UTF-8").split("<page ")[1:]
    return [
        [
            Word(float(a), float(b), float(c), float(d), html.unescape(text))
            for a, b, c, d, text in _WORD.findall(page)
        ]
        for page in pages
    ]


def overlapping_words(page: list[Word]) -> list[tuple[Word, Word]]:
    """The pairs of words of a page that are printed over each other."""
    found: list[tuple[Word, Word]] = []
    ordered = sorted(page, key=lambda w: w.y0)
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            if b.y0 >= a.y1:
                break  # sorted by top: no later word reaches up into `a`
            width = min(a.x1, b.x1) - max(a.x0, b.x0)
            height = min(a.y1, b.y1) - max(a.y0, b.y0)
            smaller = min(a.y1 - a.y0, b.y1 - b.y0)
            if width > _OVERLAP_WIDTH and height > _OVERLAP_SHARE * smaller:
                found.append((a, b))
    return found
