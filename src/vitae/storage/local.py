"""Files under the data dir, downloaded through HMAC-signed, expiring links served by the API."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import re
import time
from pathlib import Path
from urllib.parse import quote, urlencode

from vitae.errors import ForbiddenError, NotFoundError
from vitae.storage.base import StoredFile

_KEY = re.compile(r"^exports/[0-9a-f]{24}/[0-9a-f]{24}\.pdf$")
FILES_PATH = "/files"


class LinkSigner:
    """Signs and checks ``(key, expires, filename)`` so a link cannot be altered or reused late."""

    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()

    def signature(self, key: str, expires: int, filename: str) -> str:
        """The hex HMAC-SHA256 of the link's parts."""
        message = f"{key}\n{expires}\n{filename}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def verify(self, key: str, expires: int, filename: str, signature: str) -> None:
        """Raise ``ForbiddenError`` for a tampered or expired link."""
        expected = self.signature(key, expires, filename).encode()
        # Bytes, not str: compare_digest refuses non-ASCII text, and links come from anyone.
        if not hmac.compare_digest(expected, signature.encode("utf-8", "replace")):
            raise ForbiddenError("the download link's signature is invalid", field="signature")
        if expires < time.time():
            raise ForbiddenError("the download link has expired", field="expires")


def check_key(key: str) -> str:
    """Only keys of the one shape we write can reach the disk (no traversal)."""
    if not _KEY.fullmatch(key):
        raise NotFoundError("no such file")
    return key


class LocalStorage:
    """A directory tree; links point at the API's ``/files`` route."""

    def __init__(self, root: Path, *, public_url: str, signer: LinkSigner, expiry: int) -> None:
        self.root = root
        self.public_url = public_url
        self.signer = signer
        self.expiry = expiry

    def path(self, key: str) -> Path:
        """The file behind a key."""
        return self.root / check_key(key)

    async def put(self, key: str, data: bytes, *, filename: str) -> StoredFile:  # noqa: ARG002
        """Write atomically: a reader never sees half a PDF."""
        target = self.path(key)

        def write() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(".part")
            partial.write_bytes(data)
            partial.replace(target)

        await asyncio.to_thread(write)
        return StoredFile(key=key, size=len(data), location=f"local://{key}")

    async def url(self, key: str, *, filename: str) -> str:
        """A link signed over the key, its expiry and the download name."""
        expires = int(time.time()) + self.expiry
        query = urlencode(
            {
                "expires": expires,
                "filename": filename,
                "signature": self.signer.signature(key, expires, filename),
            },
            quote_via=quote,
        )
        return f"{self.public_url}{FILES_PATH}/{key}?{query}"

    async def delete(self, key: str) -> None:
        """Remove the file if present."""
        await asyncio.to_thread(self.path(key).unlink, missing_ok=True)

    async def check(self) -> None:
        """The root exists (or can be made) and is writable."""

        def probe() -> None:
            self.root.mkdir(parents=True, exist_ok=True)
            if not os.access(self.root, os.W_OK):
                raise PermissionError(f"{self.root} is not writable")

        await asyncio.to_thread(probe)

    async def close(self) -> None:
        """Nothing to release."""
