"""Issue 8 §3 + issue 15 target 3: the hot state.db and the append-only history.db.

Real SQLite files and real SIGKILLs: an archive move killed between its two commits converges,
readers see every row exactly once (also mid-move), a crash restart checks the hot file whole
and a sealed history file not at all, damage in either file is refused, backups carry both.
"""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.errors import StateCorruptedError, StateError, StatePathError
from engine.ports import Batch
from tradeguard.analytics.refresh import RefreshResult, refresh
from tradeguard.store import archive, hygiene, union
from tradeguard.store.sqlite_store import SqliteStore

from .archive_crash_child import ORDERS, journal_round

REPO = Path(__file__).resolve().parents[2]
TABLES = ("trades", "signals", "equity", "order_intents", "breaker_events")


def _child(state: Path, round_no: int, mode: str, failpoint: str = "") -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEGUARD_")}
    if failpoint:
        env["TRADEGUARD_FAILPOINT"] = failpoint
    done = subprocess.run(
        [sys.executable, "-m", "tests.integration.archive_crash_child", str(state),
         str(round_no), mode],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode


def _expected(rounds: int) -> dict[str, int]:
    return {
        "trades": ORDERS * rounds,
        "signals": ORDERS * rounds,
        "equity": ORDERS * rounds,
        "order_intents": (ORDERS + 1) * rounds,
        "breaker_events": rounds,
    }


def _seen(state: Path) -> dict[str, int]:
    """Count the journal as a reader sees it; every fill id must be there exactly once."""
    conn = union.open_reader(state / "state.db")
    try:
        counts = {t: int(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]) for t in TABLES}
        distinct = conn.execute("SELECT COUNT(DISTINCT fill_id) FROM trades").fetchone()[0]
        keys = conn.execute("SELECT COUNT(DISTINCT client_order_id) FROM order_intents").fetchone()
    finally:
        conn.close()
    assert distinct == counts["trades"]
    assert keys[0] == counts["order_intents"]
    return counts


def _hot_rows(state: Path, table: str) -> int:
    with sqlite3.connect(f"file:{state / 'state.db'}?mode=ro", uri=True) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def _epochs(state: Path) -> tuple[int, int]:
    with sqlite3.connect(f"file:{state / 'state.db'}?mode=ro", uri=True) as conn:
        row = conn.execute("SELECT value FROM store_meta WHERE key = 'archive_epoch'").fetchone()
    with sqlite3.connect(f"file:{state / 'history.db'}?mode=ro", uri=True) as conn:
        (history,) = conn.execute("SELECT MAX(epoch) FROM archive_epochs").fetchone()
    return (int(row[0]) if row else 0, int(history or 0))


@pytest.mark.parametrize("point", archive.FAILPOINTS)
def test_a_kill_between_the_moves_two_commits_converges(tmp_path: Path, point: str) -> None:
    state = tmp_path / "s"
    assert _child(state, 0, "move") == 0
    assert _epochs(state) == (1, 1)
    assert _child(state, 1, "move", f"{point}:1") == -9  # SIGKILL inside the second move

    hot, history = _epochs(state)
    assert history == 2
    assert hot == (1 if point == "archive_history_committed" else 2)
    assert _seen(state) == _expected(2)  # mid-move: the copies are not shown twice

    store = SqliteStore(state, verify="full", archive_rows=10**9)
    try:
        assert store.history is not None
        assert store.history.verified == "full"  # the move never sealed the history file
        assert _epochs(state) == (2, 2)  # the open finished the delete
        assert _seen(state) == _expected(2)
        assert _hot_rows(state, "trades") == 1  # only the sentinel above the archive
        assert all(store.fill_recorded(f"f-r{r}-c{i}") for r in (0, 1) for i in range(ORDERS))
        assert not store.fill_recorded("f-never")
        # Archived (final) intents are found in history, open ones in the hot file.
        assert all(store.intent_recorded(f"r{r}-c{i}") for r in (0, 1) for i in range(ORDERS))
        assert store.intent_recorded("r1-open") and not store.intent_recorded("r9-c0")
        assert len(store.load().open_intents) == 2  # both rounds' open orders stayed hot
        journal_round(store, 2)  # new rows get ids above everything archived
        assert _seen(state) == _expected(3)
        assert store.archive() is not None
        assert _seen(state) == _expected(3)
    finally:
        store.close()
    assert _child(state, 3, "move") == 0
    assert _seen(state) == _expected(4)
    assert _epochs(state) == (4, 4)


def test_restart_after_a_crash_checks_the_hot_file_whole_and_not_a_sealed_history(
    tmp_path: Path,
) -> None:
    state = tmp_path / "s"
    assert _child(state, 0, "crash") == -9  # archived round 0, journaled round 1, killed

    store = SqliteStore(state, verify="full")
    try:
        assert store.verified == "full"  # no clean close: state.db gets integrity_check
        assert store.history is not None
        assert store.history.verified == "sealed"  # untouched since its move: not read
        assert _seen(state) == _expected(2)
        assert _hot_rows(state, "trades") == ORDERS + 1  # round 1 and round 0's sentinel
    finally:
        store.close()


def _damage(path: Path, rng: random.Random) -> None:
    size = path.stat().st_size
    with path.open("r+b") as handle:
        for _ in range(rng.randint(2, 8)):
            handle.seek(rng.randrange(100, size - 64))
            handle.write(rng.randbytes(rng.randint(1, 64)))


def _integrity(path: Path) -> str:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    except (sqlite3.DatabaseError, UnicodeDecodeError) as e:
        return str(e)
    finally:
        conn.close()


def test_a_damaged_history_file_is_refused_with_the_restore_hint(tmp_path: Path) -> None:
    state = tmp_path / "s"
    assert _child(state, 0, "move") == 0
    history = state / "history.db"
    rng = random.Random(15)
    while _integrity(history) == "ok":
        _damage(history, rng)
    with pytest.raises(StateCorruptedError, match="tradeguard state restore"):
        SqliteStore(state, verify="full")


def test_a_history_file_behind_the_hot_file_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "s"
    assert _child(state, 0, "move") == 0
    shutil.copy(state / "history.db", tmp_path / "old-history.db")
    assert _child(state, 1, "move") == 0
    (state / "history.db").unlink()
    shutil.copy(tmp_path / "old-history.db", state / "history.db")
    with pytest.raises(StateCorruptedError, match="behind"):
        SqliteStore(state, verify="full")
    (state / "history.db").unlink()  # lost altogether: refused as well, never started afresh
    with pytest.raises(StateCorruptedError, match="behind"):
        SqliteStore(state, verify="full")


def test_a_store_written_before_the_split_is_archived_by_its_first_move(tmp_path: Path) -> None:
    state = tmp_path / "s"
    store = SqliteStore(state, archive_rows=10**9)
    journal_round(store, 0)
    journal_round(store, 1)
    store.close()
    for old in ("history.db", "history.db.seal"):
        (state / old).unlink()  # as a store of the previous version left it
    assert _seen(state) == _expected(2)
    upgraded = SqliteStore(state, verify="full", archive_rows=0)  # over the bound: moved
    upgraded.close()
    assert _epochs(state) == (1, 1)
    assert _hot_rows(state, "trades") == 1
    assert _seen(state) == _expected(2)


def test_backup_and_restore_carry_both_files(tmp_path: Path) -> None:
    state = tmp_path / "s"
    assert _child(state, 0, "crash") == -9  # round 0 archived, round 1 hot
    SqliteStore(state, verify="full").close()
    made = hygiene.backup(state / "state.db", state / "backups", 3, _now())
    assert archive.history_path(made).is_file()
    assert _child(state, 2, "move") == 0
    assert _seen(state) == _expected(3)

    restored = hygiene.restore(state / "state.db", backups_dir=state / "backups", now=_now(1))
    assert restored == made
    assert _seen(state) == _expected(2)
    store = SqliteStore(state, verify="full")
    try:
        assert store.history is not None
        assert store.history.verified == "full"  # a restored file is a new inode
        assert _epochs(state) == (1, 1)
    finally:
        store.close()


@pytest.mark.parametrize("how", ["missing", "directory"])
def test_backup_of_an_archived_store_without_its_history_file_is_refused(
    tmp_path: Path, how: str
) -> None:
    # `state archive` moves the journal out of state.db on demand: a backup of the hot file
    # alone would lack every archived row, and restore refuses such a set. The backup says
    # so now, naming the history file, instead of reporting success.
    state = tmp_path / "s"
    store = SqliteStore(state, archive_rows=10**9)
    journal_round(store, 0)
    store.archive()
    store.close()
    history = state / "history.db"
    history.unlink()
    if how == "directory":
        history.mkdir()
    refused = StatePathError if how == "directory" else StateError
    with pytest.raises(refused, match=r"history\.db"):
        hygiene.backup(state / "state.db", state / "backups", 3, _now())
    assert not list((state / "backups").glob("state-*"))  # no backup set, not even a part


def test_a_move_between_the_two_backup_copies_heals_to_no_loss(tmp_path: Path) -> None:
    state = tmp_path / "s"
    backups = tmp_path / "backups"
    backups.mkdir()
    store = SqliteStore(state, archive_rows=10**9)
    journal_round(store, 0)
    hot_copy = backups / "state-20260104T000000000000Z.db"
    hygiene._copy_database(state / "state.db", hot_copy, "rw")  # the hot file first
    journal_round(store, 1)
    store.archive()  # a move lands between the two copies
    hygiene._copy_database(state / "history.db", archive.history_path(hot_copy), "rw")
    store.close()

    hygiene.restore(state / "state.db", hot_copy, now=_now())
    assert _epochs(state) == (0, 1)  # history one move ahead of the hot copy
    # Nothing archived is lost: round 1 is in the history copy. Round 1's open order was
    # journaled after the hot copy and stays hot: like any state newer than a backup, the
    # venue sync at start adopts it from the venue.
    expected = _expected(2) | {"order_intents": 2 * (ORDERS + 1) - 1}
    assert _seen(state) == expected
    healed = SqliteStore(state, verify="full", archive_rows=10**9)
    try:
        assert _epochs(state) == (1, 1)
        journal_round(healed, 2)  # new ids land above the archive (sentinel restored)
        expected = _expected(3) | {"order_intents": 3 * (ORDERS + 1) - 1}
        assert _seen(state) == expected
        healed.archive()
        assert _seen(state) == expected
    finally:
        healed.close()


def test_an_old_single_file_backup_restores_alone_and_works(tmp_path: Path) -> None:
    state = tmp_path / "s"
    store = SqliteStore(state, archive_rows=10**9)
    journal_round(store, 0)
    store.close()
    for old in ("history.db", "history.db.seal"):
        (state / old).unlink()
    single = hygiene.backup(state / "state.db", state / "backups", 3, _now())
    assert not archive.history_path(single).exists()
    assert _child(state, 1, "move") == 0  # the live store moved to two files meanwhile
    assert _seen(state) == _expected(2)

    hygiene.restore(state / "state.db", single, now=_now(1))
    assert not (state / "history.db").exists()  # set aside with the hot file
    assert list(state.glob("history.db.corrupt-*"))
    assert _seen(state) == _expected(1)
    store = SqliteStore(state, verify="full", archive_rows=0)
    store.close()
    assert _seen(state) == _expected(1)
    assert _epochs(state) == (1, 1)


def _now(minutes: int = 0) -> datetime:
    return datetime(2026, 1, 5, tzinfo=UTC) + timedelta(minutes=minutes)


def _readers(state: Path, scratch: Path) -> dict[str, object]:
    """What every journal reader sees: store queries, invariants, drill, audit, analytics."""
    from checks.audit import _snapshot
    from tradeguard.scenarios.drill import outcome
    from tradeguard.scenarios.observe import observe
    from tradeguard.store.invariants import check_journal

    store = SqliteStore(state, session=False, verify="recovery")
    try:
        seen: dict[str, object] = {
            # store_meta gains the archive epoch; every journal table must be unchanged
            "counts": {k: v for k, v in store.table_counts().items() if k != "store_meta"},
            "duplicates": store.duplicate_client_order_ids(),
            "problems": check_journal(store),
            "transitions": store.recent_transitions(1000),
        }
    finally:
        store.close()
    seen["drill"] = outcome(state)
    seen["observe"] = observe(state, 0.01)
    scratch.mkdir()
    _snapshot(state / "state.db", scratch / "audit.sqlite")
    with sqlite3.connect(scratch / "audit.sqlite") as conn:
        seen["audit"] = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}
    result = refresh(state / "state.db", scratch / "analytics.duckdb", bot="b")
    seen["analytics"] = (result.new_rows, result.intents_upserted)
    return seen


def test_readers_see_every_row_once_before_during_and_after_a_move(
    data_dir: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from entrypoints.cli import app

    state = tmp_path / "state"
    data = ("--data", str(data_dir / "btc-perp_ftx_1m.csv.gz"))
    window = ("--start", "2022-01-20T00:00:00Z", "--end", "2022-01-20T12:00:00Z")
    env = {k: "" for k in os.environ if k.startswith("TRADEGUARD_")}
    done = CliRunner().invoke(app, ["--state-dir", str(state), "replay", *data, *window], env=env)
    assert done.exit_code == 0, done.output
    before = _readers(state, tmp_path / "r0")
    assert before["counts"]["trades"] > 0  # type: ignore[index]
    assert before["problems"] == []

    mid = tmp_path / "mid"
    shutil.copytree(state, mid, ignore=shutil.ignore_patterns("*.lock", "backups", "*.duckdb*"))
    assert _child(mid, 0, "only", "archive_history_committed:1") == -9
    assert _epochs(mid) == (0, 1)
    assert _readers(mid, tmp_path / "r1") == before  # rows in both files are shown once

    SqliteStore(state, archive_rows=0).close()  # a writer over the bound moves at open
    assert _epochs(state) == (1, 1)
    assert _hot_rows(state, "trades") == 1
    assert _readers(state, tmp_path / "r2") == before
    again = refresh_again(state, tmp_path / "r0" / "analytics.duckdb")
    assert not any(again.new_rows.values())  # ids are kept: the watermarks still hold


def refresh_again(state: Path, db_file: Path) -> RefreshResult:
    return refresh(state / "state.db", db_file, bot="b")


def test_restore_refuses_the_history_copy_in_place_of_the_state_backup(tmp_path: Path) -> None:
    from engine.errors import StateError

    state = tmp_path / "s"
    assert _child(state, 0, "move") == 0
    made = hygiene.backup(state / "state.db", state / "backups", 3, _now())
    with pytest.raises(StateError, match="history copy"):
        hygiene.restore(state / "state.db", archive.history_path(made), now=_now(1))
    assert _seen(state) == _expected(1)


def test_moves_happen_at_the_day_rollover_and_the_close_once_over_the_bound(
    tmp_path: Path,
) -> None:
    from engine.events import DailyStateReset

    state = tmp_path / "s"
    store = SqliteStore(state, archive_rows=3 * ORDERS)  # one round is 3 * ORDERS + 1 rows
    try:
        journal_round(store, 0)
        assert _epochs(state) == (0, 0)  # ordinary events never move rows
        reset = DailyStateReset(datetime(2026, 1, 5, tzinfo=UTC), "2026-01-05", 0.0, 0, "auto",
                                True)
        store.commit(Batch(daily_resets=[reset]))  # the rollover: over the bound, moved
        assert _epochs(state) == (1, 1)
        journal_round(store, 1)
        assert _epochs(state) == (1, 1)
    finally:
        store.close()  # over the bound again: the clean close moves too
    assert _epochs(state) == (2, 2)
    assert _seen(state) == _expected(2)
    assert _hot_rows(state, "trades") == 1


def test_readers_refuse_a_missing_history_file_the_store_moved_rows_to(tmp_path: Path) -> None:
    # Without the check, every reader showed the hot rows only: part of the journal, as if
    # it were all of it (the writer's open already refused: "behind").
    from tradeguard.scenarios.drill import outcome

    state = tmp_path / "s"
    with SqliteStore(state, archive_rows=10**9) as store:
        journal_round(store, 0)
        reads_before = store.trade_count()
    fresh = tmp_path / "fresh"  # never archived: no history file is fine
    with SqliteStore(fresh, archive_rows=10**9) as store:
        journal_round(store, 0)
    (fresh / "history.db").unlink(missing_ok=True)
    for side in ("-wal", "-shm"):
        (fresh / f"history.db{side}").unlink(missing_ok=True)
    with SqliteStore(fresh, session=False) as reader:
        assert reader.trade_count() == reads_before

    assert _child(state, 1, "move") == 0
    for name in ("history.db", "history.db-wal", "history.db-shm"):
        (state / name).unlink(missing_ok=True)
    with SqliteStore(state, session=False) as reader, pytest.raises(
        StateCorruptedError, match=r"history\.db is missing, but the state store moved"
    ):
        reader.trade_count()
    with pytest.raises(StateCorruptedError, match="is missing"):
        outcome(state)
    with pytest.raises(StateCorruptedError, match="is missing"):
        refresh(state / "state.db", tmp_path / "analytics.duckdb", bot="b")
