"""Child processes on this machine, shared by the benchmarks and the process tests (tests/ has
bench/ on its path): start a command in a session of its own with its output in a log file,
wait for a line of that log, stop it with a signal and say so when it lingers, and find what
runs below a process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vitae.embedded import Server

VITAE = [sys.executable, "-m", "vitae"]
STOP_TIMEOUT = 40.0  # seconds a child may take to stop before it is killed


class ProcessError(Exception):
    """A child process did not start or stop as it should."""


@dataclass
class Child:
    """A process started by a benchmark or a test, its output in ``log``."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path | None = None
    port: int = 0

    @classmethod
    def of_server(cls, server: Server) -> Child:
        """An embedded server of ``vitae.embedded`` (Valkey, mongoeco) as a child."""
        return cls(server.name, server.process, port=server.port)

    @property
    def pid(self) -> int:
        """The process id."""
        return self.process.pid

    def alive(self) -> bool:
        """Whether it still runs."""
        return self.process.poll() is None

    def stop(
        self,
        signum: signal.Signals = signal.SIGTERM,
        *,
        group: bool = False,
        timeout: float = STOP_TIMEOUT,
    ) -> int:
        """Send ``signum`` (to its whole process group with ``group``, as Ctrl-C in a terminal
        does) and return its exit status; one that lingers past ``timeout`` is killed, reaped
        and reported with ``ProcessError``.
        """
        if self.alive():
            if group:
                os.killpg(self.pid, signum)
            else:
                self.process.send_signal(signum)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                message = f"{self.name} ignored {signum.name} for {timeout} s:\n{self.tail()}"
                raise ProcessError(message) from None
        return self.process.returncode

    def text(self) -> str:
        """Its log so far."""
        if self.log is None or not self.log.exists():
            return ""
        return self.log.read_text(encoding="utf-8", errors="replace")

    def tail(self, lines: int = 40) -> str:
        """The end of its log, for error messages."""
        return "\n".join(self.text().splitlines()[-lines:]) or "<no log>"


def spawn(name: str, command: list[str], *, env: dict[str, str], cwd: Path, log: Path) -> Child:
    """Start a command in a session of its own (a terminal's Ctrl-C reaches only the parent,
    which stops its children in order), its output appended to ``log``.
    """
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Child(name, process, log)


def spawn_vitae(name: str, args: list[str], *, env: dict[str, str], cwd: Path, logs: Path) -> Child:
    """``python -m vitae ARGS`` (see ``spawn``), logging to ``logs/NAME.log``."""
    return spawn(name, [*VITAE, *args], env=env, cwd=cwd, log=logs / f"{name}.log")


def wait_for_text(child: Child, text: str, timeout: float = 30.0) -> None:
    """Block until the child's log contains ``text``; fail early if the child exits."""
    deadline = time.monotonic() + timeout
    while text not in child.text():
        if not child.alive():
            raise ProcessError(
                f"{child.name} exited with {child.process.returncode}:\n{child.tail()}"
            )
        if time.monotonic() >= deadline:
            raise ProcessError(f"{child.name} did not log {text!r} in {timeout} s:\n{child.tail()}")
        time.sleep(0.05)  # a blocking poll with a deadline: callers are synchronous


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running (not zombie) process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return False
    return fields[0] != "Z"


def descendants(pid: int) -> list[int]:
    """Every live (not zombie) process below ``pid``: its children, theirs, and so on."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = (entry / "stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
            if fields[0] != "Z":
                parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class Children:
    """Every process a benchmark started, stopped newest first (API and workers before the
    servers they use) by ``stop_all``, which every exit path of the benchmark reaches.
    """

    def __init__(self) -> None:
        self._children: list[Child] = []

    def add(self, child: Child) -> Child:
        """Remember a child to stop."""
        self._children.append(child)
        return child

    def spawn(
        self, name: str, command: list[str], *, env: dict[str, str], cwd: Path, log: Path
    ) -> Child:
        """Start a command (see ``spawn``) and remember it."""
        return self.add(spawn(name, command, env=env, cwd=cwd, log=log))

    def stop_all(self) -> None:
        """Stop every child still known, newest first; then any process still running below
        this one (e.g. a server whose start failed before it was registered).
        """
        while self._children:
            child = self._children.pop()
            with contextlib.suppress(Exception):  # keep stopping the others
                child.stop(timeout=15.0)
        stray = descendants(os.getpid())
        for pid in stray:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5.0
        while stray and time.monotonic() < deadline:
            time.sleep(0.1)
            stray = [pid for pid in stray if Path(f"/proc/{pid}").exists()]
        for pid in stray:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
