"""Record ids as they appear at the edge: the 24-hex-digit pattern and its parsing."""

from __future__ import annotations

from typing import Annotated

import msgspec
from bson import ObjectId

from vitae.errors import NotFoundError

OBJECT_ID_PATTERN = "^[0-9a-fA-F]{24}$"
type ObjectIdStr = Annotated[
    str,
    msgspec.Meta(
        pattern=OBJECT_ID_PATTERN,
        description="A 24-hex-digit id",
        examples=["6650c0ffee0ddba11ca7f00d"],
    ),
]


def parse_id(value: str, field: str = "id") -> ObjectId:
    """An ObjectId from a path or body value; anything else is simply not found."""
    if not ObjectId.is_valid(value):
        raise NotFoundError(f"no such {field}")
    return ObjectId(value)
