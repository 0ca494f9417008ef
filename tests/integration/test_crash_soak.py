"""Kill -9 a replaying process dozens of times; nothing is duplicated, lost or different."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from bench.crash_soak import FAULTS, REPO, replay_command, run_soak


@pytest.mark.slow
def test_fifty_kills_leave_the_same_result_as_an_uninterrupted_run(
    tmp_path: Path, data_dir: Path
) -> None:
    # Failpoint kills only: repeatable. Timer kills (the long soak, bench/crash_soak.py) land
    # anywhere, and one right after a mid-bar commit of an unanswered submit meets the known
    # difference pinned by the next test, at random.
    result = run_soak(data_dir / "btc-perp_ftx_1m.csv.gz", tmp_path, kills_wanted=50,
                      timer_weight=0)
    assert result.kills >= 50
    assert set(result.by_point) >= {"before_broker", "inside_broker", "venue_fill", "after_commit"}
    reference = result.reference
    for final in result.finals:  # one per episode (an unreached failpoint ends one early)
        assert final["integrity"] == "ok"
        assert final["duplicate_fill_rows"] == 0
        assert final["fills"] == final["book_fills"]
        assert len(final["fills"]) > 50
        for key in ("fills", "engine_cash", "book_cash", "book_positions", "trades_executed"):
            assert final[key] == reference[key], key


@pytest.mark.xfail(strict=True, reason="known: recovery settles an UNKNOWN order journaled "
                   "mid-bar before the re-run reaches the next bar (docs/state.md)")
def test_a_kill_right_after_a_mid_bar_unknown_commit_matches_the_uninterrupted_run(
    tmp_path: Path, data_dir: Path
) -> None:
    # The soak window's commit 1266 records the SELL of 2022-01-19 12:42 as UNKNOWN (a timeout
    # fault) in the middle of its bar. After a kill there, recovery asks the venue at start
    # ("does not exist": REJECTED) instead of at the next bar's follow-up, so the HALT's
    # flatten comes at 12:43 instead of 12:46: two orders fewer than the uninterrupted run.
    # Should this pass one day because commits were renumbered rather than because recovery
    # waits for the follow-up, pin the kill at that SELL's UNKNOWN commit again.
    faults = tmp_path / "faults.toml"
    faults.write_text(FAULTS)
    data = data_dir / "btc-perp_ftx_1m.csv.gz"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    reference = subprocess.run(replay_command(data, tmp_path / "reference", faults, 5), env=env,
                               cwd=REPO, capture_output=True, text=True, timeout=300, check=True)
    command = replay_command(data, tmp_path / "state", faults, 5)
    dying = subprocess.run(command, env={**env, "TRADEGUARD_FAILPOINT": "after_commit:1266"},
                           cwd=REPO, capture_output=True, timeout=300, check=False)
    assert dying.returncode == -signal.SIGKILL
    resumed = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True,
                             timeout=300, check=True)
    expected, got = json.loads(reference.stdout), json.loads(resumed.stdout)
    assert got["orders_submitted"] == expected["orders_submitted"]
