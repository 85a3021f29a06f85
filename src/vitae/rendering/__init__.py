"""Résumé rendering: JSON Resume data and a Typst template in, PDF bytes out.

Pure: no database, queue or network. The résumé reaches Typst only as data (`sys.inputs`),
never as source, and only bundled fonts are used, so output is the same on every machine.
"""

from vitae.rendering.catalog import PaperSize, TemplateInfo, default_templates_dir, list_templates
from vitae.rendering.errors import RenderError, UnknownTemplateError
from vitae.rendering.pdf import RenderOptions, render_pdf
from vitae.rendering.renderer import Renderer

__all__ = [
    "PaperSize",
    "RenderError",
    "RenderOptions",
    "Renderer",
    "TemplateInfo",
    "UnknownTemplateError",
    "default_templates_dir",
    "list_templates",
    "render_pdf",
]
