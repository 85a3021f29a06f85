"""The template gallery: the catalogue with each template's options, and preview images."""

from vitae.gallery.controller import GALLERY_ROUTES, list_templates, template_preview
from vitae.gallery.previews import PREVIEW_PPI, PreviewCache, preview_sample

__all__ = [
    "GALLERY_ROUTES",
    "PREVIEW_PPI",
    "PreviewCache",
    "list_templates",
    "preview_sample",
    "template_preview",
]
