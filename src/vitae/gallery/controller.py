"""Routes of the template gallery: `GET /api/templates` and each template's preview image.

Both need the bearer JWT like every `/api` route (the app applies it globally).
"""

import hashlib
from typing import Any, Final

import msgspec
from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.params import FromPath
from litestar.status_codes import HTTP_304_NOT_MODIFIED

from vitae.errors import NotFoundError
from vitae.gallery.previews import PreviewCache
from vitae.http import error_response, errors
from vitae.rendering import TemplateInfo, TemplateOption

PATH: Final = "/api/templates"


class TemplateOptionRead(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """An option a template accepts in an export's `options` (except `paperSize`, which is
    the export's own field).

    `choice`: one of `values`; `color`: a hex colour matching `pattern`; `order`: a list of
    distinct `values` (the rest follow in the default order); `text`: at most `maxLength`
    characters. A `default` of null means the template decides.
    """

    name: str
    type: str
    description: str
    default: str | list[str] | None
    values: list[str] | None = None
    pattern: str | None = None
    max_length: int | None = None


class TemplateRead(msgspec.Struct, rename="camel", kw_only=True):
    """A template a résumé can be exported with, its options and its preview image."""

    name: str
    title: str
    description: str
    paper_sizes: list[str]
    options: list[TemplateOptionRead]
    preview_url: str


def _option_read(option: TemplateOption) -> TemplateOptionRead:
    default = list(option.default) if isinstance(option.default, tuple) else option.default
    return TemplateOptionRead(
        name=option.name,
        type=option.type,
        description=option.description,
        default=default,
        values=list(option.values) or None,
        pattern=option.pattern,
        max_length=option.max_length,
    )


def template_read(template: TemplateInfo) -> TemplateRead:
    """The API's view of a catalogue entry."""
    return TemplateRead(
        name=template.name,
        title=template.title,
        description=template.description,
        paper_sizes=list(template.paper_sizes),
        options=[_option_read(option) for option in template.options],
        preview_url=f"{PATH}/{template.name}/preview.png",
    )


def _template(state: State, name: str) -> TemplateInfo:
    templates: list[TemplateInfo] = state.templates
    # Looked up among the loaded catalogue: a name never becomes a path by itself.
    for template in templates:
        if template.name == name:
            return template
    raise NotFoundError(f"no template {name!r}", field="name")


@get(PATH, tags=["templates"], summary="List templates", responses=errors())
async def list_templates(state: State) -> list[TemplateRead]:
    """The templates, each with its paper sizes, its options and its preview's URL.

    Each option has a name, a type, allowed values or a pattern, and a default.
    """
    templates: list[TemplateInfo] = state.templates
    return [template_read(template) for template in templates]


@get(
    f"{PATH}/{{name:str}}/preview.png",
    tags=["templates"],
    summary="Preview a template",
    operation_id="getTemplatePreview",
    description="The first page of the built-in sample résumé in this template, as PNG. "
    "The same for every request: cache it (an `ETag` is sent).",
    media_type="image/png",
    content_media_type="image/png",
    response_description="The PNG image",
    responses={
        **errors(400),
        404: error_response("No such template", 404, "no template 'nope'", "name"),
    },
)
async def template_preview(
    state: State, request: Request[Any, Any, Any], name: FromPath[str]
) -> Response[bytes]:
    """A template's preview image, rendered once per app instance and then served from memory."""
    template = _template(state, name)
    previews: PreviewCache = state.previews  # the app instance's (``vitae.wiring.api``)
    image = await previews.get(state.settings.templates_dir, template.name)
    etag = '"' + hashlib.sha256(image).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "private, max-age=3600"}
    if request.headers.get("if-none-match") == etag:
        return Response(b"", status_code=HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(image, media_type="image/png", headers=headers)


# What the app registers: `Litestar(route_handlers=[*GALLERY_ROUTES, ...])`.
GALLERY_ROUTES: Final = (list_templates, template_preview)
