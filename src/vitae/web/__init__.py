"""The browser page: static HTML and JavaScript served by the API, no build step."""

from __future__ import annotations

from pathlib import Path

from litestar import Router, get
from litestar.handlers import HTTPRouteHandler
from litestar.response import File
from litestar.static_files import create_static_files_router

STATIC = Path(__file__).parent / "static"


@get("/", include_in_schema=False, exclude_from_auth=True)
async def index() -> File:
    """The single page: it authenticates its own API calls with the token it is given."""
    return File(STATIC / "index.html", content_disposition_type="inline", media_type="text/html")


def web_handlers() -> list[Router | HTTPRouteHandler]:
    """The page and its assets."""
    return [
        index,
        create_static_files_router(path="/static", directories=[STATIC], include_in_schema=False),
    ]
