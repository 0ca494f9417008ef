"""`tradeguard status` in a second process sees a running real-time session's progress."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from engine.clock import SimulatedClock
from tradeguard import services
from tradeguard.bootstrap import bootstrap
from tradeguard.requests import DataSpec, ReplayRequest
from tradeguard.settings import load_settings

SCRIPT = Path(sys.executable).parent / "tradeguard"


class MinutePerCall(SimulatedClock):
    """The operator's wall clock, one bar later at every reading: real-time pacing never waits."""

    def now(self) -> datetime:
        return self.advance(timedelta(minutes=1))


def test_status_in_another_process_sees_the_live_sessions_bars(
    tmp_path: Path, data_dir: Path
) -> None:
    state = tmp_path / "state"
    settings = load_settings(store={"state_dir": state})
    app = bootstrap(settings, clock=MinutePerCall(datetime(2026, 1, 5, tzinfo=UTC)))
    start = datetime(2022, 1, 21, 19, tzinfo=UTC)
    request = ReplayRequest((DataSpec(data_dir / "btc-perp_ftx_1m.csv.gz", "BTC-PERP"),),
                            start, start + timedelta(hours=2), realtime=True)
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("TRADEGUARD_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "xdg")
    seen: list[dict[str, object]] = []
    items = 0

    def look_once_mid_run() -> str | None:
        nonlocal items
        items += 1
        if items == 60:  # 59 bars are done: ask a second process what it sees
            done = subprocess.run(
                [str(SCRIPT), "status", "--json", "--state-dir", str(state)],
                capture_output=True, text=True, env=env, timeout=120, check=False,
            )
            assert done.returncode == 0, done.stderr
            seen.append(json.loads(done.stdout))
        return None

    result = services.run_session(app, request, should_stop=look_once_mid_run)
    assert result.summary.bars == 120
    (live,) = seen
    assert live["running"] is True
    counters = live["counters"]
    assert isinstance(counters, dict)
    assert counters["bars"] == 59  # committed every bar in real-time mode, not at checkpoints
    assert live["heartbeat_age_seconds"] is not None
    assert live["current_bar"] != {}


def test_a_stop_request_cuts_the_real_time_pacing_wait_short(
    tmp_path: Path, data_dir: Path
) -> None:
    settings = load_settings(store={"state_dir": tmp_path / "state"})
    # A wall clock that never moves: every bar would wait a full minute for its close.
    app = bootstrap(settings, clock=SimulatedClock(datetime(2026, 1, 5, 0, 0, 30, tzinfo=UTC)))
    start = datetime(2022, 1, 21, 19, tzinfo=UTC)
    request = ReplayRequest((DataSpec(data_dir / "btc-perp_ftx_1m.csv.gz", "BTC-PERP"),),
                            start, start + timedelta(hours=1), realtime=True)
    asked = 0

    def stop_after_a_few_looks() -> str | None:
        nonlocal asked
        asked += 1
        return "stopped by SIGTERM" if asked >= 5 else None

    result = services.run_session(app, request, should_stop=stop_after_a_few_looks)
    # The stop came while waiting for the first bar: no bar was traded, the stop is clean.
    assert result.summary.bars == 0
    assert result.summary.stop_reason == "stopped by SIGTERM"
