"""State cleanup prunes old backups and old validation runs beyond the retention count."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tradeguard import services
from tradeguard.bootstrap import bootstrap
from tradeguard.settings import load_settings
from tradeguard.store.hygiene import backup
from tradeguard.store.sqlite_store import SqliteStore

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def make_state(tmp_path: Path, backups: int, runs: int) -> Path:
    state = tmp_path / "state"
    SqliteStore(state / "state.db").close()
    for n in range(backups):
        backup(state / "state.db", state / "backups", retention=100,
               now=T0 + timedelta(hours=n))
    for n in range(runs):
        (state / "validation" / f"20261101T{n:02d}0000Z-1").mkdir(parents=True)
    return state


def test_cleanup_keeps_the_newest_backups_and_validation_runs(tmp_path: Path) -> None:
    state = make_state(tmp_path, backups=5, runs=4)
    settings = load_settings(store={"state_dir": state, "backup_retention": 2})
    before = sorted(p.name for p in (state / "backups").iterdir())
    dry = services.clean_state(bootstrap(settings), older_than_seconds=600, dry_run=True)
    assert len(dry.removed) == 3 * 2 + 2  # 3 backup sets (state + history copy) and 2 runs
    assert len(list((state / "backups").iterdir())) == 5 * 2

    report = services.clean_state(bootstrap(settings), older_than_seconds=600, dry_run=False)
    assert sorted(p.name for p in report.removed) == sorted(p.name for p in dry.removed)
    assert sorted(p.name for p in (state / "backups").iterdir()) == before[-4:]  # 2 sets
    assert sorted(p.name for p in (state / "validation").iterdir()) == [
        "20261101T020000Z-1", "20261101T030000Z-1"]


def test_cleanup_never_removes_a_validation_run_that_is_still_running(tmp_path: Path) -> None:
    state = make_state(tmp_path, backups=0, runs=3)
    oldest = state / "validation" / "20261101T000000Z-1"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from tradeguard.store.lock import StateDirLock; "
         "lock = StateDirLock(sys.argv[1]); lock.acquire(); print('held', flush=True); "
         "time.sleep(60)", str(oldest)],
        stdout=subprocess.PIPE, text=True, env={**os.environ},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        settings = load_settings(store={"state_dir": state, "backup_retention": 1})
        report = services.clean_state(bootstrap(settings), older_than_seconds=600, dry_run=False)
    finally:
        holder.kill()
        holder.wait()
    assert oldest.is_dir()
    assert [p.name for p in report.removed] == ["20261101T010000Z-1"]
