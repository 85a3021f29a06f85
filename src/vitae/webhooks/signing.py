"""Signatures of webhook deliveries: HMAC-SHA256 over ``"{timestamp}.{body}"``.

The header reads ``Vitae-Signature: t=<unix seconds>,v1=<hex digest>``, as Stripe's does, so a
receiver can check the signature and refuse a replay (a timestamp outside its tolerance).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"  # noqa: S105  (a prefix, not a secret)
DEFAULT_TOLERANCE = 300


def new_secret() -> str:
    """A fresh endpoint secret; the whole string, prefix included, is the HMAC key."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"{timestamp}." + body`` under the secret."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Vitae-Signature`` header's value."""
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify(
    secret: str, header: str, body: bytes, *, now: float, tolerance: int = DEFAULT_TOLERANCE
) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent."""
    fields = [part.partition("=") for part in header.split(",")]
    stamps = [value for key, _, value in fields if key == "t"]
    digests = [value for key, _, value in fields if key == "v1"]
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    timestamp = int(stamps[0])
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, digest) for digest in digests)
