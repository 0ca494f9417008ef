"""The venue is the truth for a live (ccxt) venue: restores, kill -9 between trades, reconcile.

Real ccxt against the loopback Binance emulator, a real SQLite journal and real backups. The
emulator's own book (its trades, USDT and BTC balances) is what the journal must converge to:
every venue trade booked once under `binance-trade-<id>`, cash and position equal to the
venue's, each order counted once however many trades filled it.
"""

from __future__ import annotations

import json
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from engine.clock import SimulatedClock
from engine.model import OrderRequest, OrderStatus, Side
from tests.integration.venue_support import (
    KEY,
    SECRET,
    SYMBOL,
    T0,
    clean_tradeguard_env,  # noqa: F401 - autouse fixture
    engine_book,
    exchange_for,
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
from tradeguard.bootstrap import BOOK_FILE, bootstrap, store_path
from tradeguard.venues.ccxt_broker import CcxtBroker
from tradeguard.venues.emulator.faults import FaultRule, HttpFaults
from tradeguard.venues.emulator.server import ExchangeEmulator
from tradeguard.venues.ids import encode_client_order_id
from tradeguard.venues.sync import owned_by

ORDER = "/api/v3/order"


def _venue_fill_ids(emulator: ExchangeEmulator) -> set[str]:
    return {f"binance-trade-{t.trade_id}" for t in emulator.book.trades}


def _assert_converged(state: Path, emulator: ExchangeEmulator) -> dict[str, Any]:
    """The journal books every venue trade once, and cash/position/counters follow the venue."""
    booked = [fill_id for fill_id, _, _ in journal(state)["trades"]]
    assert max(Counter(booked).values()) == 1
    assert set(booked) == _venue_fill_ids(emulator)
    book = engine_book(state)
    assert book["orphans"] == 0, "an intent FILLED without its trades"
    assert book["portfolio"]["cash"] == pytest.approx(emulator.book.balances["USDT"], abs=1e-6)
    position = book["portfolio"]["positions"].get(SYMBOL, {}).get("quantity", 0.0)
    assert position == pytest.approx(emulator.book.balances.get("BTC", 0.0), abs=1e-9)
    filled_orders = sum(1 for o in emulator.orders() if o.executed > 0)
    assert book["execution"]["orders_filled"] == filled_orders
    assert book["execution"]["trades_executed"] == filled_orders
    assert book["risk"]["daily_trades"] == filled_orders  # one trading day: all of them
    assert max(Counter(emulator.submissions()).values()) == 1  # no order sent twice
    return book


def _drop_store(state: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store_path(state)}{suffix}").unlink(missing_ok=True)


@pytest.mark.parametrize("lost", ["older-backup", "empty-store"])
def test_a_live_restart_after_losing_the_store_converges_to_the_venue(
    tmp_path: Path, data_dir: Path, lost: str
) -> None:
    clock = SimulatedClock(T0)
    # Every order fills in two venue trades: the restore must book each once.
    emulator = make_emulator(data_dir, clock, faults=HttpFaults(
        [FaultRule(kind="split_fill", method="POST", path=ORDER, times=0, pieces=2)]))
    state = tmp_path / "s"
    with serving(emulator) as server:
        settings = live_settings(state, venue_config(server.url))
        run_live_until(settings, clock, T0 + minutes(15.1))
        app = bootstrap(settings)
        backup = services.backup_state(app)
        kept = len(journal(state)["trades"])
        run_live_until(settings, clock, T0 + minutes(45.1))  # the venue runs ahead
        ahead = len(emulator.book.trades)
        if lost == "older-backup":
            services.restore_state(app, backup)
        else:
            _drop_store(state)
            kept = 0
        runtime, _, end = run_live_until(settings, clock, T0 + minutes(50.1))
        report = services.reconcile(bootstrap(settings))
    assert end.reason == "end of data"
    assert runtime.synced is not None
    assert len(runtime.synced.fills_booked) == ahead - kept > 10
    book = _assert_converged(state, emulator)
    assert book["execution"]["orders_filled"] >= 8
    assert report["venue_fills_booked"] == 0  # converged: nothing left to repair
    # Issue 8 §2 after a sync: submitted + adopted = filled + failed + still open.
    execution = book["execution"]
    adopted = execution.get("orders_adopted", 0)
    assert execution["orders_submitted"] + adopted == (
        execution["orders_filled"] + execution["orders_failed"] + runtime.session.orders_open)
    assert adopted == len(runtime.synced.intents_adopted) + len(
        runtime.synced.open_orders_adopted) > 0


def test_kill9_between_the_trades_of_an_order_books_each_trade_once(
    tmp_path: Path, data_dir: Path
) -> None:
    faults = HttpFaults([
        # The first two orders fill half, in two trades (the IOC rest expires); every later
        # order fills in three trades.
        FaultRule(kind="partial_fill", method="POST", path=ORDER, times=2, fraction=0.5,
                  pieces=2),
        FaultRule(kind="split_fill", method="POST", path=ORDER, times=0, pieces=3),
    ])
    emulator = make_emulator(data_dir, SimulatedClock(T0), faults=faults)
    state = tmp_path / "state"
    end = (T0 + minutes(60.1)).isoformat()
    with serving(emulator) as server:
        # Killed right after booking the first trade of an order, then after others.
        for failpoint in ("after_fill:1", "after_fill:4", "after_fill:2"):
            killed = run_child(server.url, state, end, failpoint)
            assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
        finished = run_child(server.url, state, end)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert json.loads(finished.stdout.splitlines()[-1])["reason"] == "end of data"
    per_order = Counter(t.order_id for t in emulator.book.trades)
    assert sorted(set(per_order.values())) == [2, 3]
    partial = [o for o in emulator.orders() if o.status == "EXPIRED" and o.executed > 0]
    assert len(partial) == 2
    _assert_converged(state, emulator)


def test_reconcile_books_the_venue_trades_a_restored_live_store_lacks(
    tmp_path: Path, data_dir: Path
) -> None:
    clock = SimulatedClock(T0)
    emulator = make_emulator(data_dir, clock)
    state = tmp_path / "s"
    with serving(emulator) as server:
        settings = live_settings(state, venue_config(server.url))
        run_live_until(settings, clock, T0 + minutes(15.1))
        app = bootstrap(settings)
        backup = services.backup_state(app)
        run_live_until(settings, clock, T0 + minutes(40.1))
        services.restore_state(app, backup)
        restored = len(journal(state)["trades"])
        env = {
            "TRADEGUARD_VENUE__API_URL": server.url, "TRADEGUARD_VENUE__API_KEY": KEY,
            "TRADEGUARD_VENUE__API_SECRET": SECRET, "TRADEGUARD_VENUE__TIMEOUT_MS": "2000",
            "TRADEGUARD_VENUE__ENABLE_RATE_LIMIT": "false",
            "TRADEGUARD_STRATEGY__PAIRS": "[[2, 5]]",
        }
        runner = CliRunner()
        first = runner.invoke(_cli(), ["--state-dir", str(state), "reconcile", "--json"],
                              env=env)
        again = runner.invoke(_cli(), ["--state-dir", str(state), "reconcile", "--json"],
                              env=env)
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    missing = len(emulator.book.trades) - restored
    assert missing >= 5
    assert report["venue_fills_booked"] == missing
    assert report["venue_intents_adopted"] == missing  # one trade per order here
    assert report["venue_error"] == ""
    assert json.loads(again.stdout)["venue_fills_booked"] == 0
    booked = [fill_id for fill_id, _, _ in journal(state)["trades"]]
    assert sorted(booked) == sorted(_venue_fill_ids(emulator))


def _cli() -> Any:
    from entrypoints.cli import app

    return app


CID = "sma-BTC/USDT-BUY-20220121T195900Z-10x30"  # too long for Binance: sent hashed


def test_an_order_filled_in_three_trades_is_three_fills_with_the_same_ids_everywhere(
    data_dir: Path,
) -> None:
    clock = SimulatedClock(T0)
    faults = HttpFaults([FaultRule(kind="split_fill", method="POST", path=ORDER, pieces=3)])
    emulator = make_emulator(data_dir, clock, faults=faults)
    with serving(emulator) as server:
        config = venue_config(server.url)
        broker = CcxtBroker(exchange_for(config), clock, [SYMBOL])
        price = emulator.book.market.price("BTCUSDT", T0) or 0.0
        broker.place_order(OrderRequest(CID, SYMBOL, Side.BUY, 0.03, price, T0))
        clock.advance(minutes(1))
        polled = broker.poll_fills()
        again = broker.poll_fills()
        by_order = broker.get_fills(CID)
        listed = broker.fills_since(T0)
        # A restarted process: without the journal's ids it sees the venue's client id.
        fresh = CcxtBroker(exchange_for(config), clock, [SYMBOL])
        unknown = fresh.fills_since(T0)
        fresh.track([CID])
        decoded = CcxtBroker(exchange_for(config), clock, [SYMBOL])
        decoded.track([CID])
        known = decoded.fills_since(None)
        order = broker.get_order(CID)
    ids = [f"binance-trade-{t.trade_id}" for t in emulator.book.trades]
    assert len(ids) == 3
    assert [f.fill_id for f in polled] == ids and again == []
    assert [f.fill_id for f in by_order] == ids
    assert [f.fill_id for f in listed] == ids
    assert sum(f.quantity for f in polled) == pytest.approx(0.03)
    assert {f.client_order_id for f in listed} == {CID}
    venue_id = encode_client_order_id(CID)
    assert venue_id != CID and {f.client_order_id for f in unknown} == {venue_id}
    assert owned_by("sma")(venue_id) and not owned_by("sma")("manual-1")
    assert [(f.fill_id, f.client_order_id) for f in known] == [(i, CID) for i in ids]
    assert order is not None and order.status is OrderStatus.FILLED


def test_the_sync_reads_from_the_stored_cursor_bounded_by_the_lookback() -> None:
    from engine.ports import RecoveredState
    from tradeguard.venues.sync import plan_sync

    def stored(*cursors: str) -> RecoveredState:
        section = {"cursors": {f"S{i}": c for i, c in enumerate(cursors)}} if cursors else {}
        return RecoveredState({"session": section} if cursors else {}, [], [])

    now = T0 + minutes(60)
    recent = plan_sync(stored("2022-01-21T20:30:00+00:00", "2022-01-21T20:10:00+00:00"), now, 2)
    assert (recent.since, recent.history_short) == (T0 + minutes(10), False)
    empty = plan_sync(stored(), now, 2)
    assert (empty.since, empty.cursor, empty.history_short) == (now - minutes(120), None, False)
    old = plan_sync(stored("2022-01-20T20:00:00+00:00"), now, 2)
    assert (old.since, old.history_short) == (now - minutes(120), True)


def test_a_store_older_than_the_lookback_halts_the_live_session(
    tmp_path: Path, data_dir: Path
) -> None:
    clock = SimulatedClock(T0)
    emulator = make_emulator(data_dir, clock)
    state = tmp_path / "s"
    with serving(emulator) as server:
        settings = live_settings(state, venue_config(server.url, sync_lookback_hours=1))
        run_live_until(settings, clock, T0 + minutes(10.1))
        app = bootstrap(settings)
        backup = services.backup_state(app)
        run_live_until(settings, clock, T0 + minutes(80.1))
        services.restore_state(app, backup)
        runtime, _, _ = run_live_until(settings, clock, T0 + minutes(82.1))
    assert runtime.session.breaker.state.value == "HALT"
    issues = journal(state)["issues"]
    assert any("venue_history_short" in details for _, details in issues)


RESTING = "sma-BTC/USDT-BUY-20220121T200000Z-resting"


def test_a_partly_filled_resting_order_counts_only_its_rest_in_the_exposure(
    tmp_path: Path, data_dir: Path
) -> None:
    clock = SimulatedClock(T0)
    # The order fills half at once, in two trades; the GTC rest keeps resting at the venue.
    emulator = make_emulator(data_dir, clock, faults=HttpFaults([
        FaultRule(kind="partial_fill", method="POST", path=ORDER, times=1, fraction=0.5,
                  pieces=2)]))
    state = tmp_path / "s"
    quantity = 0.02
    with serving(emulator) as server:
        settings = live_settings(state, venue_config(server.url))
        broker = CcxtBroker(exchange_for(settings.venue), clock, [SYMBOL])
        price = emulator.book.market.price("BTCUSDT", T0) or 0.0
        # Sent by a run whose store is lost: a limit at the current price (marketable now).
        broker.place_order(OrderRequest(RESTING, SYMBOL, Side.BUY, quantity, price, T0,
                                        limit_price=price))
        # Restarts within the minute: no bar closes, so the rest cannot fill meanwhile.
        first, _, _ = run_live_until(settings, clock, T0 + minutes(0.5))
        again, _, _ = run_live_until(settings, clock, T0 + minutes(0.5))
    (order,) = emulator.orders()
    assert order.status == "PARTIALLY_FILLED" and order.executed == pytest.approx(quantity / 2)
    assert first.synced is not None and len(first.synced.fills_booked) == 2
    book = engine_book(state)
    position = book["portfolio"]["positions"][SYMBOL]["quantity"]
    assert position == pytest.approx(quantity / 2)
    # The position holds the booked half; the working order adds only its unfilled rest, also
    # after a restart that read the booked half from the store rather than from the venue.
    assert first.session.exposure(SYMBOL) == pytest.approx(quantity)
    assert again.synced is not None and again.synced.fills_booked == ()
    assert again.session.exposure(SYMBOL) == pytest.approx(quantity)
    # Adopted under the venue's (encoded) id: the journal that knew the engine's id is lost.
    assert [(cid, status) for cid, status, _ in journal(state)["intents"]] == [
        (encode_client_order_id(RESTING), "SUBMITTED")]


def _paper_book(state: Path) -> dict[str, Any]:
    import sqlite3

    with sqlite3.connect(f"file:{state / BOOK_FILE}?mode=ro", uri=True) as db:
        return {
            "fills": sorted(r[0] for r in db.execute("SELECT fill_id FROM fills")),
            "cash": db.execute("SELECT cash FROM account").fetchone()[0],
            "positions": dict(db.execute("SELECT symbol, quantity FROM positions")),
            "orders": [r[0] for r in db.execute("SELECT client_order_id FROM orders")],
        }


@pytest.mark.parametrize("lost", ["older-backup", "empty-store"])
def test_a_paper_live_restart_after_losing_the_store_converges_to_the_paper_book(
    tmp_path: Path, data_dir: Path, lost: str
) -> None:
    clock = SimulatedClock(T0)
    emulator = make_emulator(data_dir, clock)  # live bars only: the venue is the paper book
    state = tmp_path / "s"
    with serving(emulator) as server:
        settings = live_settings(state, venue_config(server.url))
        run_live_until(settings, clock, T0 + minutes(15.1), paper=True)
        app = bootstrap(settings)
        backup = services.backup_state(app)
        kept = len(journal(state)["trades"])
        run_live_until(settings, clock, T0 + minutes(45.1), paper=True)  # the book runs ahead
        ahead = len(_paper_book(state)["fills"])
        if lost == "older-backup":
            services.restore_state(app, backup)
        else:
            _drop_store(state)
            kept = 0
        runtime, _, end = run_live_until(settings, clock, T0 + minutes(50.1), paper=True)
    assert emulator.orders() == []
    assert end.reason == "end of data"
    paper = _paper_book(state)
    booked = [fill_id for fill_id, _, _ in journal(state)["trades"]]
    assert sorted(booked) == paper["fills"]
    assert max(Counter(paper["orders"]).values()) == 1  # no order sent twice
    book = engine_book(state)
    assert book["orphans"] == 0
    assert book["portfolio"]["cash"] == pytest.approx(paper["cash"], abs=1e-6)
    position = book["portfolio"]["positions"].get(SYMBOL, {}).get("quantity", 0.0)
    assert position == pytest.approx(paper["positions"].get(SYMBOL, 0.0), abs=1e-9)
    execution = book["execution"]
    assert execution["orders_filled"] == len(paper["fills"])  # one fill per paper order
    assert execution["orders_submitted"] + execution["orders_adopted"] == (
        execution["orders_filled"] + execution["orders_failed"] + runtime.session.orders_open)
    assert runtime.synced is not None  # the replay's sync, on the paper book
    assert len(runtime.synced.fills_booked) == ahead - kept > 5
