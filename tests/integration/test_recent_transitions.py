"""The newest breaker transitions read from the hot file equal the whole journal's newest.

`SqliteStore.recent_transitions` (what `tradeguard status` shows as its last transition) reads
the hot state.db and opens the union of hot and history only when the hot file cannot answer.
Every state below is compared with the union reader's own answer: a move's sentinel, a move
killed between its two commits, a restored backup whose history copy is a move ahead of its
hot copy, a hot file that holds no transition, and another store's history file.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.errors import StateCorruptedError
from engine.events import BreakerTransitioned
from tradeguard.store import archive, hygiene, union
from tradeguard.store.queries import TRANSITION_COLUMNS
from tradeguard.store.rows import transition_from_row
from tradeguard.store.sqlite_store import SqliteStore

from .archive_crash_child import journal_round

REPO = Path(__file__).resolve().parents[2]
COUNTS = (1, 2, 3, 100)


def _union_newest(state: Path, n: int) -> list[BreakerTransitioned]:
    conn = union.open_reader(state / "state.db")
    try:
        rows = conn.execute(
            f"SELECT {TRANSITION_COLUMNS} FROM breaker_events ORDER BY id DESC LIMIT ?", (n,)
        ).fetchall()
    finally:
        conn.close()
    return [transition_from_row(row) for row in reversed(rows)]


def _hot_newest(state: Path) -> datetime:
    with sqlite3.connect(f"file:{state / 'state.db'}?mode=ro", uri=True) as conn:
        (at,) = conn.execute("SELECT at FROM breaker_events ORDER BY id DESC LIMIT 1").fetchone()
    return datetime.fromisoformat(at)


def _reader(state: Path) -> SqliteStore:
    return SqliteStore(state, session=False, verify="recovery")


def _rounds(state: Path, rounds: range, *, move: bool) -> None:
    store = SqliteStore(state, archive_rows=10**9)
    try:
        for round_no in rounds:
            journal_round(store, round_no)  # one transition per round
            if move:
                store.archive()
    finally:
        store.close()


def _assert_same_as_union(state: Path) -> SqliteStore:
    store = _reader(state)
    for n in COUNTS:
        assert store.recent_transitions(n) == _union_newest(state, n), n
    return store


def test_a_store_without_moves_answers_from_the_hot_file(tmp_path: Path) -> None:
    state = tmp_path / "s"
    _rounds(state, range(3), move=False)
    store = _reader(state)
    try:
        assert [t.at.day for t in store.recent_transitions(2)] == [5, 6]
        assert len(store.recent_transitions(100)) == 3  # all of them: history holds none
        assert store._reader is None  # no union was opened: the hot file held them
        for n in COUNTS:
            assert store.recent_transitions(n) == _union_newest(state, n)
    finally:
        store.close()


def test_a_store_without_transitions_answers_none_from_the_hot_file(tmp_path: Path) -> None:
    state = tmp_path / "s"
    SqliteStore(state).close()  # a session that journaled nothing: history.db exists, empty
    store = _reader(state)
    try:
        assert store.recent_transitions(1) == []
        assert store._reader is None
    finally:
        store.close()


def test_after_moves_the_sentinel_gives_the_newest_and_older_ones_come_from_history(
    tmp_path: Path,
) -> None:
    state = tmp_path / "s"
    _rounds(state, range(3), move=True)
    store = _reader(state)
    try:
        (last,) = store.recent_transitions(1)
        assert last.at == _hot_newest(state)  # the move kept it in the hot file
        assert store._reader is None
        assert len(store.recent_transitions(3)) == 3  # two of them only in history.db
    finally:
        store.close()
    _assert_same_as_union(state).close()


def test_a_move_killed_between_its_commits_is_read_like_the_union(tmp_path: Path) -> None:
    state = tmp_path / "s"
    _rounds(state, range(1), move=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEGUARD_")}
    env["TRADEGUARD_FAILPOINT"] = "archive_history_committed:1"
    done = subprocess.run(
        [sys.executable, "-m", "tests.integration.archive_crash_child", str(state), "1", "move"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == -9, done.stderr  # history holds the move, the hot file too
    _assert_same_as_union(state).close()


def test_a_restored_hot_copy_older_than_its_history_copy_shows_the_history_newest(
    tmp_path: Path,
) -> None:
    state = tmp_path / "s"
    backups = tmp_path / "backups"
    backups.mkdir()
    store = SqliteStore(state, archive_rows=10**9)
    journal_round(store, 0)
    hot_copy = backups / "state-20260104T000000000000Z.db"
    hygiene._copy_database(state / "state.db", hot_copy, "rw")
    journal_round(store, 1)
    store.archive()  # a move lands between the two copies of the backup set
    hygiene._copy_database(state / "history.db", archive.history_path(hot_copy), "rw")
    store.close()
    hygiene.restore(state / "state.db", hot_copy, now=datetime(2026, 1, 6, tzinfo=UTC))

    reader = _assert_same_as_union(state)
    try:
        (last,) = reader.recent_transitions(1)
        assert last.at > _hot_newest(state)  # round 1's, which only the history copy holds
    finally:
        reader.close()


def test_a_hot_file_without_transitions_reads_them_from_history(tmp_path: Path) -> None:
    state = tmp_path / "s"
    _rounds(state, range(2), move=True)
    with sqlite3.connect(state / "state.db") as conn:
        conn.execute("DELETE FROM breaker_events")  # the sentinel too
    store = _assert_same_as_union(state)
    try:
        assert len(store.recent_transitions(100)) == 2
    finally:
        store.close()


def test_another_stores_history_file_is_refused_also_when_the_hot_file_answers(
    tmp_path: Path,
) -> None:
    mine, other = tmp_path / "mine", tmp_path / "other"
    _rounds(mine, range(2), move=True)
    _rounds(other, range(5, 7), move=True)
    for name in ("history.db", "history.db.seal"):
        (mine / name).unlink(missing_ok=True)
    shutil.copy(other / "history.db", mine / "history.db")
    store = _reader(mine)
    try:
        with pytest.raises(StateCorruptedError, match="history id"):
            store.recent_transitions(1)
    finally:
        store.close()


@pytest.mark.parametrize("n", [0, -1])
def test_a_count_below_one_is_answered_by_the_union_as_before(tmp_path: Path, n: int) -> None:
    state = tmp_path / "s"
    _rounds(state, range(2), move=True)
    store = _reader(state)
    try:
        assert store.recent_transitions(n) == _union_newest(state, n)
    finally:
        store.close()
