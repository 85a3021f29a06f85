"""Where exported PDFs are kept: S3 (production) or files under the data dir (dev)."""

from vitae.storage.base import Storage, StoredFile, export_key
from vitae.storage.factory import open_storage
from vitae.storage.local import LinkSigner, LocalStorage
from vitae.storage.s3 import S3Storage

__all__ = [
    "LinkSigner",
    "LocalStorage",
    "S3Storage",
    "Storage",
    "StoredFile",
    "export_key",
    "open_storage",
]
