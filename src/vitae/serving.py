"""How ``vitae api`` serves HTTP: uvicorn on h11, with a bound on the request's header block.

uvicorn's default parser (httptools) reads a header block of any size into memory (a 10 MB
header was accepted); h11 stops at ``h11_max_incomplete_event_size``. Its refusal is a bare
400 in plain text, so the protocol here answers 431 in the project's error shape, naming the
limit and its setting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, override

import h11
import msgspec
from uvicorn.protocols.http.h11_impl import H11Protocol

if TYPE_CHECKING:
    from vitae.settings import Settings

HEADERS_TOO_LARGE = 431


class LimitedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol; a header block past the limit is answered 431."""

    @override
    def send_400_response(self, msg: str) -> None:
        buffered, _closed = self.conn.trailing_data
        limit = self.config.h11_max_incomplete_event_size or 0
        if len(buffered) <= limit:
            super().send_400_response(msg)
            return
        detail = f"the request's headers exceed {limit} bytes (VITAE_MAX_HEADER_BYTES)"
        body = msgspec.json.encode(
            {
                "status_code": HEADERS_TOO_LARGE,
                "detail": detail,
                "extra": [{"key": "headers", "message": detail}],
            }
        )
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=HEADERS_TOO_LARGE, headers=headers),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event) or b"")
        self.transport.close()


def server_options(settings: Settings) -> dict[str, Any]:
    """The uvicorn options that bound what one request may make the server hold."""
    return {
        "http": LimitedH11Protocol,
        "h11_max_incomplete_event_size": settings.quotas.max_header_bytes,
    }
