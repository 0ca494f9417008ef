"""A changed metrics_window_size between runs: a restart recovers the window the breaker had.

The sample rows sit in ring slots seq % window size. Restored under a new size, the window's
samples are still in the old size's slots, where this run's new samples can overwrite them;
a restart then found the run of seqs broken and recovered a shorter window than the breaker
held in memory (a latency spike among the lost samples forgotten).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from engine.breaker_config import CircuitConfig
from engine.circuit_breaker import CircuitBreaker
from engine.clock import SimulatedClock
from engine.ports import Batch
from tests.unit.engine_harness import START
from tradeguard.store.sqlite_store import SqliteStore


def _commit(directory: Path, breaker: CircuitBreaker) -> None:
    """Commit the breaker's section and new samples, as the engine journal does."""
    samples = breaker.pending_samples()
    with SqliteStore(directory) as store:
        store.commit(Batch(samples=samples, state={"breaker": breaker.snapshot(windows=False)}))
    breaker.samples_written(samples)


def _restart(directory: Path, size: int) -> CircuitBreaker:
    with SqliteStore(directory) as store:
        section = store.load().state["breaker"]
    config = CircuitConfig(metrics_window_size=size)
    return CircuitBreaker.from_snapshot(config, SimulatedClock(START), section)


def _run(breaker: CircuitBreaker, directory: Path, values: list[float]) -> None:
    for value in values:
        breaker.report_api_latency(value)
        breaker.report_slippage(100.0, 100.0 + value / 1000.0)
        _commit(directory, breaker)


def _windows(breaker: CircuitBreaker) -> tuple[str, str]:
    """Return the latency and slippage windows as the full snapshot packs them."""
    snapshot = breaker.snapshot()
    return snapshot["latency_samples"], snapshot["slippage_samples"]


@pytest.mark.parametrize(("first", "second"), [(8, 13), (13, 8), (5, 7), (7, 3)])
def test_a_restart_after_a_window_size_change_recovers_the_window_in_memory(
    tmp_path: Path, first: int, second: int
) -> None:
    rng = random.Random(first * 100 + second)
    breaker = CircuitBreaker(CircuitConfig(metrics_window_size=first), SimulatedClock(START))
    _run(breaker, tmp_path, [rng.uniform(1.0, 900.0) for _ in range(first + 2)])

    resized = _restart(tmp_path, second)  # the operator changed the window size
    _run(resized, tmp_path, [rng.uniform(1.0, 900.0) for _ in range(second - 1)])
    held = _windows(resized)

    assert _windows(_restart(tmp_path, second)) == held
