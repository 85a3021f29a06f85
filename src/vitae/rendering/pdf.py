"""Résumé to PDF with Typst, one cached compiler per thread and template."""

import datetime as dt
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import typst

from vitae.rendering.catalog import FONTS_DIR, MAIN_FILE, PaperSize, TemplateInfo, find_template
from vitae.rendering.errors import RenderError

# Typst's names for the API's paper sizes.
_TYPST_PAPER: Final[dict[str, str]] = {"a4": "a4", "letter": "us-letter"}


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """How to render: the catalog template, its paper size and the free-plan watermark."""

    template: str
    paper_size: PaperSize = "a4"
    watermark: bool = False


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


def render_encoded(data: str, options: RenderOptions, templates_dir: Path) -> bytes:
    """Render a résumé already encoded by `encode_resume`."""
    compiler, info = _compiler(templates_dir, options.template)
    if options.paper_size not in info.paper_sizes:
        raise RenderError(
            f"template {info.name!r} does not support paper size {options.paper_size!r}"
        )
    sys_inputs = {
        "data": data,
        "paper": _TYPST_PAPER[options.paper_size],
        "watermark": "true" if options.watermark else "false",
    }
    try:
        pdf = compiler.compile(format="pdf", sys_inputs=sys_inputs)
    except typst.TypstError as exc:
        raise RenderError(f"template {info.name!r} failed: {_first_line(exc.message)}") from exc
    if not isinstance(pdf, bytes):
        raise RenderError(f"template {info.name!r} produced no PDF")
    return pdf


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
