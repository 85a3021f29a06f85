"""S3 (or MinIO) through aioboto3, one client per process, presigned GET links."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

import aioboto3
from botocore.config import Config

from vitae.storage.base import StoredFile

if TYPE_CHECKING:
    from vitae.settings import S3Settings


def content_disposition(filename: str) -> str:
    """An attachment header that survives non-ASCII names (RFC 6266)."""
    from urllib.parse import quote  # noqa: PLC0415

    ascii_name = filename.encode("ascii", "ignore").decode() or "resume.pdf"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


class S3Storage:
    """A bucket; ``open()`` must be awaited before use."""

    def __init__(self, settings: S3Settings, *, expiry: int) -> None:
        self.settings = settings
        self.expiry = expiry
        self._stack = AsyncExitStack()
        self._client: Any = None
        self._signer: Any = None

    async def open(self) -> None:
        """Open the client (path-style addressing and SigV4, as MinIO and moto need)."""
        session = aioboto3.Session(
            aws_access_key_id=self.settings.access_key_id,
            aws_secret_access_key=self.settings.secret_access_key,
            region_name=self.settings.region,
        )
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": 2, "mode": "standard"},
            connect_timeout=5,
            read_timeout=15,
        )
        # aioboto3's client factory is untyped; its result is an async context manager.
        client: Any = session.client("s3", endpoint_url=self.settings.endpoint_url, config=config)
        self._client = await self._stack.enter_async_context(client)
        # Links are signed for the host that clients will reach, which inside a container
        # network differs from the one the service uploads to. Signing needs no connection.
        public = self.settings.public_endpoint_url
        self._signer = self._client
        if public and public != self.settings.endpoint_url:
            signer: Any = session.client("s3", endpoint_url=public, config=config)
            self._signer = await self._stack.enter_async_context(signer)

    async def ensure_bucket(self) -> None:
        """Create the bucket if it is missing (dev and tests; production creates it beforehand)."""
        existing = await self._client.list_buckets()
        if not any(b["Name"] == self.settings.bucket for b in existing.get("Buckets", [])):
            await self._client.create_bucket(Bucket=self.settings.bucket)

    async def put(self, key: str, data: bytes, *, filename: str) -> StoredFile:
        """Upload a PDF with its download name."""
        await self._client.put_object(
            Bucket=self.settings.bucket,
            Key=key,
            Body=data,
            ContentType="application/pdf",
            ContentDisposition=content_disposition(filename),
        )
        return StoredFile(key=key, size=len(data), location=f"s3://{self.settings.bucket}/{key}")

    async def url(self, key: str, *, filename: str) -> str:
        """A presigned GET that expires after the configured time."""
        url: str = await self._signer.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.settings.bucket,
                "Key": key,
                "ResponseContentDisposition": content_disposition(filename),
                "ResponseContentType": "application/pdf",
            },
            ExpiresIn=self.expiry,
        )
        return url

    async def delete(self, key: str) -> None:
        """Delete the object (S3 treats a missing key as success)."""
        await self._client.delete_object(Bucket=self.settings.bucket, Key=key)

    async def check(self) -> None:
        """The bucket exists and our credentials reach it."""
        await self._client.head_bucket(Bucket=self.settings.bucket)

    async def close(self) -> None:
        """Close the client."""
        await self._stack.aclose()
