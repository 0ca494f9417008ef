"""Durable SQLite book of the paper venue (`engine.broker.PaperBook`).

The paper venue keeps its own file, separate from the engine's state store, so that after a
crash the engine reconciles against it exactly as it would against a real exchange. One file
per venue: `SqlitePaperBook(path)` opens `path` itself, or `path/paper_broker.sqlite` when path
is an existing directory. File handling, PRAGMAs, schema versions and transactions are the state
store's own (`tradeguard.store.sqlite_kit`): the file is built under a temporary name and linked
into place with mode 0600 (directories tradeguard creates are 0700), WAL journal,
synchronous=NORMAL by default (a power loss may drop the last commits but never corrupts the
file; an application crash loses nothing).

Schema (PRAGMA user_version = 4; v2 added orders.collar_price, v3 the index fills_by_ts, v4
orders.answered)::

    account   (id INTEGER PRIMARY KEY CHECK (id = 1), cash REAL NOT NULL)
    orders    (seq INTEGER PRIMARY KEY AUTOINCREMENT,      -- booking order
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
               price REAL NOT NULL, fee REAL NOT NULL, ts TEXT NOT NULL)
    positions (symbol TEXT PRIMARY KEY, quantity REAL NOT NULL)
    cursors   (symbol TEXT PRIMARY KEY, ts TEXT NOT NULL)  -- last bar processed per symbol

Every PaperBook write runs in one `BEGIN IMMEDIATE` transaction; `apply_fill` writes the fill,
the order update, cash and position together, and the fill_id primary key makes a second
booking of the same fill fail (and roll back) instead of double-counting.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from engine.broker import PaperOrder
from engine.errors import StateError
from engine.model import BrokerOrder, Fill, OrderStatus, Side
from tradeguard.store import files, sqlite_kit
from tradeguard.store.sqlite_kit import Durability

FILENAME = "paper_broker.sqlite"
_EPSILON = 1e-12

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

_ORDER_COLUMNS = (
    "client_order_id, broker_order_id, symbol, side, quantity, reference_price, placed_at, "
    "status, latency_ms, reduce_only, limit_price, reason, filled_quantity, average_price, "
    "collar_price, answered"
)
_FILL_COLUMNS = "fill_id, client_order_id, symbol, side, quantity, price, fee, ts"


def _order_row(order: PaperOrder) -> tuple[Any, ...]:
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


def _order_from(row: sqlite3.Row) -> PaperOrder:
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


def _fill_from(row: sqlite3.Row) -> Fill:
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


# Append-only: migration i (0-based) moves a book from version i to version i + 1.
MIGRATIONS: tuple[sqlite_kit.Migration, ...] = (
    _migrate_to_v1, _migrate_to_v2, _migrate_to_v3, _migrate_to_v4
)
SCHEMA_VERSION = len(MIGRATIONS)
_VERSION = sqlite_kit.UserVersion()
WHAT = "paper book"


class SqlitePaperBook:
    """PaperBook in a SQLite file; thread-safe through one lock around one connection."""

    def __init__(self, path: Path | str, durability: Durability = "kill9") -> None:
        given = Path(path)
        self.path = given / FILENAME if given.is_dir() else given
        # A state directory is ours to lock down; a caller-chosen parent (e.g. /tmp) is not.
        if given.is_dir() or not self.path.parent.exists():
            files.ensure_private_dir(self.path.parent)
        if self.path.exists():
            files.check_header(self.path, WHAT)
        else:
            sqlite_kit.create_database(self.path, self._migrate, WHAT)
        self._db = sqlite_kit.connect(self.path, WHAT)
        self._lock = threading.Lock()
        try:
            with sqlite_kit.translated(self.path, "opening", WHAT):
                sqlite_kit.set_pragmas(self._db, self.path, durability, WHAT)
                self._migrate(self._db)
        except BaseException:
            self._db.close()
            raise
        files.chmod_private(self.path)
        self._db.row_factory = sqlite3.Row

    def _migrate(self, conn: sqlite3.Connection) -> None:
        sqlite_kit.migrate(conn, MIGRATIONS, _VERSION, str(self.path), WHAT)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> SqlitePaperBook:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock, sqlite_kit.transaction(self._db, self.path, WHAT) as db:
            yield db

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock, sqlite_kit.translated(self.path, "reading", WHAT):
            rows: list[sqlite3.Row] = self._db.execute(sql, params).fetchall()
            return rows

    # -- PaperBook ----------------------------------------------------------------------------

    def initialize(self, starting_cash: float) -> None:
        """Set the cash of a new book; a book that already has a balance keeps it."""
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO account (id, cash) VALUES (1, ?)", (starting_cash,))

    def get_order(self, client_order_id: str) -> PaperOrder | None:
        """Return a booked order or None."""
        rows = self._read(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE client_order_id = ?", (client_order_id,)
        )
        return _order_from(rows[0]) if rows else None

    def add_order(self, order: PaperOrder) -> None:
        """Book a new order; raise StateError if its client id is already booked."""
        placeholders = ", ".join("?" * len(_ORDER_COLUMNS.split(",")))
        with self._tx() as db:
            db.execute(
                f"INSERT INTO orders ({_ORDER_COLUMNS}) VALUES ({placeholders})",
                _order_row(order),
            )

    def update_order(self, order: PaperOrder) -> None:
        """Replace a booked order's record."""
        with self._tx() as db:
            self._update(db, order)

    @staticmethod
    def _update(db: sqlite3.Connection, order: PaperOrder) -> None:
        cursor = db.execute(
            "UPDATE orders SET status = ?, reason = ?, filled_quantity = ?, average_price = ? "
            "WHERE client_order_id = ?",
            (
                order.status.value,
                order.reason,
                order.filled_quantity,
                order.average_price,
                order.client_order_id,
            ),
        )
        if cursor.rowcount != 1:
            message = f"paper order {order.client_order_id} is not booked"
            raise StateError(message)

    def apply_fill(
        self, order: PaperOrder, fill: Fill, cash_delta: float, position_delta: float
    ) -> None:
        """Record fill, update order, cash and position in one transaction."""
        with self._tx() as db:
            db.execute(
                f"INSERT INTO fills ({_FILL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    fill.fill_id,
                    fill.client_order_id,
                    fill.symbol,
                    fill.side.value,
                    fill.quantity,
                    fill.price,
                    fill.fee,
                    fill.ts.isoformat(),
                ),
            )
            self._update(db, order)
            db.execute("UPDATE account SET cash = cash + ? WHERE id = 1", (cash_delta,))
            db.execute(
                "INSERT INTO positions (symbol, quantity) VALUES (?, ?) "
                "ON CONFLICT (symbol) DO UPDATE SET quantity = quantity + excluded.quantity",
                (fill.symbol, position_delta),
            )

    def pending_orders(self) -> list[PaperOrder]:
        """Return orders still SUBMITTED, in booking order."""
        rows = self._read(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE status = ? ORDER BY seq",
            (OrderStatus.SUBMITTED.value,),
        )
        return [_order_from(row) for row in rows]

    def fills_for(self, client_order_id: str) -> list[Fill]:
        """Return the fills of one order."""
        rows = self._read(
            f"SELECT {_FILL_COLUMNS} FROM fills WHERE client_order_id = ? ORDER BY ts, fill_id",
            (client_order_id,),
        )
        return [_fill_from(row) for row in rows]

    # -- VenueLedger (engine.venue_sync) ------------------------------------------------------

    def fills_since(self, since: datetime | None) -> list[Fill]:
        """Return every fill at or after since (all when None), oldest first."""
        if since is None:
            rows = self._read(f"SELECT {_FILL_COLUMNS} FROM fills ORDER BY ts, fill_id")
        else:
            rows = self._read(
                f"SELECT {_FILL_COLUMNS} FROM fills WHERE ts >= ? ORDER BY ts, fill_id",
                (since.isoformat(),),
            )
        return [_fill_from(row) for row in rows]

    def open_orders(self) -> list[BrokerOrder]:
        """Return the orders still working at the venue, in booking order."""
        return [order.view() for order in self.pending_orders()]

    def positions(self) -> dict[str, float]:
        """Return non-zero positions by symbol."""
        rows = self._read("SELECT symbol, quantity FROM positions ORDER BY symbol")
        return {row["symbol"]: row["quantity"] for row in rows if abs(row["quantity"]) > _EPSILON}

    def cash(self) -> float:
        """Return the cash balance (0 before initialize)."""
        rows = self._read("SELECT cash FROM account WHERE id = 1")
        return float(rows[0]["cash"]) if rows else 0.0

    def cursors(self) -> dict[str, datetime]:
        """Return the last processed bar time per symbol."""
        rows = self._read("SELECT symbol, ts FROM cursors")
        return {row["symbol"]: datetime.fromisoformat(row["ts"]) for row in rows}

    def set_cursor(self, symbol: str, ts: datetime) -> None:
        """Record that bars of symbol up to ts are processed."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO cursors (symbol, ts) VALUES (?, ?) "
                "ON CONFLICT (symbol) DO UPDATE SET ts = excluded.ts",
                (symbol, ts.isoformat()),
            )
