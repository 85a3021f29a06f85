"""The résumé's photo (`basics.image`) as templates take it.

Only `data:` URIs of PNG or JPEG images are used: the image is decoded and checked here, in
Python, and handed to Typst inside a small SVG (Typst's inputs are strings, and an SVG may
carry a raster image as a data URI), cropped to a centred square. Web addresses are not
fetched by the renderer, which has no network: the worker fetches an `https` image before
the render (`vitae.exports.photos`) and hands it over as a `data:` URI.
"""

import base64
import binascii
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

# Decoded size limit of a photo: a sharp 600 x 600 JPEG is about 100 KiB.
MAX_PHOTO_BYTES: Final = 512 * 1024
_DATA_URI: Final = re.compile(r"^data:image/(png|jpeg|jpg);base64,(.*)$", re.IGNORECASE | re.DOTALL)
# What the image types this module accepts begin with.
SIGNATURES: Final = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}
_SPACE: Final = re.compile(r"\s+")

_log = logging.getLogger("vitae.rendering")


@dataclass(frozen=True, slots=True)
class Photo:
    """The photo as templates take it (``svg``), or why `basics.image` is left out
    (``left_out``, words for the export's warnings); both ``None`` when there is no image.
    """

    svg: str | None = None
    left_out: str | None = None


def photo_svg(resume: Mapping[str, Any]) -> Photo:
    """The photo of `basics.image` as an SVG document, or why it is not shown.

    A photo that is not a `data:` URI of a PNG or JPEG of at most `MAX_PHOTO_BYTES`, or whose
    bytes are not of the type it claims, is left out (and the reason logged), never an error:
    the résumé renders without it. The worker fetches an `https` image beforehand and passes
    it here as a `data:` URI.
    """
    basics = resume.get("basics")
    image = basics.get("image") if isinstance(basics, Mapping) else None
    if not isinstance(image, str) or not image.strip():
        return Photo()
    try:
        mime, data = decode_data_uri(image.strip())
    except PhotoError as error:
        _log.info("photo left out: %s", error.reason)
        return Photo(left_out=error.reason)
    encoded = base64.b64encode(data).decode("ascii")
    return Photo(
        svg=(
            '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
            'width="100" height="100" viewBox="0 0 100 100">'
            '<image width="100" height="100" preserveAspectRatio="xMidYMid slice" '
            f'xlink:href="data:{mime};base64,{encoded}"/></svg>'
        )
    )


class PhotoError(Exception):
    """A photo that cannot be used; ``reason`` says why, for the export's warnings."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def decode_data_uri(image: str) -> tuple[str, bytes]:
    """The MIME type and bytes of a `data:` URI of a PNG or JPEG image; raises `PhotoError`."""
    match = _DATA_URI.match(image)
    if match is None:
        raise PhotoError("only https addresses and data: URIs of PNG or JPEG images are used")
    kind, payload = match.group(1).lower(), _SPACE.sub("", match.group(2))
    # Base64 grows by a third: refuse an oversized photo before decoding it.
    if len(payload) > (MAX_PHOTO_BYTES + 2) // 3 * 4:
        raise PhotoError(f"the image is larger than {MAX_PHOTO_BYTES // 1024} KiB")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise PhotoError("the data: URI is not valid base64") from None
    mime = "image/png" if kind == "png" else "image/jpeg"
    check_signature(mime, data)
    return mime, data


def check_signature(mime: str, data: bytes) -> None:
    """Raise `PhotoError` unless the bytes begin as an image of that type does."""
    if not data.startswith(SIGNATURES[mime]):
        raise PhotoError(f"its bytes are not a {mime.removeprefix('image/').upper()} image")
