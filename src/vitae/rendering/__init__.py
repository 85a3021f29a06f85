"""Résumé rendering: JSON Resume data and a Typst template in, PDF bytes (or PNG pages) out.

Pure: no database, queue or network. The résumé reaches Typst only as data (`sys.inputs`),
never as source, and only bundled fonts are used, so output is the same on every machine.
Templates declare their options in `template.json`; `validate_options` checks a request's.
"""

from vitae.rendering.catalog import (
    PaperSize,
    TemplateInfo,
    default_templates_dir,
    find_template,
    list_templates,
    validate_options,
    validate_paper_size,
)
from vitae.rendering.errors import (
    InvalidOptionError,
    PageLimitError,
    RenderError,
    RenderMemoryError,
    RenderTimeoutError,
    RenderUnavailableError,
    UnknownTemplateError,
)
from vitae.rendering.options import OptionType, TemplateOption
from vitae.rendering.pdf import RenderOptions, render_pdf, render_png
from vitae.rendering.renderer import Renderer

__all__ = [
    "InvalidOptionError",
    "OptionType",
    "PageLimitError",
    "PaperSize",
    "RenderError",
    "RenderMemoryError",
    "RenderOptions",
    "RenderTimeoutError",
    "RenderUnavailableError",
    "Renderer",
    "TemplateInfo",
    "TemplateOption",
    "UnknownTemplateError",
    "default_templates_dir",
    "find_template",
    "list_templates",
    "render_pdf",
    "render_png",
    "validate_options",
    "validate_paper_size",
]
