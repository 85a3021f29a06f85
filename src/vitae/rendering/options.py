"""Template options: how a template declares them in its `template.json`, and how a requested
value is checked and brought to its canonical form.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final, Literal, NoReturn, TypeGuard

from vitae.rendering.errors import InvalidOptionError, RenderError

type OptionType = Literal["choice", "color", "order", "text"]
type OptionValue = str | tuple[str, ...] | None

OPTION_TYPES: Final[tuple[OptionType, ...]] = ("choice", "color", "order", "text")
COLOR_PATTERN: Final = "^#(?:[0-9a-fA-F]{3}){1,2}$"
_COLOR = re.compile(COLOR_PATTERN)
_NAME = re.compile(r"^[a-z][A-Za-z0-9]*$")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class TemplateOption:
    """One option of a template, as declared in its `template.json`.

    - `choice`: one of `values` (matched case-insensitively, returned as declared; an integer
      counts as its digits);
    - `color`: a hex colour matching `pattern` (returned as lowercase `#rrggbb`);
    - `order`: a list of distinct items of `values`; the items it leaves out follow in the
      default order, so the canonical value always lists every item;
    - `text`: free text of at most `max_length` characters.

    A `default` of None makes the option nullable: the template then decides (the date
    language follows the language, a missing "Present" label is the language's word).
    """

    name: str
    type: OptionType
    description: str
    default: OptionValue
    values: tuple[str, ...] = ()
    pattern: str | None = None
    max_length: int | None = None

    def normalize(self, value: object) -> OptionValue:
        """Return `value` in canonical form; raise `InvalidOptionError` naming this option."""
        if value is None:
            if self.default is None:
                return None
            self._fail(f"must not be null; the default is {_show(self.default)}")
        match self.type:
            case "choice":
                return self._choice(value)
            case "color":
                return self._color(value)
            case "order":
                return self._order(value)
            case "text":
                return self._text(value)

    def _choice(self, value: object) -> str:
        # A number is taken as written ("fitPages": 1 is the choice "1").
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str):
            for allowed in self.values:
                if allowed.casefold() == value.strip().casefold():
                    return allowed
        return self._fail(f"must be one of {_show_all(self.values)}; got {_show(value)}")

    def _color(self, value: object) -> str:
        if not isinstance(value, str) or not _COLOR.match(value.strip()):
            self._fail(f"must be a hex colour such as #1f4e79 or #26a; got {_show(value)}")
        digits = value.strip()[1:].lower()
        if len(digits) == 3:  # noqa: PLR2004  (#rgb is short for #rrggbb)
            digits = "".join(d * 2 for d in digits)
        return f"#{digits}"

    def _order(self, value: object) -> tuple[str, ...]:
        expected = f"must be a list of distinct names from {_show_all(self.values)}"
        if isinstance(value, str) or not isinstance(value, Sequence):
            self._fail(f"{expected}; got {_show(value)}")
        by_fold = {allowed.casefold(): allowed for allowed in self.values}
        chosen: list[str] = []
        for item in value:  # pyright: ignore[reportUnknownVariableType]
            allowed = by_fold.get(item.strip().casefold()) if isinstance(item, str) else None
            if allowed is None:
                self._fail(f"{expected}; got {_show(item)}")
            if allowed in chosen:
                self._fail(f"{expected}; {_show(allowed)} is listed twice")
            chosen.append(allowed)
        default = self.default if isinstance(self.default, tuple) else self.values
        return (*chosen, *(item for item in default if item not in chosen))

    def _text(self, value: object) -> str | None:
        if not isinstance(value, str):
            self._fail(f"must be a string; got {_show(value)}")
        text = _SPACES.sub(" ", value).strip()
        if not text:
            if self.default is None:
                return None
            self._fail("must not be empty")
        if self.max_length is not None and len(text) > self.max_length:
            self._fail(f"must be at most {self.max_length} characters long")
        return text

    def _fail(self, reason: str) -> NoReturn:
        raise InvalidOptionError(self.name, f"option {self.name!r} {reason}")


def parse_option(raw: object, where: str) -> TemplateOption:
    """Read one declaration of a `template.json`'s `options`; `where` names it in errors."""
    if not isinstance(raw, dict):
        raise RenderError(f"{where} must be an object")
    fields: dict[str, object] = {str(key): value for key, value in raw.items()}  # pyright: ignore[reportUnknownVariableType]
    name = fields.get("name")
    kind = fields.get("type")
    description = fields.get("description", "")
    values = fields.get("values", [])
    max_length = fields.get("maxLength")
    if not isinstance(name, str) or not _NAME.match(name):
        raise RenderError(f"{where}: name must be a camelCase identifier")
    if kind not in OPTION_TYPES:
        raise RenderError(f"{where} ({name}): type must be one of {', '.join(OPTION_TYPES)}")
    if not isinstance(description, str):
        raise RenderError(f"{where} ({name}): description must be a string")
    if not _is_str_list(values) or len(set(values)) != len(values):
        raise RenderError(f"{where} ({name}): values must be a list of distinct strings")
    if kind in {"choice", "order"} and not values:
        raise RenderError(f"{where} ({name}): a {kind} needs values")
    if max_length is not None and (not isinstance(max_length, int) or max_length < 1):
        raise RenderError(f"{where} ({name}): maxLength must be a positive integer")
    option = TemplateOption(
        name=name,
        type=kind,
        description=description,
        default=None,
        values=tuple(values),
        pattern=COLOR_PATTERN if kind == "color" else None,
        max_length=max_length if kind == "text" else None,
    )
    return _with_default(option, fields.get("default"), where)


def _with_default(option: TemplateOption, raw: object, where: str) -> TemplateOption:
    if raw is None:
        return option
    if option.type == "order" and (not isinstance(raw, list) or len(raw) != len(option.values)):  # pyright: ignore[reportUnknownArgumentType]
        raise RenderError(f"{where}: the default of {option.name!r} must list every value")
    # The default goes through the same check as a request's value, so it is canonical.
    try:
        default = replace(option, default="").normalize(raw)
    except InvalidOptionError as exc:
        raise RenderError(f"{where}: default: {exc.message}") from exc
    return replace(option, default=default)


def _is_str_list(value: object) -> TypeGuard[list[str]]:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)  # pyright: ignore[reportUnknownVariableType]


def _show(value: object) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"  # pyright: ignore[reportUnknownVariableType]
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."  # noqa: PLR2004


def _show_all(values: Sequence[str]) -> str:
    return ", ".join(repr(v) for v in values)
