"""State-dir cleanup removes exactly the stale files; backups rotate; restore keeps the damage."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.errors import StateCorruptedError, StateError, StateLockedError
from engine.ports import Batch
from tradeguard.store.archive import history_path
from tradeguard.store.clean import clean_state
from tradeguard.store.hygiene import (
    backup,
    latest_good_backup,
    quick_check_file,
    restore,
)
from tradeguard.store.lock import StateDirLock
from tradeguard.store.sqlite_store import SqliteStore

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(minutes=30)
RECENT = NOW - timedelta(minutes=2)


def touch(path: Path, when: datetime, body: str = "") -> Path:
    path.write_text(body)
    os.utime(path, (when.timestamp(), when.timestamp()))
    return path


def lock_body(pid: int) -> str:
    return json.dumps({"pid": pid, "hostname": socket.gethostname(), "started_at": "x"})


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def messy_dir(tmp_path: Path) -> tuple[Path, set[Path]]:
    """A state dir with a live store and a mix of stale and live leftovers."""
    state = tmp_path / "state"
    store = SqliteStore(state)
    store.commit(Batch(state={"n": {"v": 1}}))
    store.close()
    gone = dead_pid()
    stale = {
        touch(state / "state.db.123.init.tmp", OLD),
        touch(state / "export.tmp", OLD),
        touch(state / "backup.db.tmp-wal", OLD),
        touch(state / "old-session.lock", OLD, lock_body(gone)),
        touch(state / "empty.lock", OLD),
        touch(state / "orphan.db-journal", OLD),
    }
    touch(state / "fresh.tmp", RECENT)  # too young
    touch(state / "fresh.lock", RECENT, lock_body(gone))  # too young
    touch(state / "pidfile.lock", OLD, lock_body(os.getpid()))  # owner alive
    touch(state / "data.db", OLD)
    touch(state / "data.db-journal", OLD)  # may be a hot journal of data.db
    touch(state / "notes.txt", OLD)  # not ours to judge
    return state, stale


def test_clean_state_removes_exactly_the_stale_files(messy_dir: tuple[Path, set[Path]]) -> None:
    state, stale = messy_dir
    before = set(state.iterdir())

    result = clean_state(state, timedelta(minutes=10), NOW, dry_run=False)

    assert set(result.removed) == stale
    assert set(state.iterdir()) == before - stale
    assert {p.name for p in result.kept} == {
        "fresh.tmp",
        "fresh.lock",
        "pidfile.lock",
        "data.db-journal",
    }
    reopened = SqliteStore(state)
    assert reopened.load().state == {"n": {"v": 1}}
    reopened.close()


def test_clean_state_dry_run_removes_nothing(messy_dir: tuple[Path, set[Path]]) -> None:
    state, stale = messy_dir
    before = {p: p.read_bytes() for p in state.iterdir()}

    result = clean_state(state, timedelta(minutes=10), NOW, dry_run=True)

    assert result.dry_run
    assert set(result.removed) == stale
    assert {p: p.read_bytes() for p in state.iterdir()} == before


def test_clean_state_keeps_the_lock_of_a_live_session(tmp_path: Path) -> None:
    with StateDirLock(tmp_path):
        lock = tmp_path / ".lock"
        os.utime(lock, (OLD.timestamp(), OLD.timestamp()))
        result = clean_state(tmp_path, timedelta(minutes=10), NOW)
        assert lock.exists()

    assert result.removed == ()
    assert result.kept == (lock,)


def make_store(state: Path, n: int) -> SqliteStore:
    store = SqliteStore(state)
    store.commit(Batch(state={"counters": {"n": n}}))
    return store


def test_backups_rotate_and_restore_brings_back_the_newest(tmp_path: Path) -> None:
    state, backups = tmp_path / "state", tmp_path / "state" / "backups"
    store = SqliteStore(state)
    made = []
    for n in range(3):
        store.commit(Batch(state={"counters": {"n": n}}))
        made.append(backup(store.path, backups, 2, NOW + timedelta(minutes=n)))
    store.close()

    # Each backup set is the hot file and its history.db copy; rotation drops both.
    companions = [history_path(p) for p in made[1:]]
    assert sorted(backups.iterdir()) == sorted([*made[1:], *companions])
    assert made[2].name == "state-20260105T120200000000Z.db"
    assert companions[1].name == "state-20260105T120200000000Z.history.db"
    assert {stat.S_IMODE(p.stat().st_mode) for p in [*made[1:], *companions]} == {0o600}
    assert stat.S_IMODE(backups.stat().st_mode) == 0o700

    with store.path.open("r+b") as handle:
        handle.write(b"not a database!!")
    damaged = store.path.read_bytes()
    with pytest.raises(StateCorruptedError):
        SqliteStore(state)

    used = restore(store.path, now=NOW + timedelta(hours=1))

    assert used == made[2]
    kept = state / "state.db.corrupt-20260105T130000000000Z"
    assert kept.read_bytes() == damaged
    reopened = SqliteStore(state)
    assert reopened.load().state == {"counters": {"n": 2}}
    assert reopened.integrity_check() == "ok"
    reopened.close()


def test_latest_good_backup_skips_a_damaged_newest_copy(tmp_path: Path) -> None:
    store = make_store(tmp_path / "s", 1)
    good = backup(store.path, tmp_path / "b", 5, NOW)
    bad = backup(store.path, tmp_path / "b", 5, NOW + timedelta(minutes=1))
    store.close()
    os.truncate(bad, bad.stat().st_size // 2)

    assert quick_check_file(bad) != "ok"
    assert latest_good_backup(tmp_path / "b") == good


def test_latest_good_backup_of_an_empty_directory_is_none(tmp_path: Path) -> None:
    assert latest_good_backup(tmp_path / "nothing") is None


def test_restore_is_refused_while_a_live_session_holds_the_lock(tmp_path: Path) -> None:
    store = make_store(tmp_path / "s", 1)
    source = backup(store.path, tmp_path / "s" / "backups", 3, NOW)
    before = store.path.read_bytes()

    with StateDirLock(tmp_path / "s"), pytest.raises(StateLockedError, match=f"{os.getpid()}"):
        restore(store.path, source)

    store.close()
    assert not list((tmp_path / "s").glob("*.corrupt-*"))
    assert store.path.stat().st_size >= len(before) > 0


def test_restore_refuses_a_damaged_explicit_source(tmp_path: Path) -> None:
    store = make_store(tmp_path / "s", 1)
    store.close()
    source = tmp_path / "bad.db"
    source.write_bytes(b"x" * 8192)

    with pytest.raises(StateCorruptedError):
        restore(store.path, source)

    assert SqliteStore(tmp_path / "s").load().state == {"counters": {"n": 1}}


def test_restore_without_any_good_backup_is_refused(tmp_path: Path) -> None:
    make_store(tmp_path / "s", 1).close()

    with pytest.raises(StateError, match="no backup passing quick_check"):
        restore(tmp_path / "s")


def test_backup_of_a_damaged_store_fails_and_keeps_older_backups(tmp_path: Path) -> None:
    store = make_store(tmp_path / "s", 1)
    good = backup(store.path, tmp_path / "b", 1, NOW)
    store.close()
    with store.path.open("r+b") as handle:
        handle.write(b"not a database!!")

    with pytest.raises(StateCorruptedError):
        backup(store.path, tmp_path / "b", 1, NOW + timedelta(minutes=1))

    assert sorted((tmp_path / "b").iterdir()) == [good, history_path(good)]


def test_backup_retention_below_one_is_refused(tmp_path: Path) -> None:
    store = make_store(tmp_path / "s", 1)
    with pytest.raises(ValueError, match="retention"):
        backup(store.path, tmp_path / "b", 0, NOW)
    store.close()


def test_rotation_keeps_the_backup_just_written_whatever_the_other_stamps_say(
    tmp_path: Path,
) -> None:
    state, backups = tmp_path / "state", tmp_path / "state" / "backups"
    store = SqliteStore(state)
    store.commit(Batch(state={"counters": {"n": 1}}))
    # A set stamped by a clock that ran ahead (or copied in): it sorts after every real one.
    ahead = backup(store.path, backups, 1, NOW + timedelta(days=365))
    store.commit(Batch(state={"counters": {"n": 2}}))

    made = backup(store.path, backups, 1, NOW)
    store.close()

    assert made.is_file() and history_path(made).is_file()  # the path printed exists
    assert not ahead.exists() and not history_path(ahead).exists()
    assert quick_check_file(made) == "ok"


def test_a_restore_stopped_after_setting_the_store_aside_leaves_it_refused_not_fresh(
    tmp_path: Path,
) -> None:
    from engine.errors import StatePathError

    state, backups = tmp_path / "state", tmp_path / "state" / "backups"
    store = SqliteStore(state)
    store.commit(Batch(state={"counters": {"n": 1}}))
    made = backup(store.path, backups, 3, NOW)
    store.commit(Batch(state={"counters": {"n": 2}}))
    store.close()
    # The history file cannot be set aside (its kept name is taken) after state.db was.
    (state / "history.db.corrupt-20260105T130000000000Z").write_text("kept earlier")

    with pytest.raises(StateError, match="refusing to overwrite a kept store"):
        restore(store.path, now=NOW + timedelta(hours=1))

    assert not store.path.exists()
    with pytest.raises(StatePathError, match=r"did not finish .* state restore --from"):
        SqliteStore(state)  # was: a fresh store, the breaker and the journal forgotten
    assert not store.path.exists()
    (state / "history.db.corrupt-20260105T130000000000Z").unlink()
    assert restore(store.path, now=NOW + timedelta(hours=2)) == made
    reopened = SqliteStore(state)
    try:
        assert reopened.load().state["counters"] == {"n": 1}
    finally:
        reopened.close()


def test_restore_from_the_store_itself_is_refused_and_keeps_both_files(tmp_path: Path) -> None:
    state = tmp_path / "state"
    store = SqliteStore(state)
    store.commit(Batch(state={"counters": {"n": 1}}))
    store.close()
    before = {p.name for p in state.iterdir()}

    # It reported success, set history.db aside and dropped its copy (history_path of the
    # source is the history file it had just moved): the next session was refused.
    with pytest.raises(StateError, match="is the state store itself, not a backup"):
        restore(store.path, source=store.path, now=NOW)

    assert {p.name for p in state.iterdir()} - {".lock"} == before
    assert (state / "history.db").is_file()


def test_a_bad_backup_passed_with_from_is_named_as_a_backup_not_as_the_store(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    SqliteStore(state).close()
    bad = tmp_path / "notes.db"
    bad.write_bytes(b"not a database at all" * 50)

    with pytest.raises(StateCorruptedError) as caught:
        restore(state / "state.db", source=bad, now=NOW)

    # Was "state store notes.db failed its integrity check ... Run `tradeguard state restore`".
    assert str(caught.value).startswith(f"backup {bad} cannot be restored (")
    assert "state store" not in str(caught.value).split(";")[0]
    assert not list(state.glob("*.corrupt-*"))


@pytest.mark.parametrize(("body", "named"), [
    (b"", "the file is empty"),
    (b"not sqlite" * 30, "does not start with a SQLite header"),
])
def test_backup_of_an_empty_or_foreign_store_names_it_as_damaged(
    tmp_path: Path, body: bytes, named: str
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "state.db").write_bytes(body)

    # An empty file was copied and then refused as "state.db: no such table: store_meta".
    with pytest.raises(StateCorruptedError, match=named):
        backup(state / "state.db", state / "backups", 3, NOW)
    assert not (state / "backups").exists() or not list((state / "backups").iterdir())
