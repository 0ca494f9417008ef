"""A history.db that belongs to another store is refused, never "finished" or read.

Found by the adversarial pass: a foreign history file one epoch ahead of the hot file was taken
for a move killed between its two steps, so the writer open deleted the hot file's own journal
rows and the session traded on a journal showing another store's fills.
"""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.errors import StateCorruptedError
from tradeguard.analytics.refresh import refresh
from tradeguard.store import archive, hygiene, union
from tradeguard.store.sqlite_store import SqliteStore

from .archive_crash_child import ORDERS, journal_round


def _store_with_moves(state: Path, rounds: range) -> None:
    store = SqliteStore(state, archive_rows=10**9)
    try:
        for round_no in rounds:
            journal_round(store, round_no)
            store.archive()
    finally:
        store.close()


def _hot_trades(state: Path) -> list[str]:
    with sqlite3.connect(f"file:{state / 'state.db'}?mode=ro", uri=True) as conn:
        return [str(row[0]) for row in conn.execute("SELECT fill_id FROM trades ORDER BY id")]


def _swap_history(state: Path, other: Path) -> None:
    for name in ("history.db", "history.db.seal"):
        (state / name).unlink(missing_ok=True)
    shutil.copy(other / "history.db", state / "history.db")


@pytest.mark.parametrize("other_rounds", [range(10, 12), range(10, 13)], ids=["same", "ahead"])
def test_another_stores_history_file_is_refused_and_the_hot_file_kept(
    tmp_path: Path, other_rounds: range
) -> None:
    mine, other = tmp_path / "mine", tmp_path / "other"
    _store_with_moves(mine, range(2))
    _store_with_moves(other, other_rounds)  # epoch 2 (same as mine) or 3 (one ahead)
    hot_before = _hot_trades(mine)
    _swap_history(mine, other)

    with pytest.raises(StateCorruptedError, match="belongs to another store"):
        SqliteStore(mine, verify="full")
    assert _hot_trades(mine) == hot_before  # nothing "finished" from the foreign file
    with pytest.raises(StateCorruptedError, match="history id"):
        union.open_reader(mine / "state.db")
    with pytest.raises(StateCorruptedError, match="history id"):
        refresh(mine / "state.db", tmp_path / "analytics.duckdb", bot="b")

    _swap_history(mine, other)  # still refused on the next try (the refusal wrote nothing)
    with pytest.raises(StateCorruptedError, match="belongs to another store"):
        SqliteStore(mine, verify="full")


def test_a_history_file_recreated_before_any_move_is_bound_and_accepted(tmp_path: Path) -> None:
    state = tmp_path / "s"
    store = SqliteStore(state, archive_rows=10**9)
    journal_round(store, 0)
    store.close()
    for name in ("history.db", "history.db.seal"):
        (state / name).unlink()  # nothing was archived yet: nothing is lost
    store = SqliteStore(state, verify="full", archive_rows=10**9)
    try:
        assert store.archive() is not None
    finally:
        store.close()
    conn = union.open_reader(state / "state.db")
    try:
        assert conn.execute("SELECT COUNT(DISTINCT fill_id) FROM trades").fetchone()[0] == ORDERS
        assert conn.execute("SELECT COUNT(*) FROM history.trades").fetchone()[0] == ORDERS
    finally:
        conn.close()


def test_a_backup_set_without_its_history_copy_is_never_restored(tmp_path: Path) -> None:
    state = tmp_path / "s"
    _store_with_moves(state, range(1))
    backups = state / "backups"
    complete = hygiene.backup(state / "state.db", backups, 5, _now(0))
    _store_with_moves(state, range(1, 2))
    incomplete = hygiene.backup(state / "state.db", backups, 5, _now(1))
    archive.history_path(incomplete).unlink()  # lost, or never copied alongside

    with pytest.raises(StateCorruptedError, match="incomplete backup set"):
        hygiene.restore(state / "state.db", incomplete, now=_now(2))
    assert not list(state.glob("*.corrupt-*"))  # the working store was not set aside
    assert hygiene.latest_good_backup(backups) == complete
    assert hygiene.restore(state / "state.db", now=_now(3)) == complete
    SqliteStore(state, verify="full").close()  # the restored set opens for trading


def _now(minutes: int) -> datetime:
    return datetime(2026, 1, 5, tzinfo=UTC) + timedelta(minutes=minutes)


def test_a_backup_set_holding_another_stores_history_copy_is_not_good(tmp_path: Path) -> None:
    mine, other = tmp_path / "mine", tmp_path / "other"
    _store_with_moves(mine, range(1))
    _store_with_moves(other, range(10, 12))
    backups = mine / "backups"
    complete = hygiene.backup(mine / "state.db", backups, 5, _now(0))
    mixed = hygiene.backup(mine / "state.db", backups, 5, _now(1))
    archive.history_path(mixed).unlink()
    shutil.copy(other / "history.db", archive.history_path(mixed))

    assert "belongs to another store" in hygiene.backup_check(mixed)
    assert hygiene.latest_good_backup(backups) == complete
    with pytest.raises(StateCorruptedError, match="belongs to another store"):
        hygiene.restore(mine / "state.db", mixed, now=_now(2))


def test_a_lost_state_db_beside_a_history_with_moves_is_refused_not_started_afresh(
    tmp_path: Path,
) -> None:
    # Adversarial pass: `rm state.db*` (or a restore killed between its renames) used to start
    # a fresh hot file that silently adopted the history: breaker and day counters were lost.
    state = tmp_path / "s"
    _store_with_moves(state, range(2))
    for suffix in ("", "-wal", "-shm", ".seal"):
        Path(f"{state / 'state.db'}{suffix}").unlink(missing_ok=True)
    with pytest.raises(StateCorruptedError, match=r"state\.db was lost or replaced") as caught:
        SqliteStore(state, verify="full")
    assert "tradeguard state restore" in str(caught.value)
    (state / "history.db").rename(state / "history.db.aside")  # the operator's other way out
    (state / "history.db.seal").unlink(missing_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{state / 'state.db'}{suffix}").unlink(missing_ok=True)
    SqliteStore(state, verify="full").close()
