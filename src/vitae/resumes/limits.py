"""Size limits of a résumé's content, checked when it is saved.

Chosen far above any real résumé (the long samples in the tests use under a tenth of each)
and low enough that a render at every limit at once ends within the render limits, where
the page cap stops it. README's "Limits" section lists them.
"""

from __future__ import annotations

from typing import Final

import msgspec

from vitae.errors import InvalidRequestError

# Characters in one string (a summary of about 1,500 words).
MAX_STRING: Final = 10_000
# Items in one array, or fields in one object (entries of a section, highlights, keywords).
MAX_ITEMS: Final = 200
# Objects and arrays nested inside one another below `content` (JSON Resume uses 4).
MAX_DEPTH: Final = 10
# The whole content, encoded as compact JSON.
MAX_DOCUMENT_BYTES: Final = 256 * 1024
# Integers a database stores: 64-bit signed.
INT64: Final = 2**63


def check_content(content: dict[str, object]) -> None:
    """Refuse content past a size limit, or that JSON allows but the database cannot keep
    (NUL in a key, integers beyond 64 bits). The error names the first offending path and
    the limit.
    """
    _check(content, "content", 1)
    size = len(msgspec.json.encode(content))
    if size > MAX_DOCUMENT_BYTES:
        raise InvalidRequestError(
            f"content is {size} bytes of JSON; the limit is {MAX_DOCUMENT_BYTES}", field="content"
        )


def _check(value: object, path: str, depth: int) -> None:
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            raise InvalidRequestError(
                f"{path} has {len(value)} characters; the limit is {MAX_STRING}", field=path
            )
    elif isinstance(value, dict | list):
        _check_container(value, path, depth)  # pyright: ignore[reportUnknownArgumentType]
    elif isinstance(value, int) and not isinstance(value, bool) and not -INT64 <= value < INT64:
        raise InvalidRequestError("integers must fit in 64 bits", field=path)


def _check_container(value: dict[object, object] | list[object], path: str, depth: int) -> None:
    kind = "fields" if isinstance(value, dict) else "items"
    if depth > MAX_DEPTH:
        raise InvalidRequestError(f"{path} is nested deeper than {MAX_DEPTH} levels", field=path)
    if len(value) > MAX_ITEMS:
        raise InvalidRequestError(
            f"{path} has {len(value)} {kind}; the limit is {MAX_ITEMS}", field=path
        )
    if isinstance(value, list):
        for index, item in enumerate(value):
            _check(item, f"{path}[{index}]", depth + 1)
        return
    for key, item in value.items():
        name = str(key)
        if "\x00" in name:
            raise InvalidRequestError("keys cannot contain the NUL character", field=path)
        if len(name) > MAX_STRING:
            raise InvalidRequestError(
                f"{path} has a field name of {len(name)} characters; the limit is {MAX_STRING}",
                field=path,
            )
        _check(item, f"{path}.{name}", depth + 1)
