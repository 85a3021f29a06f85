# ruff: noqa: INP001  (a script run by bench/pipeline.py --count-store, not a package)
"""A counting TCP proxy in front of the MongoDB-wire store, for `--count-store`: it forwards
bytes both ways unchanged and counts the commands that clients send, by name.

    python bench/pipeline_mongoproxy.py LISTEN_PORT TARGET_PORT COUNTS_FILE

It reads each client message's header and, for OP_MSG, the name of the command (the first
key of the body section), and rewrites COUNTS_FILE (JSON, atomically) whenever the counts
changed, at most every 0.2 s. It stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import struct
import sys
from collections import Counter
from pathlib import Path

OP_MSG = 2013
HEADER = struct.Struct("<iiii")
counts: Counter[str] = Counter()


def command_name(opcode: int, body: bytes) -> str:
    """The command of one client message (``body`` follows the 16-byte header)."""
    if opcode != OP_MSG:
        return f"opcode {opcode}"
    # flagBits (4 bytes), section kind (1 byte, 0 = body), BSON length (4), element type (1)
    if len(body) < 10 or body[4] != 0:  # noqa: PLR2004
        return "OP_MSG (sequence first)"
    end = body.find(b"\0", 10)
    return body[10:end].decode("utf-8", "replace") if end > 0 else "OP_MSG"


async def client_to_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Forward the client's messages, counting each."""
    while True:
        head = await reader.readexactly(HEADER.size)
        length, _, _, opcode = HEADER.unpack(head)
        body = await reader.readexactly(length - HEADER.size)
        counts[command_name(opcode, body)] += 1
        writer.write(head + body)
        await writer.drain()


async def server_to_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Forward the server's bytes as they come."""
    while data := await reader.read(1 << 16):
        writer.write(data)
        await writer.drain()


async def serve(listen: int, target: int, out: Path) -> None:
    """Proxy until stopped; keep the counts file current."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)
        pumps = [
            asyncio.create_task(client_to_server(reader, up_writer)),
            asyncio.create_task(server_to_client(up_reader, writer)),
        ]
        with contextlib.suppress(Exception):
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for pump in pumps:
            pump.cancel()
        writer.close()
        up_writer.close()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    written: dict[str, int] = {}
    partial = out.with_suffix(".part")
    while not stop.is_set():
        if dict(counts) != written:
            written = dict(counts)
            partial.write_text(json.dumps(written), encoding="utf-8")
            partial.replace(out)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.2)
    server.close()


def main() -> None:
    """``LISTEN_PORT TARGET_PORT COUNTS_FILE``."""
    listen, target, out = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    asyncio.run(serve(listen, target, out))


if __name__ == "__main__":
    main()
