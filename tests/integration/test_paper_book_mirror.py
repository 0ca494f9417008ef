"""SQLite paper book: two writes per order, no reads per order, memory never ahead of the file."""

from __future__ import annotations

import sqlite3
from contextlib import closing, suppress
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.broker import BrokerConfig, PaperBroker
from engine.clock import SimulatedClock
from engine.errors import BrokerTimeoutError, StateError
from engine.faults import FaultPlan, FaultWindow
from engine.model import Bar, OrderRequest, OrderStatus, Side
from tradeguard.adapters.paper_book import SqlitePaperBook

T0 = datetime(2022, 1, 21, 10, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def bar(ts: datetime, open_: float = 100.0) -> Bar:
    return Bar("BTC", ts, open_, open_ * 1.01, open_ * 0.99, open_, 1.0)


def request(cid: str, side: Side = Side.BUY, quantity: float = 1.0) -> OrderRequest:
    return OrderRequest(cid, "BTC", side, quantity, 100.0, T0)


def test_an_order_costs_two_commits_and_no_read_of_the_file(tmp_path: Path) -> None:
    statements: list[str] = []
    clock = SimulatedClock(T0)
    with SqlitePaperBook(tmp_path) as book:
        broker = PaperBroker(BrokerConfig(), clock, book)
        book._db.set_trace_callback(statements.append)
        for minute in range(10):
            clock.set(T0 + minute * MINUTE)
            side = Side.BUY if minute % 2 == 0 else Side.SELL
            broker.place_order(request(f"o{minute}", side, 0.5))
            broker.on_bar(bar(T0 + (minute + 1) * MINUTE, 100.0 + minute))
            broker.on_bar(bar(T0 + (minute + 1) * MINUTE + 30 * timedelta(seconds=1)))
        book._db.set_trace_callback(None)
        fills = book.fills_since(None)

    assert len(fills) == 10
    # One transaction answers the order (its row with the answer), one settles its bar
    # (fill, order, cash, position and cursor); a bar with nothing pending writes nothing.
    assert sum(s == "COMMIT" for s in statements) == 20
    assert not [s for s in statements if s.lstrip().upper().startswith("SELECT")]


def test_a_refused_bar_leaves_file_and_venue_memory_as_before_and_the_bar_can_be_retried(
    tmp_path: Path,
) -> None:
    clock = SimulatedClock(T0)
    with SqlitePaperBook(tmp_path) as book:
        broker = PaperBroker(BrokerConfig(starting_cash=1_000.0), clock, book)
        broker.place_order(request("a", quantity=2.0))
        broker.place_order(request("b", quantity=3.0))
        with closing(sqlite3.connect(book.path)) as other, other:
            # A row with the fill id the venue gives order b: the bar's booking must fail whole.
            other.execute(
                "INSERT INTO fills VALUES ('b-1', 'b', 'BTC', 'BUY', 1, 1, 0, ?)",
                (T0.isoformat(),),
            )

        with pytest.raises(StateError, match="duplicate"):
            broker.on_bar(bar(T0))

        assert broker.poll_fills() == []
        assert (broker.get_balance(), broker.get_positions()) == (1_000.0, {})
        with SqlitePaperBook(tmp_path) as fresh:
            assert (fresh.cash(), fresh.positions(), fresh.cursors()) == (1_000.0, {}, {})
            assert [o.client_order_id for o in fresh.pending_orders()] == ["a", "b"]
        with closing(sqlite3.connect(book.path)) as other, other:
            other.execute("DELETE FROM fills WHERE fill_id = 'b-1'")

        fills = broker.on_bar(bar(T0))  # still pending in memory, the cursor not advanced

    assert [f.client_order_id for f in fills] == ["a", "b"]


def test_what_the_venue_answers_from_memory_is_what_the_file_says(tmp_path: Path) -> None:
    clock = SimulatedClock(T0)
    faults = FaultPlan([FaultWindow(T0, T0 + 6 * MINUTE, reject_rate=0.3, timeout_rate=0.3)])
    config = BrokerConfig(starting_cash=500.0, timeout_executes_fraction=0.5)
    with SqlitePaperBook(tmp_path) as book:
        broker = PaperBroker(config, clock, book, faults, seed=9)
        for minute in range(8):
            clock.set(T0 + minute * MINUTE)
            for k in range(3):
                side = Side.SELL if (minute + k) % 4 == 3 else Side.BUY
                with suppress(BrokerTimeoutError):
                    broker.place_order(request(f"m{minute}-{k}", side, 1.0))
            broker.on_bar(bar(T0 + (minute + 1) * MINUTE, 100.0 + 3 * minute))
        clock.set(T0 + 8 * MINUTE)
        broker.place_order(replace(request("protected"), collar_price=50.0))
        broker.on_bar(bar(T0 + 9 * MINUTE))  # the fill price is beyond the collar: cancelled
        ids = ["protected", *(f"m{m}-{k}" for m in range(8) for k in range(3))]
        seen = (book.cash(), book.positions(), [book.get_order(i) for i in ids])

        with SqlitePaperBook(tmp_path) as fresh:
            assert (fresh.cash(), fresh.positions(), [fresh.get_order(i) for i in ids]) == seen

    statuses = {order.status for order in seen[2] if order is not None}
    assert {OrderStatus.FILLED, OrderStatus.REJECTED, OrderStatus.CANCELLED} <= statuses
    assert None in seen[2]  # a timed-out submit that never reached the venue
