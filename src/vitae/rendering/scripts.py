"""Which language and writing direction a résumé is written in, guessed from its letters.

Used for the `auto` values of the `language` and `direction` options: a résumé written in
Arabic gets Arabic headings and dates and a right-to-left page without the user saying so.
Only the script is looked at, so Latin-script résumés count as English; other languages of
the same script are chosen with the `language` option.
"""

from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any, Final, Literal

type Direction = Literal["ltr", "rtl"]

# Fields that hold addresses and dates rather than prose.
_SKIPPED_KEYS: Final = frozenset({"url", "email", "phone", "image", "$schema", "meta"})
_SAMPLE_CHARACTERS: Final = 20_000
# A script must hold this share of the letters to decide the language.
_DOMINANT_SHARE: Final = 0.25
RTL_LANGUAGES: Final = frozenset({"ar", "he"})

_SCRIPTS: Final[tuple[tuple[str, tuple[tuple[int, int], ...]], ...]] = (
    ("arabic", ((0x0600, 0x06FF), (0x0750, 0x077F), (0x08A0, 0x08FF), (0xFB50, 0xFDFF),
                (0xFE70, 0xFEFF))),
    ("hebrew", ((0x0590, 0x05FF), (0xFB1D, 0xFB4F))),
    ("hangul", ((0x1100, 0x11FF), (0x3130, 0x318F), (0xAC00, 0xD7AF))),
    ("kana", ((0x3040, 0x30FF), (0x31F0, 0x31FF), (0xFF66, 0xFF9F))),
    ("han", ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))),
    ("cyrillic", ((0x0400, 0x052F),)),
    ("greek", ((0x0370, 0x03FF), (0x1F00, 0x1FFF))),
    ("devanagari", ((0x0900, 0x097F),)),
)  # fmt: skip
_LANGUAGE_OF_SCRIPT: Final = {
    "arabic": "ar",
    "hebrew": "he",
    "hangul": "ko",
    "kana": "ja",
    "han": "zh",
    "cyrillic": "ru",
    "greek": "el",
    "devanagari": "hi",
}
_UKRAINIAN_LETTERS: Final = frozenset("ґєіїҐЄІЇ")


def detect_language(resume: Mapping[str, Any]) -> str:
    """The language code whose script dominates the résumé's text; "en" for Latin script."""
    counts, ukrainian = _count_scripts(resume)
    total = sum(counts.values())
    if total == 0:
        return "en"
    # Japanese mixes kana with kanji: any real share of kana makes Han text Japanese.
    if counts["kana"] >= 0.05 * (counts["kana"] + counts["han"]) and counts["kana"]:
        counts["kana"] += counts.pop("han", 0)
    script, count = max(counts.items(), key=lambda item: item[1])
    if script == "latin" or count < _DOMINANT_SHARE * total:
        return "en"
    if script == "cyrillic" and ukrainian:
        return "uk"
    return _LANGUAGE_OF_SCRIPT[script]


def detect_direction(resume: Mapping[str, Any], language: str) -> Direction:
    """Right to left when the language, or the script that dominates the text, is written so."""
    if language in RTL_LANGUAGES or detect_language(resume) in RTL_LANGUAGES:
        return "rtl"
    return "ltr"


def _count_scripts(resume: Mapping[str, Any]) -> tuple[Counter[str], bool]:
    counts: Counter[str] = Counter()
    ukrainian = False
    seen = 0
    for text in _texts(resume, depth=4):
        for char in text:
            if not char.isalpha():
                continue
            script = _script_of(ord(char))
            counts[script] += 1
            ukrainian = ukrainian or char in _UKRAINIAN_LETTERS
        seen += len(text)
        if seen > _SAMPLE_CHARACTERS:
            break
    return counts, ukrainian


def _script_of(code: int) -> str:
    for script, ranges in _SCRIPTS:
        if any(low <= code <= high for low, high in ranges):
            return script
    return "latin"


def _texts(value: object, depth: int) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif depth > 0 and isinstance(value, Mapping):
        for key, item in value.items():  # pyright: ignore[reportUnknownVariableType]
            if key not in _SKIPPED_KEYS and not str(key).endswith(("Date", "date")):  # pyright: ignore[reportUnknownArgumentType]
                yield from _texts(item, depth - 1)
    elif depth > 0 and isinstance(value, list):
        for item in value:  # pyright: ignore[reportUnknownVariableType]
            yield from _texts(item, depth - 1)
