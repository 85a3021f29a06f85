"""Render the README's gallery: the first page of each template with the sample résumé, a
placeholder photo (a drawn silhouette, no real person) and `fitPages=1`.

    uv run python docs/gallery/make.py
"""

import base64
import json
import struct
import zlib
from pathlib import Path

from vitae.rendering import RenderOptions, default_templates_dir, list_templates, render_png

HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parents[1] / "examples" / "jsonresume-sample.json"
PPI = 80.0  # an A4 page of 661 by 935 pixels


def silhouette(size: int = 240) -> bytes:
    """A PNG of a head and shoulders in grey on a light blue-grey ground."""
    rows = bytearray()
    centre = size / 2
    for y in range(size):
        rows.append(0)  # no filter
        for x in range(size):
            head = (x - centre) ** 2 + (y - size * 0.4) ** 2 <= (size * 0.19) ** 2
            body = ((x - centre) / (size * 0.36)) ** 2 + ((y - size * 0.98) / (size * 0.36)) ** 2 <= 1
            rows += bytes((122, 134, 150) if head or body else (214, 222, 232))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


def main() -> None:
    """Write `<template>.png` beside this script for every template of the catalogue."""
    resume = json.loads(SAMPLE.read_text(encoding="utf-8"))
    resume["basics"]["image"] = "data:image/png;base64," + base64.b64encode(silhouette()).decode()
    templates_dir = default_templates_dir()
    for template in list_templates(templates_dir):
        options = RenderOptions(template.name, options={"fitPages": 1})
        page = render_png(resume, options, templates_dir=templates_dir, ppi=PPI)[0]
        (HERE / f"{template.name}.png").write_bytes(page)
        print(f"{template.name}.png")


if __name__ == "__main__":
    main()
