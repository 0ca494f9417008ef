"""WAL checkpoints off the order path, and the last_signals section as its one copy (v5)."""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.clock import SimulatedClock
from engine.model import OrderIntent, OrderRequest, OrderStatus, Side
from engine.ports import Batch
from tradeguard.store import schema, wal
from tradeguard.store.sqlite_store import SqliteStore

T0 = datetime(2026, 1, 4, 16, 52, tzinfo=UTC)


def intent(i: int) -> OrderIntent:
    request = OrderRequest(f"c{i:05d}", "BTC", Side.BUY, 0.5, 97000.0, T0)
    return OrderIntent(request, OrderStatus.PENDING_SUBMIT, T0)


def order_commits(store: SqliteStore, first: int, count: int) -> None:
    for i in range(first, first + count):
        store.commit(Batch(intents=[intent(i)], state={"risk": {"daily_trades": i}}))


def wal_frames(path: Path) -> int:
    """Frames in the WAL (a probe connection's checkpoint reports them; run it last)."""
    conn = sqlite3.connect(path / "state.db")
    try:
        return int(conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])
    finally:
        conn.close()


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(T0 + timedelta(hours=1))


def test_order_commits_never_checkpoint_even_past_the_sqlite_default(
    tmp_path: Path, clock: SimulatedClock
) -> None:
    store = SqliteStore(tmp_path, clock=clock)
    order_commits(store, 0, 600)
    ran = store.checkpoints.ran
    # keep the writer open: closing checkpoints the WAL
    frames = wal_frames(tmp_path)
    store.close()

    assert ran == 0
    # SQLite's default (1000 pages) would have restarted the WAL inside an order commit.
    assert frames > 1000


def test_an_order_free_commit_checkpoints_once_enough_commits_went_by(
    tmp_path: Path, clock: SimulatedClock
) -> None:
    store = SqliteStore(tmp_path, clock=clock)
    order_commits(store, 0, wal.CHECKPOINT_AFTER_COMMITS + 10)
    store.commit(Batch(state={"session": {"bars": 1}}))  # order-free: checkpoints
    ran = store.checkpoints.ran
    store.commit(Batch(state={"session": {"bars": 2}}))  # count restarted: no checkpoint
    order_commits(store, 1000, 1)  # writes from the start of the checkpointed WAL
    ran_after = store.checkpoints.ran
    frames = wal_frames(tmp_path)
    store.close()

    assert ran == 1
    assert ran_after == 1
    assert frames < 20  # the WAL restarted after the checkpoint (hundreds of frames before)


def test_order_free_commit_before_the_threshold_does_not_checkpoint(
    tmp_path: Path, clock: SimulatedClock
) -> None:
    store = SqliteStore(tmp_path, clock=clock)
    order_commits(store, 0, wal.CHECKPOINT_AFTER_COMMITS - 10)
    store.commit(Batch(state={"session": {"bars": 1}}))
    ran = store.checkpoints.ran
    store.close()

    assert ran == 0


def test_writer_raises_the_automatic_checkpoint_and_readers_keep_the_default(
    tmp_path: Path,
) -> None:
    writer = SqliteStore(tmp_path)
    reader = SqliteStore(tmp_path, session=False)
    try:
        assert writer._fetch_hot("PRAGMA wal_autocheckpoint") == [(wal.AUTOCHECKPOINT_PAGES,)]
        assert reader._fetch_hot("PRAGMA wal_autocheckpoint") == [(1000,)]
    finally:
        reader.close()
        writer.close()


def test_a_checkpoint_held_back_by_a_reader_never_fails_the_commit_and_logs_once(
    tmp_path: Path, clock: SimulatedClock, caplog: pytest.LogCaptureFixture
) -> None:
    store = SqliteStore(tmp_path, clock=clock)
    order_commits(store, 0, 5)
    reader = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM order_intents").fetchone()  # pins an old snapshot
    with caplog.at_level(logging.WARNING, logger="tradeguard.store.wal"):
        for round_ in range(2):
            order_commits(store, 100 * (round_ + 1), wal.CHECKPOINT_AFTER_COMMITS)
            store.commit(Batch(state={"session": {"bars": round_}}))
    reader.execute("COMMIT")
    reader.close()
    ran = store.checkpoints.ran
    loaded = store.load()
    store.close()

    assert ran == 2
    assert loaded.state["session"] == {"bars": 1}
    assert len(loaded.open_intents) == 5 + 2 * wal.CHECKPOINT_AFTER_COMMITS
    warnings = [r for r in caplog.records if "state_checkpoint_incomplete" in r.getMessage()]
    assert len(warnings) == 1


def test_last_signals_are_written_once_and_survive_a_restart(tmp_path: Path) -> None:
    with SqliteStore(tmp_path) as store:
        store.commit(Batch(state={"last_signals": {"BTC:10:30": "BUY", "ETH:5:15": "SELL"},
                                  "risk": {"daily_trades": 1}}))
        store.commit(Batch(state={"last_signals": {"BTC:10:30": "SELL", "ETH:5:15": "SELL"}}))
        tables = [row[0] for row in store._fetch_hot("SELECT name FROM sqlite_master")]
    with SqliteStore(tmp_path) as store:
        loaded = store.load()
        store.commit(Batch(state={"last_signals": {"ETH:5:15": "BUY"}}))
    with SqliteStore(tmp_path) as store:
        again = store.load()

    assert "last_signals" not in tables  # no second copy to write at every fill
    assert loaded.state["last_signals"] == {"BTC:10:30": "SELL", "ETH:5:15": "SELL"}
    assert again.state["last_signals"] == {"ETH:5:15": "BUY"}


def old_store(path: Path) -> sqlite3.Connection:
    """A store at schema version 4 (last_signals written as a section and as table rows)."""
    conn = sqlite3.connect(path / "state.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    assert schema.migrate(conn, schema.MIGRATIONS[:4]) == 4
    return conn


AT = "2026-01-04T16:52:00.000000+00:00"


def test_a_version_4_store_keeps_its_last_signals_section_and_drops_the_table(
    tmp_path: Path,
) -> None:
    conn = old_store(tmp_path)
    conn.execute(
        "INSERT INTO key_state VALUES ('last_signals', ?, ?)",
        ('{"BTC:10:30": "BUY", "ETH:5:15": "SELL"}', AT),
    )
    # v4 loaded the section: it wins over a table row that disagrees
    conn.execute("INSERT INTO last_signals VALUES ('BTC', 10, 30, 'SELL', ?, ?)", (AT, AT))
    conn.close()

    with SqliteStore(tmp_path) as store:
        loaded = store.load()
        tables = [row[0] for row in store._fetch_hot("SELECT name FROM sqlite_master")]
        version = schema.schema_version(store._conn)  # type: ignore[arg-type]

    assert version == schema.CURRENT_VERSION == 5
    assert loaded.state["last_signals"] == {"BTC:10:30": "BUY", "ETH:5:15": "SELL"}
    assert "last_signals" not in tables


def test_a_version_4_store_with_table_rows_only_keeps_them_as_the_section(
    tmp_path: Path,
) -> None:
    conn = old_store(tmp_path)
    conn.executemany(
        "INSERT INTO last_signals VALUES (?,?,?,?,?,?)",
        [("BTC", 10, 30, "SELL", None, AT), ("ETH", 5, 15, "BUY", AT, AT)],
    )
    conn.close()

    with SqliteStore(tmp_path) as store:
        loaded = store.load()

    assert loaded.state == {"last_signals": {"BTC:10:30": "SELL", "ETH:5:15": "BUY"}}
