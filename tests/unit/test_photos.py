"""What the worker does with `basics.image` before a render, where no server is needed: which
templates and options lead to a fetch or a check, and the warnings of refused photos. Fetches
from real servers are in tests/integration/test_photos.py."""

import base64
from typing import Any

import pytest

from pdftext import png
from vitae.exports.photos import prepare_photo
from vitae.rendering import default_templates_dir
from vitae.rendering.photo import MAX_PHOTO_BYTES, photo_svg
from vitae.settings import PhotoSettings

PNG = png(8, 8)
DATA_URI = "data:image/png;base64," + base64.b64encode(PNG).decode()


def resume(image: str) -> dict[str, Any]:
    return {"basics": {"name": "Ada Lovelace", "image": image}, "work": []}


async def prepared(
    image: str, template: str = "sidebar", **options: Any
) -> tuple[dict[str, Any], list[str]]:
    result = await prepare_photo(
        resume(image), template, options, default_templates_dir(), PhotoSettings()
    )
    return dict(result.content), result.warnings


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        ("https://example.com/me.png", "only https addresses and data: URIs"),
        ("me.png", "only https addresses and data: URIs"),
        ("data:image/gif;base64,R0lGODlhAQABAAAAACw=", "only https addresses and data: URIs"),
        ("data:image/png;base64,not base64!", "not valid base64"),
        ("data:image/jpeg;base64," + base64.b64encode(PNG).decode(), "not a JPEG image"),
        (
            "data:image/png;base64,"
            + base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(MAX_PHOTO_BYTES)).decode(),
            "larger than 512 KiB",
        ),
    ],
)
def test_the_renderer_says_why_a_photo_is_left_out(image: str, reason: str) -> None:
    photo = photo_svg(resume(image))
    assert photo.svg is None
    assert photo.left_out is not None
    assert reason in photo.left_out


def test_a_valid_data_uri_becomes_an_svg() -> None:
    photo = photo_svg(resume(DATA_URI))
    assert photo.left_out is None
    assert photo.svg is not None
    assert f"data:image/png;base64,{base64.b64encode(PNG).decode()}" in photo.svg
    assert photo_svg({"basics": {"name": "No Photo"}}) == photo_svg({})


@pytest.mark.parametrize(
    ("image", "warning"),
    [
        (
            "https://10.0.0.5/me.png",
            "basics.image: left out: the host resolves to a private or reserved address (10.0.0.5)",
        ),
        (
            "https://169.254.169.254/latest/meta-data",
            (
                "basics.image: left out: the host resolves to a link-local or cloud metadata "
                "address (169.254.169.254)"
            ),
        ),
        ("http://example.com/me.png", "basics.image: left out: only https URLs are accepted"),
        ("ftp://example.com/me.png", "basics.image: left out: only https URLs are accepted"),
        (
            "data:image/png;base64,not base64!",
            "basics.image: left out: the data: URI is not valid base64",
        ),
    ],
)
async def test_a_photo_that_cannot_be_had_is_left_out_with_a_warning(
    image: str, warning: str
) -> None:
    content, warnings = await prepared(image)
    assert warnings == [warning]
    assert content["basics"] == {"name": "Ada Lovelace"}
    assert content["work"] == []


async def test_a_valid_data_uri_is_passed_as_it_is() -> None:
    assert await prepared(DATA_URI) == (resume(DATA_URI), [])


@pytest.mark.parametrize(
    ("template", "options"),
    [
        ("classic", {}),
        ("academic", {}),
        ("sidebar", {"photo": "hide"}),
        ("compact", {"photo": "hide"}),
    ],
)
async def test_no_photo_shown_means_nothing_checked_or_fetched(
    template: str, options: dict[str, Any]
) -> None:
    # A private address would be refused with a warning if it were looked at.
    assert await prepared("https://10.0.0.5/me.png", template, **options) == (
        resume("https://10.0.0.5/me.png"),
        [],
    )


async def test_invalid_options_are_left_for_the_render_to_report() -> None:
    image = "https://10.0.0.5/me.png"
    assert await prepared(image, "sidebar", photo="maybe") == (resume(image), [])
    assert await prepared(image, "no-such-template") == (resume(image), [])
