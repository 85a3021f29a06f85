"""A pool of render processes that can be killed: a compile past its deadline or its memory
limit ends with its process, which is replaced, and never holds up the worker or other renders.

Typst's compile releases the GIL but cannot be interrupted, so only a process boundary stops
it. Each process keeps its compilers (and so its loaded fonts) for its whole life, takes one
request at a time over its own pipe, and runs under an address-space limit (`RLIMIT_AS`).
The parent side is asyncio: a request waits for a free process without a thread, and its
deadline is the awaiting coroutine's, so a cancelled job ends its compile too.

Processes start with `forkserver` (the worker has threads and an event loop running, which
`fork` would copy half-way); they warm up (fonts, every template compiled once) before they
take their first request, so no export pays for the start of a process.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import multiprocessing
import os
import resource
import signal
from collections import Counter, deque
from dataclasses import dataclass, field
from multiprocessing.connection import Pipe
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast

from vitae.rendering.catalog import list_templates
from vitae.rendering.errors import (
    PageLimitError,
    RenderError,
    RenderMemoryError,
    RenderTimeoutError,
    RenderUnavailableError,
)
from vitae.rendering.pdf import RenderOptions, count_pages, render_encoded
from vitae.rendering.settings import RenderSettings

if TYPE_CHECKING:
    from collections.abc import Coroutine
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

_log = logging.getLogger("vitae.rendering")

_CONTEXT: Final = multiprocessing.get_context("forkserver")
# Imported once by the fork server, so a new render process starts with Typst loaded.
_CONTEXT.set_forkserver_preload(["vitae.rendering.pdf"])
# Linux's `prctl` option: a signal for this process when its parent exits.
_PR_SET_PDEATHSIG: Final = 1
# glibc's `mallopt` parameter for the number of malloc arenas.
_M_ARENA_MAX: Final = -8
# Each malloc arena reserves 64 MB of address space; Typst's threads would each get one and
# spend the address-space limit on reservations, not on the compile.
_ARENAS: Final = 2
# Typst's allocator aborts the process when an allocation fails (the limit was met).
_MEMORY_EXIT: Final = -signal.SIGABRT
# Seconds someone waits for a process before a borrowed one is taken back.
_RECLAIM_AFTER: Final = 1.0
# Seconds before a process that could not start is tried again.
_RESTART_DELAY: Final = 5.0
# Seconds a process may take to finish its compile when the worker stops.
_CLOSE_GRACE: Final = 2.0


@dataclass(eq=False, slots=True)
class _Child:
    process: BaseProcess
    conn: Connection
    owner: str | None = None
    # Taken beyond its owner's share, while no one else wanted it: given back (killed, the
    # render retried later) when someone else has waited `_RECLAIM_AFTER` for a process.
    borrowed: bool = False
    reclaimed: bool = False
    # Address space (MB) past which the process is replaced after its render: half-way from
    # its size when warm to the limit. Typst keeps caches that grow with what it has
    # compiled, and a long-lived process must not come to fail an ordinary résumé.
    retire_at: int = 0


@dataclass(slots=True)
class _Slots:
    """Which processes are free and who waits for one, first come first served, with a share
    per owner (a user): an owner may hold `per_owner` processes (all but one); it may borrow
    the last ones only while no one else waits, and a borrowed process is reclaimed when
    someone else has waited too long. So one user's hostile exports always leave a process
    to everyone else, and a lone user still gets every process.
    """

    per_owner: int
    idle: list[_Child] = field(default_factory=list[_Child])
    waiters: deque[tuple[str | None, asyncio.Future[_Child]]] = field(
        default_factory=deque[tuple[str | None, "asyncio.Future[_Child]"]]
    )
    held: Counter[str | None] = field(default_factory=Counter[str | None])
    busy: set[_Child] = field(default_factory=set[_Child])

    def within_share(self, owner: str | None) -> bool:
        """Whether `owner` holds fewer processes than its share (no owner: no share)."""
        return owner is None or self.held[owner] < self.per_owner

    def give(self, child: _Child, owner: str | None) -> _Child:
        child.owner = owner
        child.borrowed = not self.within_share(owner)
        self.held[owner] += 1
        self.busy.add(child)
        return child

    def offer(self, child: _Child) -> None:
        """A process is free: idle, or given to a waiter."""
        self.idle.append(child)
        self.dispatch()

    def returned(self, child: _Child) -> None:
        """`child`'s owner no longer holds it (it is offered again or replaced)."""
        self.busy.discard(child)
        self.held[child.owner] -= 1
        if self.held[child.owner] <= 0:
            del self.held[child.owner]
        child.owner = None
        child.borrowed = False
        self.dispatch()

    def dispatch(self) -> None:
        """Give idle processes to waiters within their share, in the order they came; then,
        if some are still idle, lend them to the others.
        """
        for lend in (False, True):
            for entry in list(self.waiters):
                if not self.idle:
                    return
                owner, future = entry
                if future.done():
                    self.waiters.remove(entry)
                elif lend or self.within_share(owner):
                    self.waiters.remove(entry)
                    future.set_result(self.give(self.idle.pop(), owner))

    def reclaim(self, entry: tuple[str | None, asyncio.Future[_Child]]) -> _Child | None:
        """The borrowed process to take back for `entry`, if it still waits within its share."""
        owner, future = entry
        if future.done() or entry not in self.waiters or not self.within_share(owner):
            return None
        borrowed = [
            child
            for child in self.busy
            if child.borrowed and not child.reclaimed and self.held[child.owner] > self.per_owner
        ]
        return borrowed[-1] if borrowed else None


class RenderPool:
    """`limits.processes` render processes (0: one per CPU) for the templates under
    `templates_dir`; each render within `limits`.
    """

    def __init__(self, templates_dir: Path, limits: RenderSettings) -> None:
        processes = limits.processes or os.cpu_count() or 1
        if processes < 1:
            raise ValueError("processes must be at least 1")
        self._templates_dir = templates_dir
        self._limits = limits
        self._slots = _Slots(per_owner=max(processes - 1, 1))
        self._children: set[_Child] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._starting: list[_Child] = []
        for _ in range(processes):
            self._start_child()

    def pids(self) -> list[int]:
        """The process ids of the live render processes (for operators and tests)."""
        return sorted(c.process.pid for c in self._children if c.process.pid is not None)

    def ready(self) -> int:
        """How many render processes are warm and free."""
        return len(self._slots.idle)

    async def render(
        self, data: str, options: RenderOptions, owner: str | None, wait: float | None = None
    ) -> bytes:
        """Render a résumé encoded by `encode_resume` in a free process; see `Renderer.render`."""
        child = await self._acquire(owner, self._limits.wait if wait is None else wait)
        try:
            kind, value, size = await self._exchange(child, data, options)
        except BaseException:  # timed out, cancelled or died: the process may be mid-compile
            self._discard(child)
            self._slots.returned(child)
            raise
        self._slots.returned(child)
        if size > child.retire_at:
            self._discard(child)
        else:
            self._slots.offer(child)
        if kind != "ok" or not isinstance(value, bytes):
            raise value if isinstance(value, RenderError) else RenderError(str(value))
        return value

    async def _acquire(self, owner: str | None, wait: float) -> _Child:
        slots = self._slots
        if self._closed:
            raise RenderUnavailableError("the renderer is shutting down")
        self._watch()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_Child] = loop.create_future()
        entry = (owner, future)
        slots.waiters.append(entry)
        slots.dispatch()
        reclaim = loop.call_later(_RECLAIM_AFTER, self._reclaim, entry)
        taken = False
        try:
            async with asyncio.timeout(wait):
                child = await future
            taken = True
        except TimeoutError:
            raise RenderUnavailableError(
                f"no render process was free within {wait:.3g} s"
            ) from None
        finally:
            reclaim.cancel()
            if entry in slots.waiters:
                slots.waiters.remove(entry)
            if not taken and future.done() and not future.cancelled():
                # Given a process just as the wait ended: pass it on.
                slots.returned(future.result())
                slots.offer(future.result())
        return child

    async def _exchange(
        self, child: _Child, data: str, options: RenderOptions
    ) -> tuple[str, object, int]:
        try:
            child.conn.send((data, options))
        except OSError:
            raise await self._died(child) from None
        try:
            async with asyncio.timeout(self._limits.timeout):
                await _readable(child.conn)
        except TimeoutError:
            raise RenderTimeoutError(self._limits.timeout) from None
        try:
            return child.conn.recv()
        except (EOFError, OSError):
            raise await self._died(child) from None

    def _reclaim(self, entry: tuple[str | None, asyncio.Future[_Child]]) -> None:
        """Someone has waited too long while a process is lent: end the borrowed render."""
        child = self._slots.reclaim(entry)
        if child is not None:
            child.reclaimed = True
            child.process.kill()

    async def _died(self, child: _Child) -> Exception:
        """The error for a process that ended mid-render, once it is reaped."""
        await asyncio.to_thread(child.process.join)
        if child.reclaimed:
            return RenderUnavailableError("the render gave way to another user's")
        code = child.process.exitcode
        if code == _MEMORY_EXIT:
            return RenderMemoryError(self._limits.memory_mb)
        _log.warning("render process %s died with exit code %s", child.process.pid, code)
        return RenderUnavailableError(f"the render process died (exit code {code})")

    def _discard(self, child: _Child) -> None:
        """Kill a process that may still be compiling, and start its replacement."""
        self._children.discard(child)
        asyncio.get_running_loop().remove_reader(child.process.sentinel)
        child.process.kill()
        child.conn.close()
        self._spawn_task(asyncio.to_thread(child.process.join))  # reaped, no zombie
        if not self._closed:
            self._start_child()

    def _exited(self, child: _Child) -> None:
        """A process ended on its own (killed by hand, or by the system): a busy one is
        handled by its render; an idle one is replaced now, before a render is sent to it.
        """
        asyncio.get_running_loop().remove_reader(child.process.sentinel)
        if child in self._slots.idle:
            self._slots.idle.remove(child)
            _log.warning("idle render process %s ended; replacing it", child.process.pid)
            self._discard(child)

    def _start_child(self) -> None:
        # POSIX's pipe type; basedpyright also checks Windows, where it differs.
        ours, theirs = cast("tuple[Connection[Any, Any], Connection[Any, Any]]", Pipe())
        process = _CONTEXT.Process(
            target=serve,
            args=(theirs, self._templates_dir, self._limits.memory_mb, self._limits.max_pages),
            name="vitae-render",
            daemon=True,
        )
        process.start()
        theirs.close()
        child = _Child(process, ours)
        self._children.add(child)
        self._starting.append(child)
        self._watch()

    async def _await_ready(self, child: _Child) -> None:
        """Hand out a new process once it has warmed up and said so."""
        try:
            await _readable(child.conn)
            warm_size: int = child.conn.recv()
        except (EOFError, OSError):
            await asyncio.to_thread(child.process.join)
            self._children.discard(child)
            child.conn.close()
            if self._closed:
                return
            _log.error(
                "a render process exited during start-up (exit code %s; is VITAE_RENDER_MEMORY_MB "
                "too low?); starting another in %g s",
                child.process.exitcode,
                _RESTART_DELAY,
            )
            await asyncio.sleep(_RESTART_DELAY)
            if not self._closed:
                self._start_child()
            return
        if self._closed:
            return
        child.retire_at = (warm_size + self._limits.memory_mb) // 2
        asyncio.get_running_loop().add_reader(child.process.sentinel, self._exited, child)
        self._slots.offer(child)

    def _spawn_task(self, awaitable: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(awaitable)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _watch(self) -> None:
        """Follow the start-up of new processes; deferred to the first render when the pool
        was built outside an event loop.
        """
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop()
            while self._starting:
                self._spawn_task(self._await_ready(self._starting.pop()))

    def close(self) -> None:
        """Stop every render process: each ends when its pipe closes, or is killed soon after."""
        self._closed = True
        with contextlib.suppress(RuntimeError):  # no loop: no reader was added either
            loop = asyncio.get_running_loop()
            for child in self._children:
                loop.remove_reader(child.process.sentinel)
        for child in self._children:
            child.conn.close()
        for child in self._children:
            child.process.join(_CLOSE_GRACE)
            if child.process.is_alive():
                child.process.kill()
                child.process.join()
        self._children.clear()
        for task in self._tasks:
            task.cancel()


async def _readable(conn: Connection) -> None:
    """Wait until the pipe has something to read (or the other end closed)."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    fd = conn.fileno()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        loop.remove_reader(fd)


def serve(conn: Connection, templates_dir: Path, memory_mb: int, max_pages: int) -> None:
    """A render process's life: limit memory, warm up, then render each request on `conn`."""
    die_with_parent()
    limit_memory(memory_mb)
    warm(templates_dir)
    try:
        conn.send(address_space_mb())
        while True:
            data, options = conn.recv()
            kind, value = render_reply(data, options, templates_dir, max_pages)
            conn.send((kind, value, address_space_mb()))
    except (EOFError, BrokenPipeError):  # the worker closed the pipe: it is shutting down
        return


def die_with_parent() -> None:
    """Be killed when the fork server exits, which it does when the worker dies: a worker
    killed mid-render must not leave a compile running with no one to stop it.
    """
    with contextlib.suppress(OSError, AttributeError):
        _libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def limit_memory(memory_mb: int) -> None:
    """Cap this process's address space, so that an allocation past it fails."""
    with contextlib.suppress(OSError, AttributeError):
        _libc().mallopt(_M_ARENA_MAX, _ARENAS)
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def warm(templates_dir: Path) -> None:
    """Load every template's compiler (fonts) and compile it once, so no export waits for it."""
    for info in list_templates(templates_dir):
        with contextlib.suppress(RenderError):
            render_encoded("{}", RenderOptions(info.name), templates_dir)


def render_reply(
    data: str, options: RenderOptions, templates_dir: Path, max_pages: int
) -> tuple[str, object]:
    """The reply to one request: `("ok", pdf)` or `("error", a RenderError)`."""
    try:
        pdf = render_encoded(data, options, templates_dir)
    except RenderError as error:
        return ("error", error)
    except MemoryError:
        return ("error", RenderMemoryError(_memory_mb()))
    pages = count_pages(pdf)
    if pages > max_pages:
        return ("error", PageLimitError(pages, max_pages))
    return ("ok", pdf)


def address_space_mb() -> int:
    """The calling process's address space (what `RLIMIT_AS` limits), in MB."""
    with Path("/proc/self/statm").open("rb") as statm:
        pages = int(statm.read().split()[0])
    return pages * resource.getpagesize() // (1024 * 1024)


def _memory_mb() -> int:
    return resource.getrlimit(resource.RLIMIT_AS)[0] // (1024 * 1024)
