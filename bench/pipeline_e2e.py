# ruff: noqa: INP001  (a helper of bench/pipeline.py, not a package)
"""Vitae end to end, one configuration at a time: start the stack, find its saturation
throughput, then offer fixed fractions of it, open loop, measuring latency and CPU.

Saturation: a short burst estimates the capacity ``mu0``; then exports arrive faster than
that for half a phase, so a backlog builds, and the completions per second inside the window
where the backlog is sure to exist (from 30 % of the phase to the last arrival) estimate the
capacity again; a full phase at ``REFINE`` times that estimate gives the saturation
throughput ``mu`` the same way. Then each fraction of ``mu`` runs for a phase.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeline_common import CpuMeter, say
from pipeline_load import Client, ConfigResult, Phase, create_resumes, open_loop, run
from pipeline_stack import Stack, StackConfig, start_stack

if TYPE_CHECKING:
    from pathlib import Path

    from processes import Children

OVERLOAD = 1.3
REFINE = 1.15
FIXED_SHARE = 0.4
WINDOW_FROM = 0.3
PROBE_RATE = 200.0


@dataclass(frozen=True, slots=True)
class Plan:
    """How long and how hard to load each configuration."""

    duration: float  # seconds of arrivals per phase
    fractions: tuple[float, ...]  # of the saturation throughput
    pool: int = 100  # distinct résumés, cycled
    warmup: int = 12
    probe: int = 40


def phase_name(fraction: float) -> str:
    """``0.5`` → ``50%``."""
    return f"{round(fraction * 100)}%"


def run_config(
    config: StackConfig, children: Children, workdir: Path, plan: Plan, *, count_store: bool
) -> ConfigResult:
    """Start one configuration, measure it, and stop every process it started; with
    ``count_store``, the store's commands are counted by a proxy in front of it.
    """
    say(f"  starting {config.label} …")
    stack = start_stack(config, children, workdir, count_mongo=count_store)
    try:
        return run(_measure(stack, plan))
    finally:
        stack.close()
        children.stop_all()


def _backlogged(phase: Phase, at: float) -> bool:
    """Whether more exports had arrived than completed by ``at`` (monotonic)."""
    arrived = sum(1 for o in phase.outcomes if o.scheduled <= at)
    done = sum(1 for o in phase.outcomes if o.ok and o.finished <= at)
    return arrived > done + 1


async def _saturate(
    stack: Stack, client: Client, resumes: list[str], plan: Plan, mu0: float
) -> tuple[Phase, list[str]]:
    """Two passes: well above the probe's estimate, then just above the first pass's
    throughput, so that the surplus of requests, which the API must still accept, takes
    little CPU from the workers. The second pass is the one reported.
    """
    rate, duration = OVERLOAD * mu0, plan.duration / 2
    first = await open_loop(
        stack, client, resumes, name="saturation (first pass)", rate=rate,
        count=round(rate * duration),
    )  # fmt: skip
    first.window = (first.started + WINDOW_FROM * duration, first.arrivals_end)
    mu1 = first.throughput if first.throughput > 0 else mu0
    rate = REFINE * mu1
    meter = CpuMeter(stack.pids(), stack.counters)
    phase = await open_loop(
        stack, client, resumes, name="saturation", rate=rate,
        count=round(rate * plan.duration), meter=meter,
    )  # fmt: skip
    low = phase.started + WINDOW_FROM * plan.duration
    phase.window = (low, phase.arrivals_end)
    notes = []
    if not _backlogged(phase, low):
        notes.append(
            f"{stack.config.label}: no backlog when the saturation window opened "
            f"({rate:.1f}/s offered), so its saturation throughput is a lower bound"
        )
    return phase, notes


async def _measure(stack: Stack, plan: Plan) -> ConfigResult:
    client = Client(stack.port, stack.token)
    try:
        resumes = await create_resumes(client, plan.pool)
        await open_loop(stack, client, resumes, name="warm-up", rate=10.0, count=plan.warmup)
        probe = await open_loop(
            stack, client, resumes, name="probe", rate=PROBE_RATE, count=plan.probe
        )
        mu0 = max(probe.throughput, 1.0)
        saturation, notes = await _saturate(stack, client, resumes, plan, mu0)
        mu = saturation.throughput
        result = ConfigResult(stack.config.label, mu, [saturation], notes)
        meter = CpuMeter(stack.pids(), stack.counters)
        say(f"    saturation {mu:.1f} exports/s (offered {saturation.rate:.1f}/s)")
        for fraction in plan.fractions:
            rate = fraction * mu
            phase = await open_loop(
                stack, client, resumes, name=phase_name(fraction), rate=rate,
                count=max(round(rate * plan.duration), 10), meter=meter,
            )  # fmt: skip
            result.phases.append(phase)
            lat = phase.latency
            say(
                f"    {phase.name:>4} of saturation, {rate:5.1f}/s: p50 {lat.p50:6.1f} ms, "
                f"p95 {lat.p95:6.1f} ms, p99 {lat.p99:6.1f} ms, errors {sum(phase.errors.values())}"
            )
        return result
    finally:
        client.close()
