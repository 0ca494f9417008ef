"""Operator control of a live session through the store, and the single-writer lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from tradeguard import services
from tradeguard.bootstrap import bootstrap
from tradeguard.settings import load_settings
from tradeguard.store.lock import is_locked_by_live_process
from tradeguard.store.union import open_reader

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
FAST = '[[2,5],[3,7],[4,9],[5,11]]'


def start_month_replay(state_dir: Path, data_dir: Path) -> subprocess.Popen[bytes]:
    """Start a month-long replay with many orders and wait until it owns the state dir."""
    env = {**ENV, "TRADEGUARD_STRATEGY__PAIRS": FAST, "TRADEGUARD_RISK__MAX_DAILY_TRADES": "500"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradeguard", "--state-dir", str(state_dir), "replay",
         "--data", str(data_dir / "btc-perp_ftx_1m.csv.gz"), "--json"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    store = state_dir / "state.db"
    while is_locked_by_live_process(state_dir) is None or not store.exists():
        assert proc.poll() is None, proc.communicate()[1].decode()
        assert time.monotonic() < deadline, "replay never took the lock"
        time.sleep(0.01)
    return proc


def cli(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tradeguard", "--state-dir", str(state_dir), *args],
        cwd=REPO, env=ENV, capture_output=True, text=True, timeout=120,
    )


@pytest.mark.slow
def test_halt_reaches_a_running_session_and_a_second_session_is_refused(
    tmp_path: Path, data_dir: Path
) -> None:
    state_dir = tmp_path / "state"
    proc = start_month_replay(state_dir, data_dir)
    second = cli(state_dir, "replay", "--data", str(data_dir / "btc-perp_ftx_1m.csv.gz"))
    status = cli(state_dir, "status", "--json")
    halt = cli(state_dir, "halt", "--reason", "exchange maintenance")
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err.decode()
    assert second.returncode != 0
    assert f"pid {proc.pid}" in second.stderr
    assert status.returncode == 0 and json.loads(status.stdout)["running"] is True
    assert halt.returncode == 0
    with closing(open_reader(state_dir / "state.db")) as db:  # state.db with history.db
        actions = db.execute("SELECT action, reason FROM operator_actions").fetchall()
        halts = db.execute(
            "SELECT trigger FROM breaker_events WHERE to_state = 'HALT'"
        ).fetchall()
        undone = db.execute("SELECT COUNT(*) FROM commands WHERE done_at IS NULL").fetchone()
    assert any("exchange maintenance" in reason for _, reason in actions)
    assert ("manual_override",) in halts
    assert undone == (0,)
    assert json.loads(out)["final_state"] == "HALT"


@pytest.mark.slow
def test_a_thousand_daily_resets_during_a_session_lose_no_update(
    tmp_path: Path, data_dir: Path
) -> None:
    state_dir = tmp_path / "state"
    proc = start_month_replay(state_dir, data_dir)
    settings = load_settings(store={"state_dir": state_dir})
    receipts = [services.reset_daily(bootstrap(settings), source=f"test-{n}") for n in range(1000)]
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err.decode()
    queued = sum(1 for r in receipts if not r["applied_directly"])
    assert queued > 0
    with closing(open_reader(state_dir / "state.db")) as db:  # state.db with history.db
        undone = db.execute("SELECT COUNT(*) FROM commands WHERE done_at IS NULL").fetchone()[0]
        resets = db.execute(
            "SELECT at, trading_day, previous_trades, applied FROM daily_resets ORDER BY id"
        ).fetchall()
        trades = [row[0] for row in db.execute("SELECT ts FROM trades ORDER BY ts")]
        state = json.loads(
            db.execute("SELECT value FROM key_state WHERE key = 'risk'").fetchone()[0]
        )
    assert undone == 0
    assert len(resets) >= 1000
    applied = [(at, day, previous) for at, day, previous, ok in resets if ok]
    # Every applied reset cleared exactly the fills booked since the previous one.
    days = [day for _, day, _ in applied]
    assert len(days) == len(set(days))
    boundaries = [at for at, _, _ in applied]
    for i, (at, _, previous) in enumerate(applied):
        since = boundaries[i - 1] if i else ""
        booked = sum(1 for ts in trades if since <= ts < at)
        assert previous == booked, (at, previous, booked)
    last = boundaries[-1] if boundaries else ""
    assert state["daily_trades"] == sum(1 for ts in trades if ts >= last)
