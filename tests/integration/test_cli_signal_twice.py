"""A second stop signal while a stopped replay prints its summary changes nothing.

Found by the adversarial pass: the handlers were restored as soon as the session returned, so a
second SIGHUP or SIGTERM (or Ctrl-C) in the window while the summary was printed killed
the process: exit -1/-15/-2 instead of 0/130, summary lost (the store itself was already closed).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGHUP, 0), (signal.SIGTERM, 0), (signal.SIGINT, 130)]
)
def test_a_repeated_signal_after_the_clean_stop_keeps_the_summary_and_the_exit_code(
    tmp_path: Path, data_dir: Path, signum: signal.Signals, code: int
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("TRADEGUARD_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "xdg")
    done = subprocess.run(
        [sys.executable, "-m", "tests.integration.signal_twice_child", signum.name,
         "replay", "--state-dir", str(tmp_path / "s"), "--data",
         str(data_dir / "btc-perp_ftx_1m.csv.gz"), "--end", "2022-01-02T00:00:00Z"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == code, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert f"stopped by {signum.name}" in done.stdout
    assert "state directory:" in done.stdout  # the last line of the summary


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGHUP, 0), (signal.SIGTERM, 0), (signal.SIGINT, 130)]
)
def test_a_repeated_signal_after_a_live_sessions_clean_stop_keeps_the_summary(
    tmp_path: Path, data_dir: Path, signum: signal.Signals, code: int
) -> None:
    from engine.clock import SimulatedClock
    from tests.integration.venue_support import KEY, SECRET, T0, make_emulator, serving

    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("TRADEGUARD_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "xdg")
    with serving(make_emulator(data_dir, SimulatedClock(T0))) as server:
        env.update(TRADEGUARD_VENUE__API_URL=server.url, TRADEGUARD_VENUE__API_KEY=KEY,
                   TRADEGUARD_VENUE__API_SECRET=SECRET, TRADEGUARD_VENUE__TIMEOUT_MS="2000",
                   TRADEGUARD_VENUE__ENABLE_RATE_LIMIT="false")
        done = subprocess.run(
            [sys.executable, "-m", "tests.integration.signal_twice_child", signum.name,
             "venue", "run", "--state-dir", str(tmp_path / "s"), "--json"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
        )
    assert done.returncode == code, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert f"stopped by signal {signum.name}" in done.stdout
