"""The template catalog: the folders of a templates directory that hold a `template.json`."""

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from vitae.rendering.errors import RenderError, UnknownTemplateError

PaperSize = Literal["a4", "letter"]

METADATA_FILE: Final = "template.json"
MAIN_FILE: Final = "main.typ"
FONTS_DIR: Final = "fonts"

_PAPER_SIZES: Final[dict[str, PaperSize]] = {"a4": "a4", "letter": "letter"}


@dataclass(frozen=True, slots=True)
class TemplateInfo:
    """A template of the catalog, as described by its `template.json`."""

    name: str
    title: str
    description: str
    paper_sizes: tuple[PaperSize, ...]


def default_templates_dir() -> Path:
    """Return `$VITAE_TEMPLATES_DIR`, else the `templates/` folder of this checkout."""
    override = os.environ.get("VITAE_TEMPLATES_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[3] / "templates"


def list_templates(templates_dir: Path) -> list[TemplateInfo]:
    """Return every template of `templates_dir`, sorted by name."""
    return [_read_metadata(templates_dir / name) for name in sorted(_template_names(templates_dir))]


def find_template(templates_dir: Path, name: str) -> TemplateInfo:
    """Return the catalog entry called `name`; raise `UnknownTemplateError` if there is none."""
    # The name must equal one of the directory's entries, so a name such as "../x" or "/etc"
    # is refused before it is ever joined to a path.
    if name not in _template_names(templates_dir):
        raise UnknownTemplateError(name)
    return _read_metadata(templates_dir / name)


def _template_names(templates_dir: Path) -> set[str]:
    try:
        entries = list(templates_dir.iterdir())
    except OSError:
        return set()
    return {entry.name for entry in entries if (entry / METADATA_FILE).is_file()}


def _read_metadata(folder: Path) -> TemplateInfo:
    path = folder / METADATA_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RenderError(f"cannot read {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise RenderError(f"{path} must hold a JSON object")
    name = raw.get("name")
    title = raw.get("title")
    description = raw.get("description")
    papers = raw.get("paperSizes")
    if name != folder.name:
        raise RenderError(f"{path}: name must be {folder.name!r}")
    if not isinstance(title, str) or not isinstance(description, str):
        raise RenderError(f"{path}: title and description must be strings")
    if not isinstance(papers, list) or not papers or any(p not in _PAPER_SIZES for p in papers):
        raise RenderError(f"{path}: paperSizes must list some of {sorted(_PAPER_SIZES)}")
    return TemplateInfo(
        name=folder.name,
        title=title,
        description=description,
        paper_sizes=tuple(_PAPER_SIZES[p] for p in papers),
    )
