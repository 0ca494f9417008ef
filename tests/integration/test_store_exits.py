"""Damaged or unusable state files end as StateError subclasses naming the thing at fault."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from engine.errors import (
    StateCorruptedError,
    StateError,
    StatePathError,
    StateSectionError,
    TradeguardError,
)
from engine.ports import Batch
from tradeguard.adapters.paper_book import FILENAME as BOOK_FILENAME
from tradeguard.adapters.paper_book import SqlitePaperBook
from tradeguard.store.files import LEGACY_STORE_FILENAME, STORE_FILENAME
from tradeguard.store.lock import LOCK_FILENAME, StateDirLock, is_locked_by_live_process
from tradeguard.store.sqlite_store import SqliteStore

REPO = Path(__file__).resolve().parents[2]

CLI = Path(sys.executable).parent / "tradeguard"


@contextmanager
def unwritable(path: Path) -> Iterator[None]:
    """Make path refuse new entries and writes, even for root (immutable flag)."""
    mode = path.stat().st_mode
    path.chmod(0o500 if path.is_dir() else 0o000)
    immutable = os.geteuid() == 0
    if immutable:
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
        if done.returncode != 0:
            path.chmod(stat.S_IMODE(mode))
            pytest.skip(f"running as root and chattr +i is unavailable: {done.stderr!r}")
    try:
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        path.chmod(stat.S_IMODE(mode))


def _corrupt_schema_name(store_file: Path, table: str) -> None:
    """Overwrite one byte of a table's name in sqlite_master with a byte that is not UTF-8."""
    data = bytearray(store_file.read_bytes())
    at = data.find(f"table{table}{table}".encode())
    assert at > 0, f"{table} not found in the schema pages"
    data[at + len("table") + 1] = 0xFF
    store_file.write_bytes(bytes(data))


def test_undecodable_schema_page_is_a_corrupted_store_naming_the_file(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "s").close()
    store_file = tmp_path / "s" / STORE_FILENAME
    _corrupt_schema_name(store_file, "positions")

    with pytest.raises(StateCorruptedError) as info:
        SqliteStore(tmp_path / "s")

    assert str(store_file) in str(info.value)
    assert "UTF-8" in str(info.value)
    assert "state restore" in str(info.value)


def test_section_that_is_not_an_object_is_refused_on_load_naming_it(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "s") as store:
        store.commit(Batch(state={"risk": {"daily_pnl": 1.0}, "breaker": {"state": "CLOSED"}}))
    db = sqlite3.connect(tmp_path / "s" / STORE_FILENAME)
    db.execute("UPDATE key_state SET value = '[1, 2]' WHERE key = 'risk'")
    db.commit()
    db.close()

    with SqliteStore(tmp_path / "s") as store, pytest.raises(StateSectionError) as info:
        store.load()

    assert "'risk'" in str(info.value)
    assert "list" in str(info.value)


def test_section_that_is_not_an_object_is_refused_at_commit(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "s") as store:
        with pytest.raises(TradeguardError, match=r"state\.risk: a section must be an object"):
            store.commit(Batch(state={"risk": [1, 2]}))
        assert store.load().state == {}


def test_status_on_a_store_with_a_bad_risk_section_exits_2_naming_it(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    with SqliteStore(state_dir / STORE_FILENAME) as store:
        store.commit(Batch(state={"risk": {"daily_pnl": 0.0}}))
    db = sqlite3.connect(state_dir / STORE_FILENAME)
    db.execute("""UPDATE key_state SET value = '"oops"' WHERE key = 'risk'""")
    db.commit()
    db.close()
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("TRADEGUARD_")}

    done = subprocess.run(
        [str(CLI), "--state-dir", str(state_dir), "status"],
        capture_output=True, text=True, timeout=120, check=False, env=env,
    )

    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ")
    assert "'risk'" in done.stderr


def test_state_dir_under_an_unwritable_parent_names_the_directory(tmp_path: Path) -> None:
    parent = tmp_path / "locked"
    parent.mkdir()
    with unwritable(parent):
        with pytest.raises(StatePathError) as lock_error:
            StateDirLock(parent / "state" / "deeper").acquire()
        with pytest.raises(StatePathError) as store_error:
            SqliteStore(parent / "state")

    assert f"cannot create directory {parent / 'state'}" in str(lock_error.value)
    assert str(parent / "state") in str(store_error.value)


def test_state_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("not a directory")

    with pytest.raises(StatePathError, match="not a directory"):
        StateDirLock(tmp_path / "state").acquire()


def test_lock_that_is_a_directory_is_refused_naming_it(tmp_path: Path) -> None:
    (tmp_path / "s" / LOCK_FILENAME).mkdir(parents=True)

    with pytest.raises(StatePathError) as info:
        StateDirLock(tmp_path / "s").acquire()

    assert f"{tmp_path / 's' / LOCK_FILENAME} is a directory" in str(info.value)


def test_unreadable_lock_is_refused_naming_it(tmp_path: Path) -> None:
    lock_file = tmp_path / "s" / LOCK_FILENAME
    with StateDirLock(tmp_path / "s"):
        pass
    with unwritable(lock_file):
        with pytest.raises(StatePathError) as acquiring:
            StateDirLock(tmp_path / "s").acquire()
        if os.geteuid() != 0:  # root may still read an immutable file
            with pytest.raises(StatePathError):
                is_locked_by_live_process(tmp_path / "s")

    assert f"state directory lock {lock_file} cannot be opened" in str(acquiring.value)


def test_store_file_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "s" / STORE_FILENAME).mkdir(parents=True)

    with pytest.raises(StatePathError, match="not a regular file"):
        SqliteStore(tmp_path / "s")


def test_store_under_the_old_file_name_is_refused_not_replaced(tmp_path: Path) -> None:
    state_dir = tmp_path / "s"
    with SqliteStore(state_dir / LEGACY_STORE_FILENAME) as old:
        old.commit(Batch(state={"risk": {"daily_trades": 3}}))

    with pytest.raises(StatePathError) as info:
        SqliteStore(state_dir / STORE_FILENAME)

    assert LEGACY_STORE_FILENAME in str(info.value)
    assert not (state_dir / STORE_FILENAME).exists()


def test_every_directory_created_is_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        SqliteStore(tmp_path / "a" / "b" / "state").close()
        with StateDirLock(tmp_path / "c" / "d" / "state"):
            pass
        SqlitePaperBook(tmp_path / "e" / "f" / BOOK_FILENAME).close()
    finally:
        os.umask(old)

    created = [tmp_path / "a", tmp_path / "a" / "b", tmp_path / "a" / "b" / "state",
               tmp_path / "c", tmp_path / "c" / "d", tmp_path / "c" / "d" / "state",
               tmp_path / "e", tmp_path / "e" / "f"]
    assert {str(p.relative_to(tmp_path)): oct(stat.S_IMODE(p.stat().st_mode)) for p in created} == {
        str(p.relative_to(tmp_path)): "0o700" for p in created
    }


def test_empty_paper_book_is_a_damaged_file_not_a_fresh_book(tmp_path: Path) -> None:
    book = tmp_path / BOOK_FILENAME
    book.touch()

    with pytest.raises(StateCorruptedError) as info:
        SqlitePaperBook(book)

    assert f"paper book {book}" in str(info.value)


def test_paper_book_with_undecodable_text_is_damaged_not_a_traceback(tmp_path: Path) -> None:
    with SqlitePaperBook(tmp_path) as book:
        book.initialize(100.0)
    _corrupt_schema_name(tmp_path / BOOK_FILENAME, "cursors")

    with pytest.raises(StateCorruptedError, match="paper book"):
        SqlitePaperBook(tmp_path).cursors()


def test_lock_body_is_json_with_host_pid_and_start(tmp_path: Path) -> None:
    with StateDirLock(tmp_path):
        body = json.loads((tmp_path / LOCK_FILENAME).read_text())

    assert set(body) == {"pid", "hostname", "started_at"}


def test_a_store_locked_by_another_process_ends_the_replay_with_one_error_line(
    tmp_path: Path, data_dir: Path
) -> None:
    # The commit fails on the lock, and the alert outbox's drain at the end meets the same
    # lock: it is logged, not raised over the commit's error as a traceback.
    done = subprocess.run(
        [sys.executable, "-m", "tests.integration.locked_store_child", "--state-dir",
         str(tmp_path / "s"), "replay", "--data", str(data_dir / "btc-perp_ftx_1m.csv.gz"),
         "--start", "2022-01-21T00:00:00Z", "--end", "2022-01-21T06:00:00Z", "--json"],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
        timeout=120, check=False,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("error: commit to state store"), lines[-1]
    assert "database is locked" in lines[-1]
    assert any("alert_drain_failed" in line for line in lines)


def test_a_full_disk_while_a_store_is_created_is_named_and_leaves_no_file(tmp_path: Path) -> None:
    # The error names the full disk and no temporary file or -wal/-shm stays behind. (A real
    # full disk, a small tmpfs, also made SQLite roll back by itself, and a second ROLLBACK
    # replaced the cause with "cannot rollback"; max_page_count fills the file without that.)
    from tradeguard.store import sqlite_kit
    from tradeguard.store.schema import migrate

    target = tmp_path / "state.db"

    def initialise(conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA max_page_count=4")  # the disk fills after four pages
        migrate(conn, where=str(target))

    with pytest.raises(StateError, match="database or disk is full"):
        sqlite_kit.create_database(target, initialise, "state store")
    assert list(tmp_path.iterdir()) == []
