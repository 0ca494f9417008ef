"""Live session flow: paper and venue runs against a real-time loopback emulator."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

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
