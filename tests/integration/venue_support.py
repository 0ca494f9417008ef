"""Shared pieces of the venue tests: the emulator on real bars, and ccxt pointed at it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.clock import Clock
from tradeguard.venues.config import VenueConfig, VenueCredentials
from tradeguard.venues.emulator.faults import HttpFaults
from tradeguard.venues.emulator.market import MarketData, SymbolSpec
from tradeguard.venues.emulator.server import EmulatorServer, ExchangeEmulator
from tradeguard.venues.exchange import build_exchange

KEY = "tgTestKey0123456789"
SECRET = "tg-test-secret-0123456789"
SYMBOL = "BTC/USDT"
DATA_FILE = "btc-perp_ftx_1m.csv.gz"
# 2022-01-21: a real sell-off day (see SOURCES.md); the tests trade its evening.
DAY_START = datetime(2022, 1, 21, 18, 0, tzinfo=UTC)
T0 = datetime(2022, 1, 21, 20, 0, tzinfo=UTC)
DAY_END = datetime(2022, 1, 21, 23, 0, tzinfo=UTC)

_MARKETS: dict[tuple[Path, datetime, datetime], MarketData] = {}


@pytest.fixture(autouse=True)
def clean_tradeguard_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep the developer's TRADEGUARD_* variables (config file, keys, URLs) out of the test."""
    for name in list(os.environ):
        if name.upper().startswith("TRADEGUARD_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))


def spec(data_dir: Path) -> SymbolSpec:
    """Return the emulated BTCUSDT market over the FTX BTC-PERP bars."""
    return SymbolSpec("BTCUSDT", "BTC", "USDT", data_dir / DATA_FILE)


def market(data_dir: Path, start: datetime = DAY_START, end: datetime = DAY_END) -> MarketData:
    """Return (cached) real bars of the test window."""
    key = (data_dir, start, end)
    if key not in _MARKETS:
        _MARKETS[key] = MarketData.load([spec(data_dir)], start, end)
    return _MARKETS[key]


def make_emulator(data_dir: Path, clock: Clock, *, end: datetime = DAY_END,
                  faults: HttpFaults | None = None, **kw: Any) -> ExchangeEmulator:
    """Return an emulator serving the test window on the given market clock."""
    return ExchangeEmulator(
        market=market(data_dir, DAY_START, end), specs=[spec(data_dir)], clock=clock,
        api_key=KEY, api_secret=SECRET, faults=faults, **kw,
    )


@contextmanager
def serving(emulator: ExchangeEmulator) -> Iterator[EmulatorServer]:
    """Serve the emulator on a free loopback port for the duration of the block."""
    server = EmulatorServer(emulator).start()
    try:
        yield server
    finally:
        server.stop()


def venue_config(url: str, **kw: Any) -> VenueConfig:
    """Return venue settings aimed at the emulator (keys included)."""
    values: dict[str, Any] = {
        "api_url": url, "api_key": KEY, "api_secret": SECRET, "symbols": [SYMBOL],
        "timeout_ms": 2000, "enable_rate_limit": False, "poll_delay_seconds": 2.0,
        "warmup_bars": 30,
    }
    values.update(kw)
    return VenueConfig.model_validate(values)


def exchange_for(config: VenueConfig) -> Any:
    """Return the real ccxt client built from venue settings."""
    return build_exchange(config, VenueCredentials.resolve(config))


def minutes(n: float) -> timedelta:
    """Return n minutes."""
    return timedelta(minutes=n)


def live_settings(state_dir: Path, venue: VenueConfig, **groups: Any) -> Any:
    """Return settings for a live test session: fast SMA pairs so an hour has signals."""
    from tradeguard.settings import load_settings

    values: dict[str, Any] = {
        "store": {"state_dir": state_dir},
        "strategy": {"pairs": [[2, 5]]},
        "venue": venue.model_dump(),
    }
    values.update(groups)
    return load_settings(**values)


def run_live_until(settings: Any, clock: Any, end: datetime, *, paper: bool = False,
                   listeners: Any = ()) -> tuple[Any, dict[str, int], Any]:
    """Run a live session on a SimulatedClock until the feed would wait past `end`."""
    import threading

    from tradeguard.venues.live import build_live_runtime, run_live

    stop = threading.Event()

    def wait_until(when: datetime) -> None:
        if when > end:
            stop.set()
            return
        clock.advance_to(when)

    runtime = build_live_runtime(settings, settings.venue, clock=clock, wait_until=wait_until,
                                 paper=paper, listeners=listeners, stop=stop)
    try:
        reconciled, finished = run_live(runtime)
    finally:
        runtime.close()
    return runtime, reconciled, finished


def journal(state_dir: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Read intents, trades, signals and breaker events from the SQLite journal (both files)."""
    from contextlib import closing

    from tradeguard.bootstrap import store_path
    from tradeguard.store.union import open_reader

    with closing(open_reader(store_path(state_dir))) as db:  # state.db with history.db
        return {
            "intents": db.execute(
                "SELECT client_order_id, status, broker_order_id FROM order_intents "
                "ORDER BY created_at").fetchall(),
            "trades": db.execute(
                "SELECT fill_id, client_order_id, quantity FROM trades ORDER BY id").fetchall(),
            "signals": db.execute(
                "SELECT bar_time, side, outcome, client_order_id FROM signals "
                "ORDER BY bar_time, id").fetchall(),
            "breaker": db.execute(
                "SELECT from_state, to_state, trigger FROM breaker_events ORDER BY id").fetchall(),
            "issues": db.execute("SELECT issue_type, details FROM issues ORDER BY id").fetchall(),
        }


def run_child(url: str, state_dir: Path, end: str, failpoint: str | None = None) -> Any:
    """Run tests.integration.venue_child (a live session to `end`) in a new process."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEGUARD_")}
    if failpoint:
        env["TRADEGUARD_FAILPOINT"] = failpoint
    return subprocess.run(
        [sys.executable, "-m", "tests.integration.venue_child", url, str(state_dir), end],
        cwd=repo, env=env, capture_output=True, text=True, timeout=300, check=False,
    )


def engine_book(state_dir: Path) -> dict[str, Any]:
    """Read the engine's cash, positions and execution counters from the journal."""
    import json
    import sqlite3

    from tradeguard.bootstrap import store_path

    uri = f"file:{store_path(state_dir)}?mode=ro"
    with sqlite3.connect(uri, uri=True) as db:
        sections = dict(db.execute("SELECT key, value FROM key_state").fetchall())
        orphans = db.execute(
            "SELECT count(*) FROM order_intents i WHERE status = 'FILLED' AND NOT EXISTS "
            "(SELECT 1 FROM trades t WHERE t.client_order_id = i.client_order_id)"
        ).fetchone()[0]
    portfolio = json.loads(sections["portfolio"])
    return {"portfolio": portfolio, "execution": json.loads(sections["execution"]),
            "risk": json.loads(sections["risk"]), "orphans": orphans}
