"""The storage contract every backend fulfils."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class StoredFile:
    """What a backend returns after a write."""

    key: str
    size: int
    location: str


def export_key(user_id: str, export_id: str) -> str:
    """The one storage key of an export: re-running a job overwrites the same object."""
    return f"exports/{user_id}/{export_id}.pdf"


class Storage(Protocol):
    """A place for PDFs with expiring download links."""

    async def put(self, key: str, data: bytes, *, filename: str) -> StoredFile:
        """Store ``data`` under ``key`` as a PDF offered for download as ``filename``."""
        ...

    async def url(self, key: str, *, filename: str) -> str:
        """A fresh link that expires after the configured time."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the object; a missing object is not an error."""
        ...

    async def check(self) -> None:
        """Raise if the storage cannot be written to right now."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
