"""A kill -9 in the middle of the start-up venue sync loses no venue trade.

Found by the adversarial pass: the sync's commits save the live warm-up's cursors (now), and
the next start read the venue from there, so the trades the killed sync had not booked yet
were never booked: cash, position and counters stayed off the venue's for good. The sync's
start is kept in venue.json until the sync is done. Real ccxt against the loopback emulator,
a real SQLite journal, a real backup and restore, real SIGKILLs.
"""

from __future__ import annotations

import json
import signal
from collections import Counter
from pathlib import Path

import pytest

from engine.clock import SimulatedClock
from tests.integration.venue_support import (
    T0,
    clean_tradeguard_env,  # noqa: F401 - autouse fixture
    engine_book,
    journal,
    live_settings,
    make_emulator,
    minutes,
    run_child,
    run_live_until,
    serving,
    venue_config,
)
from tradeguard import services
from tradeguard.bootstrap import bootstrap
from tradeguard.venues.emulator.faults import FaultRule, HttpFaults


def test_a_kill_during_the_start_up_sync_of_a_restored_store_books_every_trade_once(
    tmp_path: Path, data_dir: Path
) -> None:
    clock = SimulatedClock(T0)
    emulator = make_emulator(data_dir, clock, faults=HttpFaults(
        [FaultRule(kind="split_fill", method="POST", path="/api/v3/order", times=0, pieces=2)]))
    state = tmp_path / "s"
    end = (T0 + minutes(50.1)).isoformat()
    with serving(emulator) as server:
        settings = live_settings(state, venue_config(server.url))
        run_live_until(settings, clock, T0 + minutes(15.1))
        app = bootstrap(settings)
        backup = services.backup_state(app)
        run_live_until(settings, clock, T0 + minutes(45.1))  # the venue runs ahead
        services.restore_state(app, backup)
        missing = len(emulator.book.trades) - len(journal(state)["trades"])
        assert missing > 4
        killed = run_child(server.url, state, end, "after_fill:2")  # 2 of them booked
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
        finished = run_child(server.url, state, end)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert json.loads(finished.stdout.splitlines()[-1])["venue_fills_booked"] == missing - 2
    booked = [fill_id for fill_id, _, _ in journal(state)["trades"]]
    assert max(Counter(booked).values()) == 1
    assert set(booked) == {f"binance-trade-{t.trade_id}" for t in emulator.book.trades}
    book = engine_book(state)
    assert book["portfolio"]["cash"] == pytest.approx(emulator.book.balances["USDT"], abs=1e-6)
    filled = sum(1 for o in emulator.orders() if o.executed > 0)
    assert book["execution"]["orders_filled"] == filled
    assert "sync_from" not in json.loads((state / "venue.json").read_text())
