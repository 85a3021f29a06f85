"""Résumé to PDF (or PNG pages) with Typst, one cached compiler per thread and template."""

import datetime as dt
import json
import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import typst

from vitae.rendering.catalog import (
    FONTS_DIR,
    MAIN_FILE,
    PaperSize,
    TemplateInfo,
    find_template,
    validate_options,
)
from vitae.rendering.errors import RenderError
from vitae.rendering.photo import photo_svg
from vitae.rendering.scripts import detect_direction, detect_language

# Typst's names for the API's paper sizes.
_TYPST_PAPER: Final[dict[str, str]] = {"a4": "a4", "letter": "us-letter"}
# The `pdfStandard` option's values, as Typst's PDF standards.
_PDF_STANDARDS: Final[dict[str, Literal["a-2b", "ua-1"] | None]] = {
    "none": None,
    "a-2b": "a-2b",
    "ua-1": "ua-1",
}
# PDF/A needs a document date; without `meta.lastModified` this fixed one keeps output
# byte-identical (1980-01-01, the usual epoch of reproducible builds).
_FALLBACK_DATE: Final = "1980-01-01"
# PNG resolution of `render_png` unless told otherwise.
DEFAULT_PPI: Final = 72.0
# The tightening steps a template offers for `fitPages` (`fit-steps` in templates/lib).
FIT_STEPS: Final = 5

# The page tree's root as Typst writes it. A résumé's text can put the same bytes in the
# document's metadata, but only a bigger count than the real one, so the largest match is taken.
_PAGE_COUNT = re.compile(rb"/Type\s*/Pages\s*/Count\s+(\d+)")

_log = logging.getLogger("vitae.rendering")


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """How to render: the catalog template, its paper size, the free-plan watermark, and the
    template's other options (camelCase keys as in the API, checked by `validate_options`).
    """

    template: str
    paper_size: PaperSize = "a4"
    watermark: bool = False
    options: Mapping[str, Any] = field(default_factory=dict[str, Any])


class _ThreadCompilers(threading.local):
    """Compilers of the current thread, by templates directory and template name.

    Building a compiler loads the fonts, the expensive part of a compile, so it is kept; it
    must not be used by two threads at once, hence one set per thread.
    """

    def __init__(self) -> None:
        self.by_template: dict[tuple[Path, str], tuple[typst.Compiler, TemplateInfo]] = {}


_compilers = _ThreadCompilers()


def render_pdf(resume: Mapping[str, Any], options: RenderOptions, *, templates_dir: Path) -> bytes:
    """Render a JSON Resume document to PDF bytes; raises `RenderError` on failure."""
    return render_encoded(encode_resume(resume), options, templates_dir)


def encode_resume(resume: Mapping[str, Any]) -> str:
    """Encode the résumé as the JSON text a template reads from `sys.inputs.data`."""
    try:
        # ASCII output: a lone surrogate stays an escape that Typst rejects cleanly instead of
        # breaking the hand-over of the string to the compiler.
        return json.dumps(resume, default=_json_default, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError) as exc:
        raise RenderError(f"the résumé cannot be encoded as JSON: {exc}") from exc


def render_png(
    resume: Mapping[str, Any],
    options: RenderOptions,
    *,
    templates_dir: Path,
    ppi: float = DEFAULT_PPI,
) -> list[bytes]:
    """Render a JSON Resume document to one PNG image per page; raises `RenderError`."""
    pages = _compile(encode_resume(resume), options, templates_dir, "png", ppi)
    return pages if isinstance(pages, list) else [pages]


def render_encoded(data: str, options: RenderOptions, templates_dir: Path) -> bytes:
    """Render a résumé already encoded by `encode_resume`."""
    pdf = _compile(data, options, templates_dir, "pdf", None)
    if not isinstance(pdf, bytes):
        raise RenderError(f"template {options.template!r} produced no PDF")
    return pdf


def _compile(
    data: str,
    options: RenderOptions,
    templates_dir: Path,
    output: Literal["pdf", "png"],
    ppi: float | None,
) -> bytes | list[bytes]:
    compiler, info = _compiler(templates_dir, options.template)
    if options.paper_size not in info.paper_sizes:
        raise RenderError(
            f"template {info.name!r} does not support paper size {options.paper_size!r}"
        )
    values = validate_options(info, options.options)
    standard = str(values.pop("pdfStandard", None) or "none")
    fit_pages = values.pop("fitPages", None)
    show_photo = values.pop("photo", None) == "show"
    resume = json.loads(data)
    if not isinstance(resume, dict):
        resume = {}
    sys_inputs = {
        "data": data,
        "paper": _TYPST_PAPER[options.paper_size],
        "watermark": "true" if options.watermark else "false",
        "options": json.dumps(_resolve_auto(values, resume)),
        "date": _document_date(resume, pdf_a=standard != "none") or "",
        "photo": (photo_svg(resume).svg if show_photo else None) or "",
        "fit": "0",
    }
    pdf_standard = _PDF_STANDARDS[standard]
    if fit_pages is None or fit_pages == "off":
        return _run(compiler, info, sys_inputs, output, ppi, pdf_standard)
    # The template's own look first, then each tighter step until the résumé fits.
    target = int(fit_pages)
    pages = 0
    for step in range(FIT_STEPS):
        sys_inputs["fit"] = str(step)
        result = _run(compiler, info, sys_inputs, output, ppi, pdf_standard)
        pages = _page_count(result)
        if pages <= target:
            return result
    unit = "page" if target == 1 else "pages"
    raise RenderError(
        f"the résumé does not fit on {target} {unit} with template {info.name!r}: it takes "
        f"{pages} pages even with its tightest spacing and type (body text never goes below "
        f"9 pt); shorten it, or ask for more pages"
    )


def _run(
    compiler: typst.Compiler,
    info: TemplateInfo,
    sys_inputs: dict[str, str],
    output: Literal["pdf", "png"],
    ppi: float | None,
    pdf_standard: Literal["a-2b", "ua-1"] | None,
) -> bytes | list[bytes]:
    try:
        result, warnings = compiler.compile_with_warnings(
            format=output, ppi=ppi, sys_inputs=sys_inputs, pdf_standards=pdf_standard
        )
    except typst.TypstError as exc:
        raise RenderError(f"template {info.name!r} failed: {_first_line(exc.message)}") from exc
    for warning in warnings:
        _log.warning("template %r: %s", info.name, _first_line(warning.message))
    if result is None:
        raise RenderError(f"template {info.name!r} produced nothing")
    return result


def count_pages(pdf: bytes) -> int:
    """The number of pages of a PDF written by Typst, read from its page tree (no parsing)."""
    return max((int(match) for match in _PAGE_COUNT.findall(pdf)), default=0)


def _page_count(result: bytes | list[bytes]) -> int:
    if isinstance(result, list):
        return len(result)
    return count_pages(result)


def _resolve_auto(values: dict[str, Any], resume: Mapping[str, Any]) -> dict[str, Any]:
    """Replace `auto` language and direction with what the résumé's text calls for."""
    resolved = dict(values)
    if "auto" not in (resolved.get("language"), resolved.get("direction")):
        return resolved
    detected = detect_language(resume)
    if resolved.get("language") == "auto":
        resolved["language"] = detected
    if resolved.get("direction") == "auto":
        resolved["direction"] = detect_direction(str(resolved.get("language", "en")), detected)
    return resolved


def _document_date(resume: Mapping[str, Any], *, pdf_a: bool) -> str | None:
    """The PDF's date: the résumé's `meta.lastModified`, never the clock, so that the same
    input gives the same bytes; PDF/A requires a date, so it gets a fixed one if needed.
    """
    meta = resume.get("meta")
    modified = meta.get("lastModified") if isinstance(meta, dict) else None
    if isinstance(modified, str):
        try:
            return dt.datetime.fromisoformat(modified.strip()).date().isoformat()
        except ValueError:
            pass
    return _FALLBACK_DATE if pdf_a else None


def _compiler(templates_dir: Path, name: str) -> tuple[typst.Compiler, TemplateInfo]:
    key = (templates_dir, name)
    cached = _compilers.by_template.get(key)
    if cached is None:
        info = find_template(templates_dir, name)
        try:
            compiler = typst.Compiler(
                templates_dir / info.name / MAIN_FILE,
                root=templates_dir,
                font_paths=[templates_dir / FONTS_DIR],
                ignore_system_fonts=True,
            )
        except RuntimeError as exc:  # typst.TypstError is one too
            message = exc.message if isinstance(exc, typst.TypstError) else str(exc)
            raise RenderError(
                f"template {name!r} cannot be loaded: {_first_line(message)}"
            ) from exc
        cached = (compiler, info)
        _compilers.by_template[key] = cached
    return cached


def _json_default(value: object) -> object:
    if isinstance(value, Mapping):
        return dict(value)  # pyright: ignore[reportUnknownArgumentType]
    if isinstance(value, dt.date):  # datetimes too
        return value.isoformat()
    msg = f"{type(value).__name__} is not JSON serializable"
    raise TypeError(msg)


def _first_line(message: str) -> str:
    lines = [line.strip() for line in message.strip().splitlines()]
    return next((line for line in lines if line), "unknown Typst error")
