"""Time helpers: every timestamp is an aware UTC datetime, at MongoDB's millisecond precision."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, truncated to milliseconds so that what we store is what we read back."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def as_utc(value: datetime) -> datetime:
    """Attach UTC to a naive datetime read from the database."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
