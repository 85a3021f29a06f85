"""Each template with each sample résumé, compared against committed reference output: the
text pypdf extracts, page by page, and each page as a small grayscale image (compared with a
tolerance, so a changed layout fails while a different CPU's rounding does not).

Regenerate the references after an intended change with

    VITAE_UPDATE_REFERENCES=1 uv run pytest tests/documents/test_references.py -p no:cacheprovider

and look at the images in `tests/documents/references/` before committing them.
"""

import io
import os
import struct
import zlib
from pathlib import Path

import pypdf
import pytest

from pdftext import SAMPLES, TEMPLATES, TEMPLATES_DIR, document, load, pages_png
from vitae.rendering import RenderOptions, render_pdf

REFERENCES = Path(__file__).resolve().parent / "references"
UPDATE = os.environ.get("VITAE_UPDATE_REFERENCES") == "1"
# Low resolution keeps the references small (a page is about 165 by 234 pixels).
PPI = 20.0
# A pixel counts as changed past this difference of gray (0 to 255); a page may have a few
# such pixels (anti-aliasing on another machine) but not a moved line of text.
PIXEL_TOLERANCE = 48
CHANGED_SHARE = 0.002


def pages_text(pdf: bytes) -> list[str]:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return [page.extract_text() for page in reader.pages]


@pytest.mark.parametrize("sample", list(SAMPLES))
@pytest.mark.parametrize("template", TEMPLATES)
def test_matches_reference(template: str, sample: str):
    resume = load(sample)
    text = "\f".join(pages_text(document(resume, template)))
    images = [gray(png) for png in pages_png(resume, template, ppi=PPI)]
    folder = REFERENCES / template
    text_file = folder / f"{sample}.txt"
    image_files = [folder / f"{sample}-{page}.png" for page in range(1, len(images) + 1)]

    if UPDATE:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob(f"{sample}-*.png"):
            stale.unlink()
        text_file.write_bytes(text.encode())  # bytes: pypdf may extract a "\r"
        for path, image in zip(image_files, images, strict=True):
            path.write_bytes(encode_gray(image))
        return

    assert text_file.is_file(), f"no reference for {template}/{sample}: see this file's docstring"
    assert text == text_file.read_bytes().decode()
    assert len(list(folder.glob(f"{sample}-*.png"))) == len(images), "the page count changed"
    for path, image in zip(image_files, images, strict=True):
        expected = decode_png(path.read_bytes())
        assert (expected.width, expected.height) == (image.width, image.height), path.name
        changed = sum(
            abs(a - b) > PIXEL_TOLERANCE for a, b in zip(expected.pixels, image.pixels, strict=True)
        )
        assert changed <= CHANGED_SHARE * len(image.pixels), f"{path.name}: {changed} pixels differ"


@pytest.mark.parametrize("template", TEMPLATES)
def test_output_is_deterministic(template: str):
    resume = load("long")
    options = RenderOptions(template, options={"pdfStandard": "a-2b"})

    first = render_pdf(resume, options, templates_dir=TEMPLATES_DIR)
    second = render_pdf(resume, options, templates_dir=TEMPLATES_DIR)

    assert first == second
    assert b"D:20240501" in first  # meta.lastModified, never the clock


# ---------------------------------------------------------------------------
# Just enough PNG for this: 8-bit, not interlaced; gray, RGB or RGBA in, gray out.


class Image:
    def __init__(self, width: int, height: int, pixels: bytes) -> None:
        self.width = width
        self.height = height
        self.pixels = pixels


def gray(png: bytes) -> Image:
    return decode_png(png)


def decode_png(data: bytes) -> Image:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    position = 8
    idat = bytearray()
    width = height = channels = 0
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        position += 12 + length
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8
            assert interlace == 0
            channels = {0: 1, 2: 3, 6: 4}[color]
        elif kind == b"IDAT":
            idat += body
    raw = unfilter(zlib.decompress(bytes(idat)), width * channels, height, channels)
    if channels == 1:
        return Image(width, height, raw)
    # Luma of the colour channels (alpha is ignored: pages are opaque).
    pixels = bytes(
        (raw[i] * 299 + raw[i + 1] * 587 + raw[i + 2] * 114) // 1000
        for i in range(0, len(raw), channels)
    )
    return Image(width, height, pixels)


def unfilter(data: bytes, stride: int, height: int, bpp: int) -> bytes:
    out = bytearray(stride * height)
    previous = bytearray(stride)
    for row in range(height):
        start = row * (stride + 1)
        kind = data[start]
        line = bytearray(data[start + 1 : start + 1 + stride])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, previous, strict=True))
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + previous[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                up_left = previous[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + paeth(left, previous[i], up_left)) & 0xFF
        out[row * stride : (row + 1) * stride] = line
        previous = line
    return bytes(out)


def paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def encode_gray(image: Image) -> bytes:
    rows = b"".join(
        b"\x00" + image.pixels[y * image.width : (y + 1) * image.width] for y in range(image.height)
    )

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", image.width, image.height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )
