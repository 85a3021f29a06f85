"""The render processes, with real processes: limits of time, memory and pages, a process
killed by hand, a cancelled render, and one owner's renders against another's."""

import asyncio
import dataclasses
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from processes import alive

import probe
from support import wait_until
from vitae.rendering import (
    PageLimitError,
    Renderer,
    RenderMemoryError,
    RenderOptions,
    RenderTimeoutError,
    RenderUnavailableError,
)
from vitae.rendering.pdf import count_pages
from vitae.rendering.settings import RenderSettings

PROBE_OPTIONS = RenderOptions(probe.NAME)
SPIN = {"mode": "slow", "loops": probe.FOREVER}
# Seconds a killed process may take to be seen dead and replaced.
SLACK = 5.0


@pytest.fixture(scope="module")
def probe_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("templates")
    probe.write_probe(root)
    return root


async def started(renderer: Renderer, count: int) -> Renderer:
    """Wait until `count` processes are warm and free."""
    await wait_until(
        lambda: renderer.ready() >= count, f"{count} processes ready", timeout=20, interval=0.005
    )
    return renderer


type MakeRenderer = Callable[..., Awaitable[Renderer]]


async def replaced_one(renderer: Renderer, before: set[int]) -> None:
    """Exactly one of the ``before`` processes was killed; it is gone and has a successor."""
    killed = before - set(renderer.pids())
    assert len(killed) == 1
    await wait_until(
        lambda: not any(alive(pid) for pid in killed),
        "the killed process is gone",
        timeout=2,
        interval=0.005,
    )
    await started(renderer, 2)


@pytest.fixture
async def make_renderer(probe_dir: Path) -> AsyncIterator[MakeRenderer]:
    renderers: list[Renderer] = []

    async def make(**limits: Any) -> Renderer:
        settings = dataclasses.replace(
            RenderSettings(processes=2, timeout=2.0, wait=10.0), **limits
        )
        renderer = Renderer(probe_dir, settings)
        renderers.append(renderer)
        return await started(renderer, settings.processes)

    yield make
    for renderer in renderers:
        renderer.close()


async def timed[T](awaitable: Awaitable[T]) -> tuple[T | BaseException, float]:
    """The result (or the exception) of `awaitable` and the seconds it took."""
    start = time.monotonic()
    try:
        result: T | BaseException = await awaitable
    except Exception as error:  # noqa: BLE001  (returned for the test to check)
        result = error
    return result, time.monotonic() - start


async def test_renders_in_warm_processes_that_are_kept(make_renderer: MakeRenderer) -> None:
    renderer = await make_renderer()
    pids = renderer.pids()
    assert len(pids) == 2
    assert os.getpid() not in pids

    pdfs = await asyncio.gather(
        *(renderer.render({"name": f"N{i}"}, PROBE_OPTIONS) for i in range(6))
    )

    assert all(pdf.startswith(b"%PDF-") and count_pages(pdf) == 1 for pdf in pdfs)
    assert renderer.pids() == pids


async def test_a_compile_past_its_time_is_killed_and_its_process_replaced(
    make_renderer: MakeRenderer,
) -> None:
    renderer = await make_renderer(timeout=1.0)
    before = set(renderer.pids())

    error, seconds = await timed(renderer.render(SPIN, PROBE_OPTIONS))

    assert isinstance(error, RenderTimeoutError)
    assert error.message == "it took longer than the 1 s limit"
    assert seconds < 1.0 + SLACK
    await replaced_one(renderer, before)
    assert len(set(renderer.pids()) - before) == 1
    assert (await renderer.render({"name": "After"}, PROBE_OPTIONS)).startswith(b"%PDF-")


async def test_a_process_never_passes_its_memory_limit(make_renderer: MakeRenderer) -> None:
    limit_mb = 400
    renderer = await make_renderer(memory_mb=limit_mb, timeout=20.0)
    render = asyncio.create_task(renderer.render({"mode": "hog"}, PROBE_OPTIONS))
    peak_kb = 0
    while not render.done():
        for pid in renderer.pids():
            peak_kb = max(peak_kb, vm_kb(pid, "VmRSS"), vm_kb(pid, "VmSize"))
        await asyncio.sleep(0.005)

    with pytest.raises(RenderMemoryError) as caught:
        await render
    assert caught.value.message == "it needed more than 400 MB of memory"
    assert 0 < peak_kb <= limit_mb * 1024
    await started(renderer, 2)
    assert (await renderer.render({"name": "After"}, PROBE_OPTIONS)).startswith(b"%PDF-")


def vm_kb(pid: int, field: str) -> int:
    """A `/proc/<pid>/status` figure in kB (0 once the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


async def test_a_pdf_past_the_page_cap_fails_and_keeps_its_process(
    make_renderer: MakeRenderer,
) -> None:
    renderer = await make_renderer(max_pages=10)
    pids = renderer.pids()

    with pytest.raises(PageLimitError) as caught:
        await renderer.render({"mode": "pages", "pages": 12}, PROBE_OPTIONS)

    assert caught.value.message == "the PDF has 13 pages, more than the 10-page limit"
    assert count_pages(await renderer.render({"mode": "pages", "pages": 9}, PROBE_OPTIONS)) == 10
    assert renderer.pids() == pids


async def test_a_process_killed_by_hand_is_a_transient_error(make_renderer: MakeRenderer) -> None:
    renderer = await make_renderer(timeout=30.0, processes=1)
    (pid,) = renderer.pids()
    render = asyncio.create_task(renderer.render(SPIN, PROBE_OPTIONS))
    await wait_until(
        lambda: not renderer.ready(), "the render has the process", timeout=20, interval=0.005
    )

    os.kill(pid, signal.SIGKILL)

    with pytest.raises(RenderUnavailableError, match="died"):
        await render
    await started(renderer, 1)
    assert renderer.pids() != [pid]
    assert (await renderer.render({"name": "Again"}, PROBE_OPTIONS)).startswith(b"%PDF-")


async def test_an_idle_process_that_dies_is_replaced_before_it_is_used(
    make_renderer: MakeRenderer,
) -> None:
    renderer = await make_renderer(processes=1)
    (pid,) = renderer.pids()

    os.kill(pid, signal.SIGKILL)

    await wait_until(
        lambda: renderer.pids() != [pid], "the dead process is replaced", timeout=20, interval=0.005
    )
    assert (await renderer.render({"name": "Next"}, PROBE_OPTIONS)).startswith(b"%PDF-")


async def test_a_cancelled_render_ends_its_compile(make_renderer: MakeRenderer) -> None:
    renderer = await make_renderer(timeout=30.0)
    before = set(renderer.pids())
    render = asyncio.create_task(renderer.render(SPIN, PROBE_OPTIONS))
    await wait_until(
        lambda: renderer.ready() < 2, "the render has a process", timeout=20, interval=0.005
    )

    render.cancel()

    with pytest.raises(asyncio.CancelledError):
        await render
    await replaced_one(renderer, before)


async def test_one_owner_cannot_keep_every_process_from_another(
    make_renderer: MakeRenderer,
) -> None:
    renderer = await make_renderer(timeout=3.0)
    hostile = [
        asyncio.create_task(renderer.render(SPIN, PROBE_OPTIONS, owner="mallory")) for _ in range(3)
    ]
    # Alone, mallory gets both processes: one within its share, one lent.
    await wait_until(
        lambda: renderer.ready() == 0,
        "mallory's renders have both processes",
        timeout=20,
        interval=0.005,
    )

    pdf, seconds = await timed(renderer.render({"name": "Alice"}, PROBE_OPTIONS, owner="alice"))

    # The lent process was taken back after a second and replaced, and alice had it.
    assert isinstance(pdf, bytes)
    assert seconds < 1.0 + SLACK
    results = await asyncio.gather(*hostile, return_exceptions=True)
    assert sorted(type(result).__name__ for result in results) == [
        "RenderTimeoutError",
        "RenderTimeoutError",
        "RenderUnavailableError",
    ]
    gave_way = next(r for r in results if isinstance(r, RenderUnavailableError))
    assert gave_way.message == "the render gave way to another user's"


async def test_a_lone_owner_uses_every_process(make_renderer: MakeRenderer) -> None:
    renderer = await make_renderer(timeout=20.0)
    renders = [
        asyncio.create_task(renderer.render(probe.slow(1.0), PROBE_OPTIONS, owner="batch"))
        for _ in range(2)
    ]

    await wait_until(
        lambda: renderer.ready() == 0,
        "both processes render for one owner",
        timeout=5,
        interval=0.005,
    )

    pdfs = await asyncio.gather(*renders)
    assert all(pdf.startswith(b"%PDF-") for pdf in pdfs)


async def test_a_render_waits_for_a_process_only_so_long(make_renderer: MakeRenderer) -> None:
    renderer = await make_renderer(processes=1, timeout=5.0, wait=0.5)
    first = asyncio.create_task(renderer.render(SPIN, PROBE_OPTIONS))
    await wait_until(
        lambda: not renderer.ready(), "the first render has the process", timeout=20, interval=0.005
    )

    with pytest.raises(RenderUnavailableError, match=r"no render process was free within 0\.5 s"):
        await renderer.render({"name": "Late"}, PROBE_OPTIONS)
    # A job that spent part of its time (fetching a photo) waits only for what is left.
    with pytest.raises(RenderUnavailableError, match=r"no render process was free within 0\.1 s"):
        await renderer.render({"name": "Later"}, PROBE_OPTIONS, wait=0.1)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
