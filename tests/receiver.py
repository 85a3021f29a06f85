"""A real HTTP server on loopback that records webhook deliveries and answers as scripted."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    """One request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """``answers`` are status codes used in turn (then 200); ``hold`` blocks every answer
    until it is set; ``delay`` sleeps before answering.
    """

    url: str
    answers: list[int] = field(default_factory=list[int])
    delay: float = 0.0
    hold: threading.Event = field(default_factory=threading.Event)
    requests: list[Received] = field(default_factory=list[Received])
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_answer(self) -> int:
        with self.lock:
            return self.answers.pop(0) if self.answers else 200

    async def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:  # noqa: ASYNC109
        """Wait (without blocking the event loop) until ``count`` requests came."""
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            assert time.monotonic() < deadline, f"{len(self.requests)} of {count} requests came"
            await asyncio.sleep(0.02)
        return list(self.requests)


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    """Start the receiver on a free loopback port; stop it afterwards."""
    state: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            receiver = state[0]
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            receiver.requests.append(
                Received(
                    self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.time()
                )
            )
            receiver.hold.wait(30)
            if receiver.delay:
                time.sleep(receiver.delay)
            status = receiver.next_answer()
            self.send_response(status)
            if status == 429:
                self.send_header("Retry-After", "1")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    host, port = server.server_address[:2]
    receiver = Receiver(url=f"http://{host}:{port}/hooks")
    receiver.hold.set()
    state.append(receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.hold.set()
        server.shutdown()
        server.server_close()
