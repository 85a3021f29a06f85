"""The OpenAPI document and its docs page, served by the app itself.

The page is Swagger UI from files bundled under ``static/docs`` (pinned, see its README): no
script or style comes from another origin, and the page has no inline script, so a strict
Content-Security-Policy (``default-src 'self'``) holds on the origin that keeps the token.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any, Final

from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

if TYPE_CHECKING:
    from litestar import Request
    from litestar.handlers import HTTPRouteHandler
    from litestar.types import Method

SCHEMA_PATH: Final = "/schema"
DOCS_PATH: Final = f"{SCHEMA_PATH}/swagger"
SECURITY_SCHEME: Final = "BearerToken"
ASSETS: Final = "/static/docs"

PAGE: Final = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" type="image/png" href="{assets}/favicon-32x32.png">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="stylesheet" href="{assets}/docs.css">
</head>
<body>
<div id="swagger-ui" data-spec-url="{spec_url}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/docs.js"></script>
</body>
</html>
"""


class SwaggerPage(OpenAPIRenderPlugin):
    """Swagger UI from the bundled files, started by ``docs.js`` (Litestar's own plugins load
    their scripts from a CDN and inline their initialiser).
    """

    def __init__(self) -> None:
        super().__init__(path="/swagger", favicon="", style="")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        """The page; the spec's URL is handed to ``docs.js`` as a data attribute."""
        title = escape(str(openapi_schema.get("info", {}).get("title", "API")))
        spec_url = escape(self.get_openapi_json_route(request))
        return PAGE.format(title=title, assets=ASSETS, spec_url=spec_url).encode()


def operation_id(handler: HTTPRouteHandler, _method: Method, _path: list[str | Any]) -> str:
    """A handler's name in camelCase (``create_export`` → ``createExport``): generated clients
    read it as the function's name. A handler whose name is not a verb sets ``operation_id``.
    """
    first, *rest = handler.handler_name.split("_")
    return first + "".join(word.capitalize() for word in rest)


def openapi_config(version: str) -> OpenAPIConfig:
    """The document at ``/schema/openapi.json`` and the docs page at ``/schema``."""
    return OpenAPIConfig(
        title="Vitae",
        version=version,
        description=(
            "Asynchronous résumé-to-PDF exports. `/api` routes need a bearer JWT "
            "(`vitae users create` or `vitae users token` prints one)."
        ),
        path=SCHEMA_PATH,
        render_plugins=[SwaggerPage()],
        operation_id_creator=operation_id,
        # Examples are written by hand where they help; generated ones are random filler.
        create_examples=False,
        # Replaces the scheme of Litestar's JWTAuth, which puts `name` on an `http` scheme
        # (not allowed by OpenAPI 3.1): the later components win when they are merged.
        components=Components(
            security_schemes={
                SECURITY_SCHEME: SecurityScheme(
                    type="http",
                    scheme="bearer",
                    bearer_format="JWT",
                    description="A bearer JWT (HS256) as `vitae users create` prints it.",
                )
            }
        ),
    )
