"""The paper book's SQLite schema, its migrations and the row conversions.

Schema (PRAGMA user_version = 5; v2 added orders.collar_price, v3 the index fills_by_ts, v4
orders.answered, v5 rebuilt orders without AUTOINCREMENT and its status index, and fills
WITHOUT ROWID: fewer pages written per order)::

    account   (id INTEGER PRIMARY KEY CHECK (id = 1), cash REAL NOT NULL)
    orders    (seq INTEGER PRIMARY KEY,                    -- booking order
               client_order_id TEXT NOT NULL UNIQUE, broker_order_id TEXT NOT NULL,
               symbol TEXT NOT NULL, side TEXT NOT NULL,   -- 'BUY' | 'SELL'
               quantity REAL NOT NULL, reference_price REAL NOT NULL,
               placed_at TEXT NOT NULL,                    -- ISO-8601 UTC
               status TEXT NOT NULL,                       -- engine.model.OrderStatus value
               latency_ms REAL NOT NULL, reduce_only INTEGER NOT NULL, limit_price REAL,
               reason TEXT NOT NULL, filled_quantity REAL NOT NULL, average_price REAL,
               collar_price REAL,                          -- price protection, v2
               answered INTEGER NOT NULL DEFAULT 1)        -- 0: the submit timed out, v4
    fills     (fill_id TEXT PRIMARY KEY, client_order_id TEXT NOT NULL REFERENCES orders,
               symbol TEXT NOT NULL, side TEXT NOT NULL, quantity REAL NOT NULL,
               price REAL NOT NULL, fee REAL NOT NULL, ts TEXT NOT NULL)  WITHOUT ROWID, v5
    positions (symbol TEXT PRIMARY KEY, quantity REAL NOT NULL)
    cursors   (symbol TEXT PRIMARY KEY, ts TEXT NOT NULL)  -- last bar processed per symbol
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from engine.model import Fill, OrderStatus, Side
from engine.paper_book import PaperOrder
from tradeguard.store import sqlite_kit

FILENAME = "paper_broker.sqlite"

_SCHEMA = """
CREATE TABLE account (id INTEGER PRIMARY KEY CHECK (id = 1), cash REAL NOT NULL);
CREATE TABLE orders (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    client_order_id TEXT NOT NULL UNIQUE,
    broker_order_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
    quantity REAL NOT NULL,
    reference_price REAL NOT NULL,
    placed_at TEXT NOT NULL,
    status TEXT NOT NULL,
    latency_ms REAL NOT NULL,
    reduce_only INTEGER NOT NULL,
    limit_price REAL,
    reason TEXT NOT NULL,
    filled_quantity REAL NOT NULL,
    average_price REAL
);
CREATE INDEX orders_by_status ON orders (status);
CREATE TABLE fills (
    fill_id TEXT PRIMARY KEY,
    client_order_id TEXT NOT NULL REFERENCES orders (client_order_id),
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    quantity REAL NOT NULL,
    price REAL NOT NULL,
    fee REAL NOT NULL,
    ts TEXT NOT NULL
);
CREATE INDEX fills_by_order ON fills (client_order_id);
CREATE TABLE positions (symbol TEXT PRIMARY KEY, quantity REAL NOT NULL);
CREATE TABLE cursors (symbol TEXT PRIMARY KEY, ts TEXT NOT NULL);
"""

_ORDERS_V5 = """
CREATE TABLE orders_v5 (
    seq INTEGER PRIMARY KEY,
    client_order_id TEXT NOT NULL UNIQUE,
    broker_order_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
    quantity REAL NOT NULL,
    reference_price REAL NOT NULL,
    placed_at TEXT NOT NULL,
    status TEXT NOT NULL,
    latency_ms REAL NOT NULL,
    reduce_only INTEGER NOT NULL,
    limit_price REAL,
    reason TEXT NOT NULL,
    filled_quantity REAL NOT NULL,
    average_price REAL,
    collar_price REAL,
    answered INTEGER NOT NULL DEFAULT 1
);
"""
_FILLS_V5 = """
CREATE TABLE fills (
    fill_id TEXT PRIMARY KEY,
    client_order_id TEXT NOT NULL REFERENCES orders (client_order_id),
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    quantity REAL NOT NULL,
    price REAL NOT NULL,
    fee REAL NOT NULL,
    ts TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX fills_by_order ON fills (client_order_id);
CREATE INDEX fills_by_ts ON fills (ts);
"""

ORDER_COLUMNS = (
    "client_order_id, broker_order_id, symbol, side, quantity, reference_price, placed_at, "
    "status, latency_ms, reduce_only, limit_price, reason, filled_quantity, average_price, "
    "collar_price, answered"
)
FILL_COLUMNS = "fill_id, client_order_id, symbol, side, quantity, price, fee, ts"
INSERT_ORDER = (
    f"INSERT INTO orders ({ORDER_COLUMNS}) "
    f"VALUES ({', '.join('?' * len(ORDER_COLUMNS.split(',')))})"
)
INSERT_FILL = f"INSERT INTO fills ({FILL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
ADD_CASH = "UPDATE account SET cash = cash + ? WHERE id = 1"
ADD_POSITION = (
    "INSERT INTO positions (symbol, quantity) VALUES (?, ?) "
    "ON CONFLICT (symbol) DO UPDATE SET quantity = quantity + excluded.quantity"
)
SET_CURSOR = (
    "INSERT INTO cursors (symbol, ts) VALUES (?, ?) "
    "ON CONFLICT (symbol) DO UPDATE SET ts = excluded.ts"
)


def order_row(order: PaperOrder) -> tuple[Any, ...]:
    return (
        order.client_order_id,
        order.broker_order_id,
        order.symbol,
        order.side.value,
        order.quantity,
        order.reference_price,
        order.placed_at.isoformat(),
        order.status.value,
        order.latency_ms,
        int(order.reduce_only),
        order.limit_price,
        order.reason,
        order.filled_quantity,
        order.average_price,
        order.collar_price,
        int(order.answered),
    )


def fill_row(fill: Fill) -> tuple[Any, ...]:
    return (
        fill.fill_id,
        fill.client_order_id,
        fill.symbol,
        fill.side.value,
        fill.quantity,
        fill.price,
        fill.fee,
        fill.ts.isoformat(),
    )


def order_from(row: sqlite3.Row) -> PaperOrder:
    return PaperOrder(
        client_order_id=row["client_order_id"],
        broker_order_id=row["broker_order_id"],
        symbol=row["symbol"],
        side=Side(row["side"]),
        quantity=row["quantity"],
        reference_price=row["reference_price"],
        placed_at=datetime.fromisoformat(row["placed_at"]),
        status=OrderStatus(row["status"]),
        latency_ms=row["latency_ms"],
        reduce_only=bool(row["reduce_only"]),
        limit_price=row["limit_price"],
        reason=row["reason"],
        filled_quantity=row["filled_quantity"],
        average_price=row["average_price"],
        collar_price=row["collar_price"],
        answered=bool(row["answered"]),
    )


def fill_from(row: sqlite3.Row) -> Fill:
    return Fill(
        fill_id=row["fill_id"],
        client_order_id=row["client_order_id"],
        symbol=row["symbol"],
        side=Side(row["side"]),
        quantity=row["quantity"],
        price=row["price"],
        fee=row["fee"],
        ts=datetime.fromisoformat(row["ts"]),
    )


def _migrate_to_v1(conn: sqlite3.Connection) -> None:
    sqlite_kit.run_script(conn, _SCHEMA)


def _migrate_to_v2(conn: sqlite3.Connection) -> None:
    # A protected market order's collar (engine.model.OrderRequest.collar_price).
    conn.execute("ALTER TABLE orders ADD COLUMN collar_price REAL")


def _migrate_to_v3(conn: sqlite3.Connection) -> None:
    # fills_since (the venue sync at every start) reads fills by time.
    sqlite_kit.run_script(conn, "CREATE INDEX IF NOT EXISTS fills_by_ts ON fills (ts);")


def _migrate_to_v4(conn: sqlite3.Connection) -> None:
    # Whether the client saw the submission's answer: recovery replays an answer's effects
    # (engine.model.BrokerOrder.ack) only when there was one. Older orders were answered.
    conn.execute("ALTER TABLE orders ADD COLUMN answered INTEGER NOT NULL DEFAULT 1")


def _migrate_to_v5(conn: sqlite3.Connection) -> None:
    # Fewer pages written per order (each costs its commit a WAL frame): from ~14 to 11.
    # orders loses the status index (written when an order is booked and again when it is
    # settled, for one query at open that now scans the orders, as the mirror's load of
    # every client id already does) and AUTOINCREMENT (a sqlite_sequence page per order;
    # seq stays the booking order: no order row is ever deleted); fills keeps its rows in
    # the fill_id key (WITHOUT ROWID) instead of a table beside that key's index.
    # Rebuilt in this order so that no foreign key ever points at a missing order: the
    # fills are set aside unconstrained, both tables dropped, then rebuilt and refilled.
    sqlite_kit.run_script(conn, _ORDERS_V5)
    conn.execute(
        f"INSERT INTO orders_v5 (seq, {ORDER_COLUMNS}) SELECT seq, {ORDER_COLUMNS} FROM orders"
    )
    conn.execute(f"CREATE TABLE fills_v4 AS SELECT {FILL_COLUMNS} FROM fills")
    conn.execute("DROP TABLE fills")
    conn.execute("DROP TABLE orders")
    conn.execute("ALTER TABLE orders_v5 RENAME TO orders")
    sqlite_kit.run_script(conn, _FILLS_V5)
    conn.execute(f"INSERT INTO fills ({FILL_COLUMNS}) SELECT {FILL_COLUMNS} FROM fills_v4")
    conn.execute("DROP TABLE fills_v4")


# Append-only: migration i (0-based) moves a book from version i to version i + 1.
MIGRATIONS: tuple[sqlite_kit.Migration, ...] = (
    _migrate_to_v1, _migrate_to_v2, _migrate_to_v3, _migrate_to_v4, _migrate_to_v5
)
SCHEMA_VERSION = len(MIGRATIONS)
VERSION = sqlite_kit.UserVersion()
WHAT = "paper book"
