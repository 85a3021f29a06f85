"""The résumé's photo, made ready for a render by the worker: an ``https`` ``basics.image`` is
fetched here and handed to the renderer (which has no network) as a ``data:`` URI.

The fetch follows the webhooks' address policy (``vitae.netpolicy``): public addresses only,
checked when the name is resolved, then a connection to the checked address with the name
kept for TLS and ``Host``, so a name that re-resolves to an internal address cannot reach it.
Redirects are not followed (their target would escape the check); the whole fetch, name
resolution included, has ``VITAE_PHOTO_TIMEOUT`` seconds; the body is read as it comes and
dropped past `MAX_PHOTO_BYTES`; only ``image/png`` and ``image/jpeg`` whose bytes begin as
such images do are kept. A photo that cannot be had is left out with a warning on the export,
never an error: the résumé renders without it.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import logging
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from vitae.netpolicy import RefusedURLError, UrlPolicy
from vitae.rendering import InvalidOptionError, UnknownTemplateError, find_template
from vitae.rendering.catalog import validate_options
from vitae.rendering.photo import MAX_PHOTO_BYTES, PhotoError, check_signature, photo_svg

if TYPE_CHECKING:
    from pathlib import Path

    from vitae.settings import PhotoSettings

log = logging.getLogger(__name__)

USER_AGENT = "Vitae-Photos/1"
IMAGE_TYPES = ("image/png", "image/jpeg")
# A URL with a host (``scheme://``): fetched, or refused by the policy with its reason.
_WEB_ADDRESS = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Prepared:
    """The résumé to render and what the export should say about its photo."""

    content: Mapping[str, Any]
    warnings: list[str] = field(default_factory=list[str])


async def prepare_photo(
    content: Mapping[str, Any],
    template: str,
    options: Mapping[str, Any],
    templates_dir: Path,
    settings: PhotoSettings,
) -> Prepared:
    """The résumé with its photo as a ``data:`` URI, or without it and a warning saying why.

    Nothing is fetched or checked when the template shows no photo or the option hides it.
    An unknown template or invalid options are left for the render to report.
    """
    basics = content.get("basics")
    image = basics.get("image") if isinstance(basics, Mapping) else None
    if not isinstance(image, str) or not image.strip() or not isinstance(basics, Mapping):
        return Prepared(content)
    try:
        values = validate_options(find_template(templates_dir, template), options)
    except (InvalidOptionError, UnknownTemplateError):
        return Prepared(content)
    if values.get("photo") != "show":
        return Prepared(content)
    image = image.strip()
    if _WEB_ADDRESS.match(image):
        try:
            data_uri = await fetch_photo(image, settings)
        except PhotoError as error:
            return _left_out(content, basics, error.reason)
        return Prepared({**content, "basics": {**basics, "image": data_uri}})
    reason = photo_svg(content).left_out
    return Prepared(content) if reason is None else _left_out(content, basics, reason)


def _left_out(content: Mapping[str, Any], basics: Mapping[str, Any], reason: str) -> Prepared:
    log.info("photo left out: %s", reason)
    kept = {key: value for key, value in basics.items() if key != "image"}
    return Prepared({**content, "basics": kept}, [f"basics.image: left out: {reason}"])


async def fetch_photo(url: str, settings: PhotoSettings) -> str:
    """The image at ``url`` as a ``data:`` URI; raises `PhotoError` saying why it cannot be."""
    policy = UrlPolicy.from_settings(settings, "VITAE_PHOTO")
    seconds = settings.timeout
    try:
        async with asyncio.timeout(seconds):
            target = await policy.resolve(url)
            netloc = httpx.URL(target.url).netloc.decode()
            async with (
                httpx.AsyncClient(
                    verify=_tls_context(settings.ca_file),
                    follow_redirects=False,
                    trust_env=False,
                    timeout=seconds,
                ) as client,
                client.stream(
                    "GET",
                    target.pinned_url(),
                    headers={
                        "Host": netloc,
                        "User-Agent": USER_AGENT,
                        "Accept": ", ".join(IMAGE_TYPES),
                        # Raw bytes are counted: a compressed body could inflate past the limit.
                        "Accept-Encoding": "identity",
                    },
                    extensions={"sni_hostname": target.host},
                ) as response,
            ):
                return await _read(response)
    except RefusedURLError as error:
        raise PhotoError(error.reason) from None
    except (TimeoutError, httpx.TimeoutException):
        raise PhotoError(f"the server did not send it within {seconds:g} s") from None
    except httpx.HTTPError as error:
        reason = str(error) or type(error).__name__
        raise PhotoError(f"it could not be fetched: {reason}"[:300]) from None


async def _read(response: httpx.Response) -> str:
    status = response.status_code
    if 300 <= status < 400:  # noqa: PLR2004
        raise PhotoError(f"the server answered HTTP {status}: redirects are not followed")
    if status != 200:  # noqa: PLR2004
        raise PhotoError(f"the server answered HTTP {status}")
    mime = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if mime not in IMAGE_TYPES:
        sent = mime or "no Content-Type"
        raise PhotoError(f"the server sent {sent}, not image/png or image/jpeg")
    too_large = f"the image is larger than {MAX_PHOTO_BYTES // 1024} KiB"
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_PHOTO_BYTES:
        raise PhotoError(too_large)
    body = bytearray()
    async for chunk in response.aiter_raw():
        body += chunk
        if len(body) > MAX_PHOTO_BYTES:
            raise PhotoError(too_large)
    check_signature(mime, bytes(body))
    return f"data:{mime};base64,{base64.b64encode(body).decode('ascii')}"


@functools.cache
def _tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """Built once per process (loading a CA bundle takes milliseconds), shared by fetches."""
    if ca_file is None:
        return httpx.create_ssl_context()
    return ssl.create_default_context(cafile=str(ca_file))
