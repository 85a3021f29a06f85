"""The template catalog: the folders of a templates directory that hold a `template.json`."""

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from vitae.rendering.errors import InvalidOptionError, RenderError, UnknownTemplateError
from vitae.rendering.options import TemplateOption, parse_option

PaperSize = Literal["a4", "letter"]

METADATA_FILE: Final = "template.json"
MAIN_FILE: Final = "main.typ"
FONTS_DIR: Final = "fonts"
# Chosen with the request's own `paperSize` field, so never part of `RenderOptions.options`.
PAPER_OPTION: Final = "paperSize"

_PAPER_SIZES: Final[dict[str, PaperSize]] = {"a4": "a4", "letter": "letter"}


@dataclass(frozen=True, slots=True)
class TemplateInfo:
    """A template of the catalog, as described by its `template.json`.

    `options` are every option the template declares, `paperSize` included; all fields are
    strings, integers, tuples or None, so the entry serialises as it is (msgspec, JSON).
    """

    name: str
    title: str
    description: str
    paper_sizes: tuple[PaperSize, ...]
    options: tuple[TemplateOption, ...] = ()

    def option(self, name: str) -> TemplateOption | None:
        """The declared option called `name`, or None."""
        return next((option for option in self.options if option.name == name), None)


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


def validate_options(template: TemplateInfo, options: Mapping[str, Any]) -> dict[str, Any]:
    """Check a request's template options and return them complete and canonical.

    Every option the template declares (except `paperSize`, see `validate_paper_size`) is in
    the result, with its default where `options` leaves it out. An unknown option, a value the
    template does not accept, or `paperSize` raise `InvalidOptionError` naming the option.
    """
    if not isinstance(options, Mapping):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise InvalidOptionError("options", "options must be an object")
    declared = {option.name: option for option in template.options if option.name != PAPER_OPTION}
    for key in options:
        if key == PAPER_OPTION:
            raise InvalidOptionError(
                key, "option 'paperSize' is chosen with the paperSize field, not in options"
            )
        if key not in declared:
            choices = ", ".join(repr(name) for name in declared) or "none"
            raise InvalidOptionError(
                str(key),
                f"unknown option {str(key)!r} for template {template.name!r}; "
                f"its options are {choices}",
            )
    return {
        name: option.normalize(options[name]) if name in options else option.default
        for name, option in declared.items()
    }


def validate_paper_size(template: TemplateInfo, paper_size: object) -> PaperSize:
    """Check a paper size against the template's; raise `InvalidOptionError` ("paperSize")."""
    for size in template.paper_sizes:
        if isinstance(paper_size, str) and paper_size.strip().casefold() == size:
            return size
    allowed = ", ".join(repr(size) for size in template.paper_sizes)
    raise InvalidOptionError(
        PAPER_OPTION,
        f"option 'paperSize' must be one of {allowed} for template {template.name!r}; "
        f"got {paper_size!r}",
    )


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
    if name != folder.name:
        raise RenderError(f"{path}: name must be {folder.name!r}")
    if not isinstance(title, str) or not isinstance(description, str):
        raise RenderError(f"{path}: title and description must be strings")
    raw_options = raw.get("options", [])
    if not isinstance(raw_options, list):
        raise RenderError(f"{path}: options must be a list")
    options = tuple(
        parse_option(item, f"{path}: options[{index}]")
        for index, item in enumerate(raw_options)  # pyright: ignore[reportUnknownArgumentType, reportUnknownVariableType]
    )
    if len({option.name for option in options}) != len(options):
        raise RenderError(f"{path}: an option is declared twice")
    paper = next((option for option in options if option.name == PAPER_OPTION), None)
    # A template without a paperSize option may still list its sizes the older way.
    papers = list(paper.values) if paper is not None else raw.get("paperSizes")
    if not isinstance(papers, list) or not papers or any(p not in _PAPER_SIZES for p in papers):
        raise RenderError(f"{path}: paperSize must offer some of {sorted(_PAPER_SIZES)}")
    return TemplateInfo(
        name=folder.name,
        title=title,
        description=description,
        paper_sizes=tuple(_PAPER_SIZES[p] for p in papers),
        options=options,
    )
