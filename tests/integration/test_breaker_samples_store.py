"""Breaker sample windows in the SQLite store: ring rows, and stores of schema version 3."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

from engine.breaker_config import CircuitConfig
from engine.circuit_breaker import CircuitBreaker
from engine.clock import SimulatedClock
from engine.ports import Batch
from tests.unit.engine_harness import START
from tradeguard.store import schema
from tradeguard.store import statements as sql
from tradeguard.store.serialize import to_json
from tradeguard.store.sqlite_store import SqliteStore

WINDOW = 8
CONFIG = CircuitConfig(metrics_window_size=WINDOW)


def feed(breaker: CircuitBreaker, rng: random.Random, n: int) -> None:
    """Report n latency samples and about n/2 slippage samples."""
    for _ in range(n):
        breaker.report_api_latency(rng.uniform(1.0, 50.0))
        if rng.random() < 0.5:
            breaker.report_slippage(100.0, 100.0 + rng.uniform(0.0, 0.05))


def windows(breaker: CircuitBreaker) -> tuple[Any, Any]:
    """Return the latency and slippage windows as the full snapshot packs them."""
    snapshot = breaker.snapshot()
    return snapshot["latency_samples"], snapshot["slippage_samples"]


def commit(store: SqliteStore, breaker: CircuitBreaker) -> None:
    """Commit the breaker's section and its new samples, as the engine journal does."""
    samples = breaker.pending_samples()
    store.commit(Batch(samples=samples, state={"breaker": breaker.snapshot(windows=False)}))
    breaker.samples_written(samples)


def restored(directory: Path) -> CircuitBreaker:
    """Open the store, load the breaker section and rebuild the breaker from it."""
    with SqliteStore(directory) as store:
        section = store.load().state["breaker"]
    return CircuitBreaker.from_snapshot(CONFIG, SimulatedClock(START), section)


def sample_rows(directory: Path) -> int:
    """Return the number of rows in breaker_samples."""
    conn = sqlite3.connect(directory / "state.db")
    try:
        return int(conn.execute("SELECT COUNT(*) FROM breaker_samples").fetchone()[0])
    finally:
        conn.close()


def test_windows_survive_many_commits_and_the_ring_stays_bounded(tmp_path: Path) -> None:
    rng = random.Random(1)
    breaker = CircuitBreaker(CONFIG, SimulatedClock(START))
    with SqliteStore(tmp_path) as store:
        for burst in range(40):
            feed(breaker, rng, burst % 5)
            commit(store, breaker)
        store.load()
    assert "latency_samples" not in str(store_text(tmp_path))
    assert windows(restored(tmp_path)) == windows(breaker)
    assert sample_rows(tmp_path) == 2 * WINDOW


def store_text(directory: Path) -> str:
    """Return the breaker section as stored."""
    conn = sqlite3.connect(directory / "state.db")
    try:
        return str(conn.execute("SELECT value FROM key_state WHERE key = 'breaker'").fetchone()[0])
    finally:
        conn.close()


def write_version_3_store(directory: Path, section: dict[str, Any]) -> None:
    """Leave a store as tradeguard wrote it before version 4: windows packed in the section."""
    SqliteStore(directory).close()
    conn = sqlite3.connect(directory / "state.db", isolation_level=None)
    try:
        conn.execute("DROP TABLE breaker_samples")
        conn.execute("UPDATE store_meta SET value = '3' WHERE key = 'schema_version'")
        conn.execute(
            "INSERT INTO key_state (key, value, updated_at) VALUES ('breaker', ?, ?)",
            (to_json(section), START.isoformat()),
        )
    finally:
        conn.close()


def test_a_version_3_store_recovers_the_same_windows_and_journals_on(tmp_path: Path) -> None:
    rng = random.Random(2)
    old = CircuitBreaker(CONFIG, SimulatedClock(START))
    feed(old, rng, 25)
    section = old.snapshot()
    del section["sample_seq"]  # the version 3 section: packed windows, no counters
    write_version_3_store(tmp_path, section)

    breaker = restored(tmp_path)  # opening migrates to the current version
    assert windows(breaker) == windows(old)
    with SqliteStore(tmp_path) as store:
        assert schema.schema_version(store._conn) == schema.CURRENT_VERSION  # type: ignore[arg-type]
        commit(store, breaker)  # the first commit writes the whole windows as rows
    assert sample_rows(tmp_path) == 2 * WINDOW
    again = restored(tmp_path)
    assert windows(again) == windows(old)

    feed(again, rng, 11)
    with SqliteStore(tmp_path) as store:
        commit(store, again)
    assert windows(restored(tmp_path)) == windows(again)


def test_a_burst_larger_than_one_statement_is_written_whole(tmp_path: Path) -> None:
    # A window bigger than the rows one sample statement carries (SAMPLE_ROWS_PER_STATEMENT).
    config = CircuitConfig(metrics_window_size=300)
    rng = random.Random(3)
    breaker = CircuitBreaker(config, SimulatedClock(START))
    feed(breaker, rng, 290)  # about 435 samples in one commit
    burst = len(breaker.pending_samples())
    assert burst > 2 * sql.SAMPLE_ROWS_PER_STATEMENT
    with SqliteStore(tmp_path) as store:
        commit(store, breaker)
    with SqliteStore(tmp_path) as store:
        section = store.load().state["breaker"]
    again = CircuitBreaker.from_snapshot(config, SimulatedClock(START), section)
    assert windows(again) == windows(breaker)
    assert sample_rows(tmp_path) == burst
