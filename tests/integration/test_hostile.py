"""Hostile résumés against the whole service: an API and a worker with real render processes.

Render limits are small here (2 s, 500 MB, two processes) so that the tests stay fast.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from saq import Worker

import probe
from support import (
    Headers,
    MakeUser,
    Services,
    create_resume,
    make_settings,
    running_api,
    running_worker,
    wait_for_export,
)
from vitae.rendering import Renderer
from vitae.resumes import limits
from vitae.settings import Settings

RENDER_TIMEOUT = 2.0
MEMORY_MB = 500
# What a hostile export may take beyond its render limit: the job's start, the kill, storing.
SLACK = 5.0
# The reason of a render stopped by a limit, as the export's `error` reads.
LIMIT_REASON = re.compile(
    r"^rendering failed: (it took longer than the 2 s limit"
    r"|the PDF has \d+ pages, more than the 40-page limit"
    r"|it needed more than 500 MB of memory)$"
)


@pytest.fixture(scope="module")
def templates_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real templates plus the probe."""
    return probe.templates_with_probe(tmp_path_factory.mktemp("hostile"))


def hostile_settings(services: Services, data_dir: Path, templates: Path, **extra: str) -> Settings:
    env = {
        "VITAE_QUEUE_NAME": "hostile",
        "VITAE_TEMPLATES_DIR": str(templates),
        "VITAE_RENDER_PROCESSES": "2",
        "VITAE_RENDER_TIMEOUT": str(RENDER_TIMEOUT),
        "VITAE_RENDER_MEMORY_MB": str(MEMORY_MB),
    }
    return make_settings(services, data_dir, **{**env, **extra})


@pytest.fixture(scope="module")
async def stack(
    services: Services, data_dir: Path, templates_dir: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, Worker[Any]]]:
    settings = hostile_settings(services, data_dir, templates_dir)
    async with running_api(settings) as client, running_worker(settings) as worker:
        await warm(worker)
        yield client, worker


async def warm(worker: Worker[Any]) -> Renderer:
    """The worker's renderer once all its processes are up."""
    deadline = time.monotonic() + 30
    while "deps" not in worker.context or worker.context["deps"].renderer.ready() < 2:
        assert time.monotonic() < deadline, "the render processes did not start"
        await asyncio.sleep(0.02)
    return worker.context["deps"].renderer


async def export(
    client: httpx.AsyncClient, headers: Headers, content: dict[str, Any], template: str
) -> str:
    resume = await create_resume(client, headers, content, template=template)
    response = await client.post("/api/exports", json={"resumeId": resume["id"]}, headers=headers)
    assert response.status_code == 202, response.text
    return response.json()["exportId"]


def unbroken_at_the_limits() -> dict[str, Any]:
    """Unbroken strings of the longest accepted length, as many as the document limit allows."""
    word = "x" * limits.MAX_STRING
    count = limits.MAX_DOCUMENT_BYTES // (limits.MAX_STRING + 3) - 2
    return {
        "basics": {"name": "Mallory", "summary": word},
        "work": [{"highlights": [word] * count}],
    }


def entries_at_the_limits() -> dict[str, Any]:
    """As many entries as the limits allow: a long document, slow to lay out."""
    keywords = [f"keyword{j:03d}" for j in range(60)]
    skills = [{"name": f"Skill {i}", "keywords": keywords} for i in range(limits.MAX_ITEMS)]
    return {"basics": {"name": "Mallory"}, "skills": skills}


@pytest.mark.parametrize(
    ("content", "template"),
    [
        (unbroken_at_the_limits(), "classic"),
        (entries_at_the_limits(), "sidebar"),
        ({"mode": "slow", "loops": probe.FOREVER}, probe.NAME),
        ({"mode": "hog"}, probe.NAME),
    ],
    ids=["unbroken-strings", "many-entries", "endless-loop", "memory-hog"],
)
async def test_a_hostile_export_fails_within_its_limit_without_retries(
    stack: tuple[httpx.AsyncClient, Worker[Any]],
    make_user: MakeUser,
    content: dict[str, Any],
    template: str,
) -> None:
    client, _ = stack
    headers = await make_user()
    start = time.monotonic()
    export_id = await export(client, headers, content, template)

    body = await wait_for_export(client, headers, export_id, timeout=RENDER_TIMEOUT + SLACK)

    assert time.monotonic() - start < RENDER_TIMEOUT + SLACK
    assert body["status"] == "failed", body
    assert LIMIT_REASON.match(body["error"]), body["error"]
    assert body["attempts"] == 1, body


async def test_memory_of_a_render_process_stays_under_its_limit(
    stack: tuple[httpx.AsyncClient, Worker[Any]], make_user: MakeUser
) -> None:
    client, worker = stack
    renderer = await warm(worker)
    headers = await make_user()
    export_id = await export(client, headers, {"mode": "hog"}, probe.NAME)
    peak_kb = 0
    deadline = time.monotonic() + RENDER_TIMEOUT + SLACK
    while (await client.get(f"/api/exports/{export_id}", headers=headers)).json()["status"] in {
        "pending",
        "processing",
    }:
        assert time.monotonic() < deadline, "the export did not end"
        peak_kb = max([peak_kb, *(resident_kb(pid) for pid in renderer.pids())])
        await asyncio.sleep(0.005)

    body = await wait_for_export(client, headers, export_id)
    assert body["error"] == f"rendering failed: it needed more than {MEMORY_MB} MB of memory"
    assert 0 < peak_kb <= MEMORY_MB * 1024


def resident_kb(pid: int) -> int:
    """The largest of a process's resident and virtual sizes, in kB (0 once it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return 0
    sizes = re.findall(r"^Vm(?:RSS|Size):\s+(\d+) kB", status, re.MULTILINE)
    return max(map(int, sizes), default=0)


async def test_five_hostile_exports_leave_room_for_another_users_export(
    stack: tuple[httpx.AsyncClient, Worker[Any]], make_user: MakeUser, sample_resume: dict[str, Any]
) -> None:
    client, _ = stack
    mallory, alice = await make_user(), await make_user()
    hostile = [
        await export(client, mallory, {"mode": "slow", "loops": probe.FOREVER}, probe.NAME)
        for _ in range(5)
    ]

    start = time.monotonic()
    ordinary = await export(client, alice, sample_resume, "classic")
    body = await wait_for_export(client, alice, ordinary, timeout=5)

    assert body["status"] == "completed", body
    assert time.monotonic() - start < 5
    for export_id in hostile:  # each fails with a reason, once retries (if any) are spent
        body = await wait_for_export(client, mallory, export_id, timeout=60)
        assert body["status"] == "failed", body
        assert "Traceback" not in body["error"]
        assert "limit" in body["error"] or "no render process was free" in body["error"]


async def test_a_render_process_killed_mid_compile_is_retried_and_completes(
    services: Services, data_dir: Path, templates_dir: Path, make_user: MakeUser
) -> None:
    # Its own worker, with time enough for a compile of about a second.
    settings = hostile_settings(
        services, data_dir, templates_dir, VITAE_QUEUE_NAME="killed", VITAE_RENDER_TIMEOUT="15"
    )
    async with running_api(settings) as client, running_worker(settings) as worker:
        renderer = await warm(worker)
        headers = await make_user()
        pids = renderer.pids()
        export_id = await export(client, headers, probe.slow(1.0), probe.NAME)
        deadline = time.monotonic() + 20
        while renderer.ready() == len(pids):  # until a process has taken the compile
            assert time.monotonic() < deadline, "the render never started"
            await asyncio.sleep(0.005)

        for pid in pids:
            os.kill(pid, signal.SIGKILL)

        body = await wait_for_export(client, headers, export_id, timeout=40)
        assert body["status"] == "completed", body
        assert body["attempts"] == 2, body
        assert not set(renderer.pids()) & set(pids)
