"""The ``users`` collection."""

from __future__ import annotations

from datetime import datetime

from odmantic import Field, Model

from vitae.timeutil import utcnow


class User(Model):
    """An account. ``credit_balance`` below the paid-export threshold means watermarked PDFs."""

    email: str = Field(unique=True)
    name: str = ""
    credit_balance: int = Field(default=0, key_name="creditBalance")
    is_admin: bool = Field(default=False, key_name="isAdmin")
    # Signs deliveries to exports' callbackUrl; shown once, when it is created.
    callback_secret: str | None = Field(default=None, key_name="callbackSecret")
    created_at: datetime = Field(default_factory=utcnow, key_name="createdAt")

    model_config = {"collection": "users"}  # noqa: RUF012  (ODMantic's declared config style)
