"""Live session flow: paper and venue runs against a real-time loopback emulator."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from flows.live_session import LIVE_TABLE_KEY, live_session
from tests.flows.helpers import artifact_of
from tradeguard.venues.emulator.market import SymbolSpec
from tradeguard.venues.emulator.server import EmulatorServer
from tradeguard.venues.service import EmulatorRequest, build_emulator

KEY, SECRET = "flowKey123", "flow-secret"


@pytest.fixture
def emulator(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    for name in list(os.environ):
        if name.startswith("TRADEGUARD_"):
            monkeypatch.delenv(name)
    request = EmulatorRequest(
        markets=(SymbolSpec("BTCUSDT", "BTC", "USDT", data_dir / "btc-perp_ftx_1m.csv.gz"),),
        start=datetime(2022, 1, 21, 20, 0, tzinfo=UTC), api_key=KEY, api_secret=SECRET,
    )
    server = build_emulator(request).start()
    monkeypatch.setenv("TRADEGUARD_VENUE__API_URL", server.url)
    monkeypatch.setenv("TRADEGUARD_VENUE__API_KEY", KEY)
    monkeypatch.setenv("TRADEGUARD_VENUE__API_SECRET", SECRET)
    try:
        yield server
    finally:
        server.stop()


def test_live_flow_runs_paper_then_venue_sessions_on_one_state_dir(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    state_dir = str(tmp_path / "state")
    paper = live_session(duration_minutes=0.05, state_dir=state_dir, return_state=True)
    assert paper.is_completed()
    summary = paper.result()
    assert summary["mode"].startswith("paper")
    assert summary["reason"] == "stopped by duration"
    assert '{"metric": "mode", "value": "paper (live bars, paper venue)"}' in artifact_of(
        paper, LIVE_TABLE_KEY
    )
    # The lock was released: a venue session on the same state dir starts and reconciles.
    venue = live_session(paper=False, duration_minutes=0.05, state_dir=state_dir,
                         return_state=True)
    assert venue.is_completed()
    result = venue.result()
    assert result["mode"] == f"override {emulator.url}"
    assert result["reconciled_on_start"] == {}
    assert result["breaker_state"] == "CLOSED"


def test_cancelling_a_live_flow_run_in_a_worker_thread_stops_the_session_cleanly(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    import threading

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import State
    from prefect.states import Cancelling

    from tests.flows.test_session_cancel import DEADLINE_SECONDS, wait_for
    from tradeguard import services
    from tradeguard.bootstrap import bootstrap
    from tradeguard.settings import load_settings

    state_dir = tmp_path / "state"
    app = bootstrap(load_settings(None, store={"state_dir": state_dir}))
    outcome: list[State[Any]] = []
    thread = threading.Thread(  # no duration: only the cancellation can end this session
        target=lambda: outcome.append(live_session(state_dir=str(state_dir), return_state=True)),
        daemon=True,
    )
    thread.start()

    def running_run() -> Any:
        if not state_dir.exists() or not services.status(app)["running"]:
            return None
        with get_client(sync_client=True) as client:
            runs = [r for r in client.read_flow_runs()
                    if r.state is not None and r.state.is_running()
                    and r.parameters.get("state_dir") == str(state_dir)]
        return runs[0] if runs else None

    run = wait_for("the live session holding its state directory", running_run)
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(run.id, Cancelling(message="cancelled from the test"))

    thread.join(timeout=DEADLINE_SECONDS)
    assert not thread.is_alive() and outcome, "the live session did not stop"
    assert outcome[0].is_cancelled(), outcome[0]
    assert (outcome[0].message or "").startswith(
        "live session stopped cleanly (stopped by cancellation)"
    )
    status = services.status(app)
    assert status["running"] is False
    assert status["counters"]["clean_shutdown"] is True
    assert '"value": "stopped by cancellation"' in artifact_of(outcome[0], LIVE_TABLE_KEY)
