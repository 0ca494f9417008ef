"""State cleanup flow removes exactly the stale files and leaves everything else."""

from __future__ import annotations

import os
import time
from pathlib import Path

from flows.state_cleanup import state_cleanup
from tests.flows.helpers import artifact_of

HOUR = 3600.0


def touch(path: Path, age_seconds: float, text: str = "") -> Path:
    path.write_text(text, encoding="utf-8")
    stamp = time.time() - age_seconds
    os.utime(path, (stamp, stamp))
    return path


def test_cleanup_removes_exactly_the_stale_locks_temps_and_orphan_journals(
    tmp_path: Path,
) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    stale = {
        touch(state_dir / "snapshot.tmp", 2 * HOUR),
        touch(state_dir / "dead-owner.lock", 2 * HOUR),
        touch(state_dir / "gone.db-journal", 2 * HOUR),
    }
    survivors = {
        touch(state_dir / "fresh.tmp", 60),
        touch(state_dir / "state.db", 2 * HOUR, "not touched by cleanup"),
        touch(state_dir / "state.db-journal", 2 * HOUR),  # hot journal of an existing db
        touch(state_dir / "notes.txt", 2 * HOUR),
    }

    state = state_cleanup(state_dir=str(state_dir), older_than_seconds=HOUR, return_state=True)

    assert state.is_completed(), state.message
    result = state.result()
    assert {Path(p) for p in result["removed"]} == stale
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in survivors)
    assert "snapshot.tmp" in artifact_of(state, "state-cleanup")


def test_cleanup_dry_run_reports_but_keeps_every_file(tmp_path: Path) -> None:
    old = touch(tmp_path / "snapshot.tmp", 2 * HOUR)

    state = state_cleanup(
        state_dir=str(tmp_path), older_than_seconds=HOUR, dry_run=True, return_state=True
    )

    assert state.is_completed(), state.message
    assert state.result()["removed"] == [str(old)]
    assert old.exists()
