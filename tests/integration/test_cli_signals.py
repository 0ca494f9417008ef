"""SIGTERM, SIGINT and SIGHUP end a replay cleanly: summary printed, clean stop, no crash ALERT."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

DATA_DIR = (Path(__file__).resolve().parents[2] / ".." / "shared" / "data").resolve()
FTX = DATA_DIR / "btc-perp_ftx_1m.csv.gz"
SCRIPT = Path(sys.executable).parent / "tradeguard"


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("TRADEGUARD_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "xdg")
    env["TRADEGUARD_DATA_DIR"] = str(DATA_DIR)
    return env


def _replay_until_trading(tmp_path: Path, state: Path) -> subprocess.Popen[str]:
    """Start a full-file replay and return once the trading loop logged its first order."""
    proc = subprocess.Popen(
        [str(SCRIPT), "--log-level", "INFO", "replay", "--state-dir", str(state),
         "--data", str(FTX), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(tmp_path),
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if "order_" in line:
            return proc
    proc.wait(timeout=60)
    pytest.fail("the replay ended before it logged an order")


@pytest.mark.parametrize(
    ("signum", "code"),
    [(signal.SIGTERM, 0), (signal.SIGINT, 130), (signal.SIGHUP, 0)],
)
def test_signal_stops_the_replay_cleanly_and_the_next_start_is_no_crash_recovery(
    tmp_path: Path, signum: signal.Signals, code: int
) -> None:
    state = tmp_path / "state"
    proc = _replay_until_trading(tmp_path, state)
    os.kill(proc.pid, signum)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err[-2000:]
    assert "Traceback" not in err
    summary = json.loads(out)
    assert summary["stop_reason"] == f"stopped by {signum.name}"
    assert 0 < summary["bars"] < 45031  # stopped mid-file, not at the end of data
    # The next start resumes from the committed cursor without a crash-recovery ALERT.
    again = subprocess.run(
        [str(SCRIPT), "--state-dir", str(state), "replay", "--data", str(FTX), "--json"],
        capture_output=True, text=True, env=_env(tmp_path), timeout=300, check=False,
    )
    assert again.returncode == 0, again.stderr[-2000:]
    triggers = [t["trigger"] for t in json.loads(again.stdout)["transitions"]]
    assert "crash_recovery" not in triggers
    status = subprocess.run(
        [str(SCRIPT), "--state-dir", str(state), "status", "--json"],
        capture_output=True, text=True, env=_env(tmp_path), timeout=120, check=False,
    )
    assert json.loads(status.stdout)["breaker"]["state"] == "CLOSED"
