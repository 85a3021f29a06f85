"""The documents the templates make, and what text extractors read from them: each
(template, résumé, options) document is compiled once per test session and shared by every
test that reads it; poppler's `pdftotext` (plain and with word boxes) and pypdf read them.

Needs poppler-utils (`pdftotext`); CI installs it.
"""

import functools
import html
import io
import json
import re
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pypdf

from vitae.rendering import RenderOptions, default_templates_dir, render_pdf, render_png

TESTS = Path(__file__).resolve().parent
SAMPLES = {
    "jsonresume-sample": TESTS.parent / "examples" / "jsonresume-sample.json",
    **{path.stem: path for path in sorted((TESTS / "documents" / "samples").glob("*.json"))},
}
TEMPLATES = ["academic", "classic", "compact", "sidebar"]
TEMPLATES_DIR = default_templates_dir()

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


@functools.cache
def poppler_text(pdf: bytes) -> str:
    """The text `pdftotext` extracts, pages separated by form feeds."""
    return _pdftotext(pdf, "-enc", "UTF-8")


@functools.cache
def pypdf_text(pdf: bytes) -> str:
    """The text pypdf extracts, pages separated by form feeds."""
    return "\f".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)


@functools.cache
def word_boxes(pdf: bytes) -> tuple[tuple[Word, ...], ...]:
    """Every word of every page with its box (`pdftotext -bbox`)."""
    pages = _pdftotext(pdf, "-bbox", "-enc", "UTF-8").split("<page ")[1:]
    return tuple(
        tuple(
            Word(float(a), float(b), float(c), float(d), html.unescape(text))
            for a, b, c, d, text in _WORD.findall(page)
        )
        for page in pages
    )


def overlapping_words(page: tuple[Word, ...]) -> list[tuple[Word, Word]]:
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


# -- documents, compiled once per session --------------------------------------------------------
# Typst's output is deterministic (tests/documents/test_references.py checks it), so a test
# that reads a document may read the one another test compiled. Tests of the compile itself
# (its warnings, its time, its determinism) call `render_pdf` directly.


def load(sample: str) -> dict[str, Any]:
    """A sample résumé of the corpus by name (a fresh copy: tests may change it)."""
    return json.loads(SAMPLES[sample].read_text(encoding="utf-8"))


def document(
    resume: dict[str, Any],
    template: str,
    *,
    watermark: bool = False,
    paper_size: str = "a4",
    **options: Any,
) -> bytes:
    """The PDF of `resume` with `template` and `options`, compiled once per session."""
    return _pdf(_key(resume), template, watermark, paper_size, _key(options))


def pages_png(
    resume: dict[str, Any], template: str, *, ppi: float, watermark: bool = False
) -> tuple[bytes, ...]:
    """The pages of `resume` as PNG images at `ppi`, compiled once per session."""
    return _png(_key(resume), template, ppi, watermark)


def _key(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True)


def _options(template: str, watermark: bool, paper_size: str, options: str) -> RenderOptions:  # noqa: FBT001
    return RenderOptions(
        template,
        paper_size=paper_size,  # pyright: ignore[reportArgumentType]  (checked by the renderer)
        watermark=watermark,
        options=json.loads(options),
    )


@functools.cache
def _pdf(resume: str, template: str, watermark: bool, paper_size: str, options: str) -> bytes:  # noqa: FBT001
    return render_pdf(
        json.loads(resume),
        _options(template, watermark, paper_size, options),
        templates_dir=TEMPLATES_DIR,
    )


@functools.cache
def _png(resume: str, template: str, ppi: float, watermark: bool) -> tuple[bytes, ...]:  # noqa: FBT001
    options = RenderOptions(template, watermark=watermark)
    return tuple(render_png(json.loads(resume), options, templates_dir=TEMPLATES_DIR, ppi=ppi))


def png(width: int, height: int) -> bytes:
    """A small RGB gradient as a PNG file."""
    rows = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in (x * 4 % 256, y * 4 % 256, 160))
        for y in range(height)
    )

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
