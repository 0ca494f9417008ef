"""SQLite paper book: durability across reopen, file mode, atomic fills, broker reconciliation."""

from __future__ import annotations

import sqlite3
import stat
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.broker import BrokerConfig, InMemoryPaperBook, PaperBook, PaperBroker, PaperOrder
from engine.clock import SimulatedClock
from engine.errors import BrokerTimeoutError, StateError
from engine.faults import FaultPlan, FaultWindow
from engine.model import Bar, Fill, OrderRequest, OrderStatus, Side
from engine.paper_book import BarBooking, PaperTrade
from tradeguard.adapters.paper_book import FILENAME, SCHEMA_VERSION, SqlitePaperBook

T0 = datetime(2022, 1, 21, 10, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def bar(ts: datetime, open_: float = 100.0, symbol: str = "BTC") -> Bar:
    return Bar(symbol, ts, open_, open_ * 1.01, open_ * 0.99, open_, 1.0)


def request(cid: str, side: Side = Side.BUY, quantity: float = 1.0) -> OrderRequest:
    return OrderRequest(cid, "BTC", side, quantity, 100.0, T0)


def paper_order(cid: str, status: OrderStatus = OrderStatus.SUBMITTED) -> PaperOrder:
    return PaperOrder(
        client_order_id=cid, broker_order_id=f"paper-{cid}", symbol="BTC", side=Side.SELL,
        quantity=0.5, reference_price=123.25, placed_at=T0, status=status, latency_ms=20.0,
        reduce_only=True, limit_price=120.5, reason="",
    )


def one_fill(order: PaperOrder, fill: Fill, cash: float, position: float) -> BarBooking:
    return BarBooking(fill.symbol, fill.ts, (PaperTrade(order, fill, cash, position),))


def test_book_file_is_private_and_uses_wal(tmp_path: Path) -> None:
    with SqlitePaperBook(tmp_path) as book:
        path = book.path

    assert path == tmp_path / FILENAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        db.close()


def test_explicit_file_path_in_a_new_directory_is_created_private(tmp_path: Path) -> None:
    target = tmp_path / "state" / "venue.sqlite"

    with SqlitePaperBook(target) as book:
        assert book.path == target

    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700


def test_every_record_survives_reopening(tmp_path: Path) -> None:
    fill = Fill("o1-1", "o1", "BTC", Side.SELL, 0.5, 121.0, 0.03, T0 + MINUTE)
    filled = replace(
        paper_order("o1"), status=OrderStatus.FILLED, filled_quantity=0.5, average_price=121.0
    )
    with SqlitePaperBook(tmp_path) as book:
        book.initialize(1_000.0)
        book.add_order(paper_order("o1"))
        book.add_order(paper_order("o2"))
        book.book_bar(one_fill(filled, fill, 60.47, -0.5))

    with SqlitePaperBook(tmp_path) as reopened:
        reopened.initialize(5_000.0)  # an existing book keeps its cash
        assert reopened.cash() == pytest.approx(1_060.47)
        assert reopened.positions() == {"BTC": -0.5}
        assert reopened.get_order("o1") == filled
        assert reopened.pending_orders() == [paper_order("o2")]
        assert reopened.fills_for("o1") == [fill]
        assert reopened.cursors() == {"BTC": T0 + MINUTE}
        assert reopened.get_order("missing") is None


def test_same_client_id_or_fill_id_cannot_be_booked_twice(tmp_path: Path) -> None:
    with SqlitePaperBook(tmp_path) as book:
        book.initialize(100.0)
        book.add_order(paper_order("o1"))
        fill = Fill("o1-1", "o1", "BTC", Side.SELL, 0.5, 121.0, 0.0, T0)
        book.book_bar(one_fill(paper_order("o1", OrderStatus.FILLED), fill, 60.5, -0.5))

        with pytest.raises(StateError, match="duplicate"):
            book.add_order(paper_order("o1"))
        with pytest.raises(StateError, match="duplicate"):
            book.book_bar(one_fill(paper_order("o1", OrderStatus.FILLED), fill, 60.5, -0.5))

        assert book.cash() == pytest.approx(160.5)  # the refused fill changed nothing
        assert book.positions() == {"BTC": -0.5}


def test_fill_for_an_unbooked_order_rolls_back_entirely(tmp_path: Path) -> None:
    with SqlitePaperBook(tmp_path) as book:
        book.initialize(100.0)
        ghost = Fill("g-1", "g", "BTC", Side.BUY, 1.0, 10.0, 0.0, T0)

        with pytest.raises(StateError):
            book.book_bar(one_fill(paper_order("g", OrderStatus.FILLED), ghost, -10.0, 1.0))

        assert book.cash() == 100.0
        assert book.positions() == {}
        assert book.fills_for("g") == []


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / FILENAME
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()

    with pytest.raises(StateError, match="upgrade tradeguard"):
        SqlitePaperBook(tmp_path)


def test_restarted_broker_reconciles_orders_from_the_durable_book(tmp_path: Path) -> None:
    clock = SimulatedClock(T0)
    timeouts = FaultPlan([FaultWindow(T0, T0 + MINUTE, timeout_rate=1.0)])
    config = BrokerConfig(timeout_executes_fraction=1.0)
    with SqlitePaperBook(tmp_path) as book:
        broker = PaperBroker(config, clock, book, timeouts, seed=11)
        with pytest.raises(BrokerTimeoutError):
            broker.place_order(request("lost-ack"))
        clock.set(T0 + MINUTE)
        broker.place_order(request("filled-before-crash"))
        broker.on_bar(bar(T0 + MINUTE))
        clock.set(T0 + 2 * MINUTE)
        broker.place_order(request("pending-at-crash"))
        cash_before = broker.get_balance()

    with SqlitePaperBook(tmp_path) as book:
        restarted = PaperBroker(config, clock, book, timeouts, seed=11)

        lost = restarted.get_order("lost-ack")
        done = restarted.get_order("filled-before-crash")
        pending = restarted.get_order("pending-at-crash")
        assert restarted.poll_fills() == []  # earlier fills come back through get_fills
        assert lost is not None and lost.status is OrderStatus.FILLED
        assert done is not None and done.status is OrderStatus.FILLED
        assert [f.fill_id for f in restarted.get_fills("filled-before-crash")] == [
            "filled-before-crash-1"
        ]
        assert pending is not None and pending.status is OrderStatus.SUBMITTED
        assert restarted.get_order("never-sent") is None
        assert restarted.get_balance() == cash_before

        assert restarted.on_bar(bar(T0 + MINUTE)) == []  # already processed before the crash
        fills = restarted.on_bar(bar(T0 + 2 * MINUTE))
        assert [f.client_order_id for f in fills] == ["pending-at-crash"]
        assert restarted.get_positions() == {"BTC": 3.0}


def test_sqlite_and_memory_books_give_identical_runs(tmp_path: Path) -> None:
    faults = FaultPlan([FaultWindow(T0, T0 + 5 * MINUTE, reject_rate=0.3, timeout_rate=0.2)])
    config = BrokerConfig(slippage_jitter_pct=0.2)

    def run(book: PaperBook) -> list[object]:
        clock = SimulatedClock(T0)
        broker = PaperBroker(config, clock, book, faults, seed=5)
        trace: list[object] = []
        for minute in range(8):
            clock.set(T0 + minute * MINUTE)
            for k in range(3):
                side = Side.BUY if (minute + k) % 3 else Side.SELL
                try:
                    trace.append(broker.place_order(request(f"m{minute}-{k}", side, 0.1)))
                except BrokerTimeoutError:
                    trace.append("timeout")
            trace.extend(broker.on_bar(bar(T0 + (minute + 1) * MINUTE, 100.0 + minute)))
        trace.append(broker.get_positions())
        trace.append(round(broker.get_balance(), 9))
        return trace

    with SqlitePaperBook(tmp_path) as book:
        durable = run(book)

    assert durable == run(InMemoryPaperBook())


def test_a_protected_market_order_keeps_its_collar_across_a_restart(tmp_path: Path) -> None:
    clock = SimulatedClock(T0)
    with SqlitePaperBook(tmp_path) as book:
        broker = PaperBroker(BrokerConfig(), clock, book)
        broker.place_order(replace(request("protected"), collar_price=101.0))

    with SqlitePaperBook(tmp_path) as book:
        stored = book.get_order("protected")
        broker = PaperBroker(BrokerConfig(), clock, book)
        fills = broker.on_bar(bar(T0 + MINUTE, open_=110.0))
        after = book.get_order("protected")

    assert stored is not None and stored.collar_price == 101.0
    assert fills == []
    assert after is not None and after.status is OrderStatus.CANCELLED
    assert "price collar" in after.reason


def test_a_version_1_book_gains_the_collar_column(tmp_path: Path) -> None:
    with SqlitePaperBook(tmp_path) as book:
        book.add_order(paper_order("old"))
        path = book.path
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE orders DROP COLUMN collar_price")
    db.execute("ALTER TABLE orders DROP COLUMN answered")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()

    with SqlitePaperBook(tmp_path) as book:
        old = book.get_order("old")

    assert old is not None and old.collar_price is None and old.limit_price == 120.5


def test_a_version_3_book_gains_the_answered_column_with_every_old_order_answered(
    tmp_path: Path,
) -> None:
    with SqlitePaperBook(tmp_path) as book:
        book.add_order(paper_order("old", OrderStatus.REJECTED))
        path = book.path
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE orders DROP COLUMN answered")
    db.execute("PRAGMA user_version = 3")
    db.commit()
    db.close()

    with SqlitePaperBook(tmp_path) as book:
        old = book.get_order("old")
        version = book._db.execute("PRAGMA user_version").fetchone()[0]

    assert version == SCHEMA_VERSION == 5
    assert old is not None and old.answered
    ack = old.view().ack
    assert ack is not None and ack.status is OrderStatus.REJECTED and ack.latency_ms == 20.0


def test_the_venue_keeps_the_answer_it_gave_and_that_a_timed_out_submit_got_none(
    tmp_path: Path,
) -> None:
    clock = SimulatedClock(T0)
    timeouts = FaultPlan((FaultWindow(T0 + MINUTE, T0 + 2 * MINUTE, timeout_rate=1.0),))
    config = BrokerConfig(timeout_executes_fraction=1.0, base_latency_ms=35.0)
    with SqlitePaperBook(tmp_path) as book:
        broker = PaperBroker(config, clock, book, timeouts)
        broker.place_order(request("answered"))
        broker.on_bar(bar(T0))
        clock.advance(MINUTE)
        with pytest.raises(BrokerTimeoutError):
            broker.place_order(request("timed-out"))
    with SqlitePaperBook(tmp_path) as book:
        filled = PaperBroker(config, clock, book).get_order("answered")
        unanswered = PaperBroker(config, clock, book).get_order("timed-out")

    # The answer as it was given (SUBMITTED, its latency), though the order filled since.
    assert filled is not None and filled.status is OrderStatus.FILLED
    assert filled.ack is not None
    assert (filled.ack.status, filled.ack.latency_ms) == (OrderStatus.SUBMITTED, 35.0)
    assert unanswered is not None and unanswered.status is OrderStatus.SUBMITTED
    assert unanswered.ack is None


def test_a_version_4_book_is_rebuilt_leaner_and_keeps_every_order_and_fill(
    tmp_path: Path,
) -> None:
    with SqlitePaperBook(tmp_path) as book:
        book.add_order(paper_order("done", OrderStatus.REJECTED))
        book.add_order(paper_order("filled"))
        book.add_order(paper_order("working"))
        filled = replace(paper_order("filled"), status=OrderStatus.FILLED, filled_quantity=0.5,
                         average_price=120.0)
        fill = Fill("filled-1", "filled", "BTC", Side.SELL, 0.5, 120.0, 0.06, T0 + MINUTE)
        book.book_bar(one_fill(filled, fill, 59.94, -0.5))
        path = book.path
    db = sqlite3.connect(path)
    before = {table: db.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
              for table in ("orders", "fills")}
    _make_version_4(db)
    db.close()

    with SqlitePaperBook(tmp_path) as book:
        pending = [order.client_order_id for order in book.pending_orders()]
        after = {table: book._db.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
                 for table in ("orders", "fills")}
        schema = " ".join(row[0] for row in book._db.execute(
            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL"))
        version = book._db.execute("PRAGMA user_version").fetchone()[0]
        book.add_order(paper_order("next"))
        seq = book._db.execute("SELECT seq FROM orders WHERE client_order_id = 'next'").fetchone()
        stray = Fill("stray-1", "never-booked", "BTC", Side.BUY, 1.0, 1.0, 0.0, T0 + MINUTE)
        with pytest.raises(StateError):  # the foreign key still refuses a fill of no order
            book.book_bar(one_fill(paper_order("never-booked"), stray, 0.0, 0.0))

    assert version == SCHEMA_VERSION == 5
    assert [tuple(row) for row in after["orders"]] == before["orders"]
    assert [tuple(row) for row in after["fills"]] == before["fills"]
    assert pending == ["working"]
    assert seq is not None and seq[0] == 4
    assert "orders_by_status" not in schema and "AUTOINCREMENT" not in schema
    assert "WITHOUT ROWID" in schema


def _make_version_4(db: sqlite3.Connection) -> None:
    """Turn a current book back into the version 4 layout, rows kept."""
    db.executescript("""
        PRAGMA foreign_keys = OFF;
        BEGIN;
        CREATE TABLE orders_v4 (seq INTEGER PRIMARY KEY AUTOINCREMENT,
            client_order_id TEXT NOT NULL UNIQUE, broker_order_id TEXT NOT NULL,
            symbol TEXT NOT NULL, side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
            quantity REAL NOT NULL, reference_price REAL NOT NULL, placed_at TEXT NOT NULL,
            status TEXT NOT NULL, latency_ms REAL NOT NULL, reduce_only INTEGER NOT NULL,
            limit_price REAL, reason TEXT NOT NULL, filled_quantity REAL NOT NULL,
            average_price REAL, collar_price REAL, answered INTEGER NOT NULL DEFAULT 1);
        INSERT INTO orders_v4 SELECT * FROM orders;
        DROP TABLE orders;
        ALTER TABLE orders_v4 RENAME TO orders;
        CREATE INDEX orders_by_status ON orders (status);
        CREATE TABLE fills_v4 (fill_id TEXT PRIMARY KEY,
            client_order_id TEXT NOT NULL REFERENCES orders (client_order_id),
            symbol TEXT NOT NULL, side TEXT NOT NULL, quantity REAL NOT NULL,
            price REAL NOT NULL, fee REAL NOT NULL, ts TEXT NOT NULL);
        INSERT INTO fills_v4 SELECT * FROM fills;
        DROP TABLE fills;
        ALTER TABLE fills_v4 RENAME TO fills;
        CREATE INDEX fills_by_order ON fills (client_order_id);
        CREATE INDEX fills_by_ts ON fills (ts);
        PRAGMA user_version = 4;
        COMMIT;
    """)
