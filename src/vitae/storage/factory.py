"""Build the configured storage backend."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vitae.storage.local import LinkSigner, LocalStorage
from vitae.storage.s3 import S3Storage

if TYPE_CHECKING:
    from vitae.settings import Settings
    from vitae.storage.base import Storage


async def open_storage(settings: Settings) -> Storage:
    """Open the backend that ``VITAE_STORAGE`` names."""
    if settings.storage == "s3":
        storage = S3Storage(settings.s3, expiry=settings.url_expiry)
        await storage.open()
        return storage
    settings.require("jwt_secret")
    return LocalStorage(
        settings.data_dir / "files",
        public_url=settings.public_url,
        signer=LinkSigner(f"files:{settings.jwt_secret}"),
        expiry=settings.url_expiry,
    )
