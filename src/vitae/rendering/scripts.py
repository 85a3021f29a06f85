"""Which language and writing direction a résumé is written in, guessed from its letters.

Used for the `auto` values of the `language` and `direction` options: a résumé written in
Arabic gets Arabic headings and dates and a right-to-left page without the user saying so.
Only the script is looked at, so Latin-script résumés count as English; other languages of
the same script are chosen with the `language` option.
"""

import re
from collections.abc import Iterator, Mapping
from typing import Any, Final, Literal

type Direction = Literal["ltr", "rtl"]

# Fields that hold addresses and dates rather than prose.
_SKIPPED_KEYS: Final = frozenset({"url", "email", "phone", "image", "$schema", "meta"})
_SAMPLE_CHARACTERS: Final = 5_000
# A script must hold this share of the letters to decide the language.
_DOMINANT_SHARE: Final = 0.25
_KANA_SHARE: Final = 0.05
RTL_LANGUAGES: Final = frozenset({"ar", "he"})

# Letters of each script (Unicode blocks), counted with one regular expression per script.
_SCRIPTS: Final = {
    "arabic": re.compile(r"[\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF]"),
    "hebrew": re.compile(r"[\u0590-\u05FF\uFB1D-\uFB4F]"),
    "hangul": re.compile(r"[\u1100-\u11FF\u3130-\u318F\uAC00-\uD7AF]"),
    "kana": re.compile(r"[\u3040-\u30FF\u31F0-\u31FF\uFF66-\uFF9F]"),
    "han": re.compile(r"[\u3400-\u4DBF\u4E00-\u9FFF\uF900-\uFAFF]"),
    "cyrillic": re.compile(r"[\u0400-\u052F]"),
    "greek": re.compile(r"[\u0370-\u03FF\u1F00-\u1FFF]"),
    "devanagari": re.compile(r"[\u0900-\u097F]"),
}
_LETTER: Final = re.compile(r"[^\W\d_]")
_BEYOND_LATIN: Final = re.compile(r"[^\u0000-\u036F]")  # below U+0370: Latin, IPA, accents
_UKRAINIAN: Final = re.compile(r"[ґєіїҐЄІЇ]")
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


def detect_language(resume: Mapping[str, Any]) -> str:
    """The language code whose script dominates the résumé's text; "en" for Latin script."""
    text = _sample_text(resume)
    if not _BEYOND_LATIN.search(text):
        return "en"  # no letter of any script counted below: the common case, in one pass
    total = len(_LETTER.findall(text))
    if total == 0:
        return "en"
    counts = {script: len(pattern.findall(text)) for script, pattern in _SCRIPTS.items()}
    # Japanese mixes kana with kanji: any real share of kana makes Han text Japanese.
    if counts["kana"] and counts["kana"] >= _KANA_SHARE * (counts["kana"] + counts["han"]):
        counts["kana"] += counts.pop("han")
    script, count = max(counts.items(), key=lambda item: item[1])
    if count < _DOMINANT_SHARE * total:
        return "en"
    if script == "cyrillic" and _UKRAINIAN.search(text):
        return "uk"
    return _LANGUAGE_OF_SCRIPT[script]


def detect_direction(language: str, detected: str) -> Direction:
    """Right to left when the chosen language, or the one detected from the text, is so."""
    return "rtl" if RTL_LANGUAGES & {language, detected} else "ltr"


def _sample_text(resume: Mapping[str, Any]) -> str:
    parts: list[str] = []
    size = 0
    for text in _texts(resume, depth=4):
        parts.append(text)
        size += len(text)
        if size > _SAMPLE_CHARACTERS:
            break
    return "\n".join(parts)


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
