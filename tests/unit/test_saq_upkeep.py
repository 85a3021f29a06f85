"""`vitae.worker.VitaeWorker` replaces SAQ's private `Worker.upkeep`. These checks fail loudly
when the SAQ installed no longer has the shape that override copies, so an upgrade is read
against docs/saq-upkeep.md instead of silently losing a timer or the fast shutdown.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from importlib.metadata import version

from redis.asyncio import Redis
from saq import Worker
from saq.queue.redis import RedisQueue
from saq.types import TimersDict

from vitae.worker import VitaeWorker

TIMERS = {"abort", "schedule", "sweep", "worker_info"}
# What SAQ's own upkeep polls, in its words (``poll(self.<callable>, ...)``).
POLLED = {"abort", "schedule", "queue.sweep", "worker_info"}
UPGRADE = "SAQ's upkeep changed: compare it with VitaeWorker.upkeep and docs/saq-upkeep.md"


def upkeep_source() -> str:
    return inspect.getsource(Worker.upkeep)


def test_the_installed_saq_is_the_pinned_minor_version() -> None:
    assert version("saq").startswith("0.26."), UPGRADE


def test_upkeep_takes_nothing_and_returns_its_tasks() -> None:
    signature = inspect.signature(Worker.upkeep)
    assert list(signature.parameters) == ["self"], UPGRADE
    assert inspect.iscoroutinefunction(Worker.upkeep), UPGRADE
    assert "list[Task[None]]" in str(signature.return_annotation), UPGRADE
    # start() keeps the tasks that stop() waits for: that wait is what the override shortens.
    assert "self.tasks.update(await self.upkeep())" in inspect.getsource(Worker.start), UPGRADE


def test_upkeep_polls_the_same_four_timers() -> None:
    source = upkeep_source()
    assert set(re.findall(r'self\.timers\["(\w+)"\]', source)) == TIMERS, UPGRADE
    assert set(re.findall(r"poll\(\s*self\.([\w.]+)", source)) == POLLED, UPGRADE
    assert set(TimersDict.__annotations__) == TIMERS, UPGRADE
    # The worker-info entry's TTL is its interval plus one second, as the override copies.
    assert 'self.timers["worker_info"] + 1' in source, UPGRADE


def test_the_polled_callables_take_one_number() -> None:
    for func in (Worker.abort, Worker.schedule, Worker.worker_info, RedisQueue.sweep):
        assert inspect.iscoroutinefunction(func), UPGRADE
        params = list(inspect.signature(func).parameters.values())[1:]
        assert params, UPGRADE
        assert all(p.default is not inspect.Parameter.empty for p in params[1:]), UPGRADE


def test_the_override_sees_every_timer_and_the_stop_event() -> None:
    # A client that never connects: building a worker touches no server.
    worker = VitaeWorker(RedisQueue(Redis()), functions=[])
    assert set(worker.timers) == TIMERS, UPGRADE
    assert isinstance(worker.event, asyncio.Event), UPGRADE
