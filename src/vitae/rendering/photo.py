"""The résumé's photo (`basics.image`) as templates take it.

Only `data:` URIs of PNG or JPEG images are used: the image is decoded and checked here, in
Python, and handed to Typst inside a small SVG (Typst's inputs are strings, and an SVG may
carry a raster image as a data URI), cropped to a centred square. Web addresses are not
fetched by the renderer, which has no network: such an image is left out.
"""

import base64
import binascii
import logging
import re
from collections.abc import Mapping
from typing import Any, Final

# Decoded size limit of a photo: a sharp 600 x 600 JPEG is about 100 KiB.
MAX_PHOTO_BYTES: Final = 512 * 1024
_DATA_URI: Final = re.compile(r"^data:image/(png|jpeg|jpg);base64,(.*)$", re.IGNORECASE | re.DOTALL)
_SIGNATURES: Final = {"png": b"\x89PNG\r\n\x1a\n", "jpeg": b"\xff\xd8\xff", "jpg": b"\xff\xd8\xff"}
_SPACE: Final = re.compile(r"\s+")

_log = logging.getLogger("vitae.rendering")


def photo_svg(resume: Mapping[str, Any]) -> str | None:
    """The photo of `basics.image` as an SVG document, or None when there is none to show.

    A photo that is not a `data:` URI of a PNG or JPEG of at most `MAX_PHOTO_BYTES`, or whose
    bytes are not of the type it claims, is left out (and logged), never an error: the résumé
    renders without it.
    """
    basics = resume.get("basics")
    image = basics.get("image") if isinstance(basics, Mapping) else None
    if not isinstance(image, str) or not image.strip():
        return None
    match = _DATA_URI.match(image.strip())
    if match is None:
        _log.info("photo left out: only data: URIs of PNG or JPEG images are rendered")
        return None
    kind, payload = match.group(1).lower(), _SPACE.sub("", match.group(2))
    # Base64 grows by a third: refuse an oversized photo before decoding it.
    if len(payload) > (MAX_PHOTO_BYTES + 2) // 3 * 4:
        _log.info("photo left out: larger than %d bytes", MAX_PHOTO_BYTES)
        return None
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        _log.info("photo left out: its data is not valid base64")
        return None
    if not data.startswith(_SIGNATURES[kind]):
        _log.info("photo left out: its bytes are not a %s image", kind.upper())
        return None
    mime = "image/png" if kind == "png" else "image/jpeg"
    encoded = base64.b64encode(data).decode("ascii")
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        'width="100" height="100" viewBox="0 0 100 100">'
        '<image width="100" height="100" preserveAspectRatio="xMidYMid slice" '
        f'xlink:href="data:{mime};base64,{encoded}"/></svg>'
    )
