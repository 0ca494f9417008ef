"""Issue 8 §3: damage met by a commit is reported as corruption, with the way out."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.errors import StateCorruptedError
from engine.model import Fill, Side
from engine.ports import Batch
from tradeguard.store.sqlite_store import SqliteStore

T0 = datetime(2026, 1, 4, 16, 52, tzinfo=UTC)


def _fill(i: int) -> Fill:
    return Fill(f"f{i:06d}", f"c{i:06d}", "BTC", Side.BUY, 1.0, 100.0, 0.05, T0 + timedelta(i))


def test_a_commit_into_damaged_pages_raises_state_corrupted_naming_restore(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "s")
    store.commit(Batch(fills=[_fill(i) for i in range(3000)], state={"n": {"i": 1}}))
    path = store.path
    store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        pages = [row[0] for row in conn.execute(
            "SELECT pageno FROM dbstat WHERE name = 'trades' AND pagetype = 'internal'"
        )]
    assert pages
    with path.open("r+b") as handle:  # the interior pages every insert into trades walks
        for page in pages:
            handle.seek((page - 1) * size)
            handle.write(b"\xff" * 64)
    # A reader that checks only the recovery tables gets as far as a commit into the damage.
    damaged = SqliteStore(path, verify="recovery")
    try:
        with pytest.raises(StateCorruptedError) as info:
            damaged.commit(Batch(fills=[_fill(5000)]))
    finally:
        damaged.close()
    assert "tradeguard state restore" in str(info.value)
    assert str(path) in str(info.value)
