"""The breaker's sample windows travel as journal rows (a bounded ring), not in its section."""

from __future__ import annotations

import random
from typing import Any

from engine.breaker_config import CircuitConfig
from engine.breaker_samples import SampleRecord, with_windows
from engine.circuit_breaker import CircuitBreaker
from engine.clock import SimulatedClock
from engine.ports import InMemoryStore
from tests.unit.engine_harness import START, Rig, engine_config, items, wave_bars

WINDOW = 8


def windows(breaker: CircuitBreaker) -> tuple[Any, Any]:
    """Return the latency and slippage windows as the full snapshot packs them."""
    snapshot = breaker.snapshot()
    return snapshot["latency_samples"], snapshot["slippage_samples"]


def journal(rows: dict[tuple[str, int], tuple[int, float]], breaker: CircuitBreaker) -> None:
    """Commit the breaker's pending samples to a ring of rows, as a store does."""
    pending = breaker.pending_samples()
    for sample in pending:
        rows[sample.kind, sample.slot] = (sample.seq, sample.value)
    breaker.samples_written(pending)


def reload(
    breaker: CircuitBreaker, rows: dict[tuple[str, int], tuple[int, float]], size: int = WINDOW
) -> CircuitBreaker:
    """Restore a breaker from its journaled section and the sample rows."""
    section = breaker.snapshot(windows=False)
    assert "latency_samples" not in section  # the section carries counters only
    flat = [(kind, seq, value) for (kind, _), (seq, value) in rows.items()]
    config = CircuitConfig(metrics_window_size=size)
    return CircuitBreaker.from_snapshot(config, SimulatedClock(START), with_windows(section, flat))


def feed(breaker: CircuitBreaker, rng: random.Random, n: int) -> None:
    """Report n latency samples and about n/2 slippage samples."""
    for _ in range(n):
        breaker.report_api_latency(rng.uniform(1.0, 50.0))
        if rng.random() < 0.5:
            breaker.report_slippage(100.0, 100.0 + rng.uniform(0.0, 0.05))


def test_windows_recovered_from_rows_equal_the_in_memory_windows() -> None:
    rng = random.Random(3)
    breaker = CircuitBreaker(CircuitConfig(metrics_window_size=WINDOW), SimulatedClock(START))
    rows: dict[tuple[str, int], tuple[int, float]] = {}
    for burst in (1, 3, 0, 7, 20, 2, 9):  # more samples than the window between two commits
        feed(breaker, rng, burst)
        journal(rows, breaker)
        assert windows(reload(breaker, rows)) == windows(breaker)
    assert len(rows) <= 2 * WINDOW  # the ring bounds the rows without pruning


def test_a_commit_writes_only_the_samples_added_since_the_last_one() -> None:
    breaker = CircuitBreaker(CircuitConfig(metrics_window_size=WINDOW), SimulatedClock(START))
    rows: dict[tuple[str, int], tuple[int, float]] = {}
    breaker.report_api_latency(5.0)
    journal(rows, breaker)
    breaker.report_api_latency(7.0)
    assert breaker.pending_samples() == [SampleRecord("latency", 1, 1, 7.0)]


def test_an_older_section_with_packed_windows_writes_its_whole_windows_once() -> None:
    old = CircuitBreaker(CircuitConfig(metrics_window_size=WINDOW), SimulatedClock(START))
    feed(old, random.Random(5), 12)
    section = old.snapshot()
    del section["sample_seq"]  # what stores before schema version 4 hold
    restored = CircuitBreaker.from_snapshot(old.config, SimulatedClock(START),
                                            with_windows(section, []))
    assert windows(restored) == windows(old)
    pending = restored.pending_samples()
    assert [s.seq for s in pending if s.kind == "latency"] == list(range(WINDOW))
    rows: dict[tuple[str, int], tuple[int, float]] = {}
    journal(rows, restored)
    assert windows(reload(restored, rows)) == windows(old)
    assert restored.pending_samples() == []


def test_a_changed_window_size_recovers_only_true_recent_samples() -> None:
    rng = random.Random(11)
    breaker = CircuitBreaker(CircuitConfig(metrics_window_size=WINDOW), SimulatedClock(START))
    rows: dict[tuple[str, int], tuple[int, float]] = {}
    feed(breaker, rng, 30)
    journal(rows, breaker)
    for size in (12, 3, 8):
        breaker = reload(breaker, rows, size)
        truth: list[float] = []
        for _ in range(size + 2):
            value = rng.uniform(1.0, 9.0)
            truth.append(value)
            breaker.report_api_latency(value)
            journal(rows, breaker)
            window = reload(breaker, rows, size).snapshot(windows=True)
            restored = CircuitBreaker.from_snapshot(
                CircuitConfig(metrics_window_size=size), SimulatedClock(START), window
            )
            got = list(restored._m.latencies)
            assert got == list(breaker._m.latencies)[-len(got):]  # a true suffix
            assert got[-len(truth):] == truth[-len(got):]


def test_a_session_restarted_from_the_store_has_the_same_windows() -> None:
    size = 4
    config = engine_config(breaker=CircuitConfig(metrics_window_size=size))
    bars = wave_bars(600)
    rig = Rig(config=config)
    session, _, _ = rig.start()
    session.run(items(bars[:400]))
    assert rig.store.state["execution"]["orders_filled"] > size
    assert "latency_samples" not in rig.store.state["breaker"]
    assert len(rig.store.samples) == 2 * size  # both windows full, one row per ring slot
    resumed, _, _ = rig.start()
    assert windows(resumed.breaker) == windows(session.breaker)
    resumed.run(items(bars))
    reference = Rig(config=config)
    whole, _, _ = reference.start()
    whole.run(items(bars))
    assert windows(rig.start()[0].breaker) == windows(whole.breaker)


def test_in_memory_store_keeps_one_row_per_ring_slot() -> None:
    store = InMemoryStore()
    breaker = CircuitBreaker(CircuitConfig(metrics_window_size=4), SimulatedClock(START))
    for i in range(10):
        breaker.report_api_latency(float(i))
    pending = breaker.pending_samples()
    assert [s.seq for s in pending] == [6, 7, 8, 9]  # samples that left the window: no row
    assert sorted(s.slot for s in pending) == [0, 1, 2, 3]
    assert store.samples == {}
