"""Durable SQLite book of the paper venue (`engine.broker.PaperBook`).

The paper venue keeps its own file, separate from the engine's state store, so that after a
crash the engine reconciles against it exactly as it would against a real exchange. One file
per venue: `SqlitePaperBook(path)` opens `path` itself, or `path/paper_broker.sqlite` when path
is an existing directory. The file is created with mode 0600 (its directory 0700 when this
module creates it), WAL journal, synchronous=NORMAL (a power loss may drop the last commits but
never corrupts the file; an application crash loses nothing).

Schema (PRAGMA user_version = 1)::

    account   (id INTEGER PRIMARY KEY CHECK (id = 1), cash REAL NOT NULL)
    orders    (seq INTEGER PRIMARY KEY AUTOINCREMENT,      -- booking order
               client_order_id TEXT NOT NULL UNIQUE, broker_order_id TEXT NOT NULL,
               symbol TEXT NOT NULL, side TEXT NOT NULL,   -- 'BUY' | 'SELL'
               quantity REAL NOT NULL, reference_price REAL NOT NULL,
               placed_at TEXT NOT NULL,                    -- ISO-8601 UTC
               status TEXT NOT NULL,                       -- engine.model.OrderStatus value
               latency_ms REAL NOT NULL, reduce_only INTEGER NOT NULL, limit_price REAL,
               reason TEXT NOT NULL, filled_quantity REAL NOT NULL, average_price REAL)
    fills     (fill_id TEXT PRIMARY KEY, client_order_id TEXT NOT NULL REFERENCES orders,
               symbol TEXT NOT NULL, side TEXT NOT NULL, quantity REAL NOT NULL,
               price REAL NOT NULL, fee REAL NOT NULL, ts TEXT NOT NULL)
    positions (symbol TEXT PRIMARY KEY, quantity REAL NOT NULL)
    cursors   (symbol TEXT PRIMARY KEY, ts TEXT NOT NULL)  -- last bar processed per symbol

Every PaperBook method runs in one `BEGIN IMMEDIATE` transaction; `apply_fill` writes the fill,
the order update, cash and position together, and the fill_id primary key makes a second
booking of the same fill fail (and roll back) instead of double-counting.
"""

from __future__ import annotations

import os
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
from engine.model import Fill, OrderStatus, Side

FILENAME = "paper_broker.sqlite"
SCHEMA_VERSION = 1
_EPSILON = 1e-12

_SCHEMA = """
CREATE TABLE IF NOT EXISTS account (id INTEGER PRIMARY KEY CHECK (id = 1), cash REAL NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
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
CREATE INDEX IF NOT EXISTS orders_by_status ON orders (status);
CREATE TABLE IF NOT EXISTS fills (
    fill_id TEXT PRIMARY KEY,
    client_order_id TEXT NOT NULL REFERENCES orders (client_order_id),
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    quantity REAL NOT NULL,
    price REAL NOT NULL,
    fee REAL NOT NULL,
    ts TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS fills_by_order ON fills (client_order_id);
CREATE TABLE IF NOT EXISTS positions (symbol TEXT PRIMARY KEY, quantity REAL NOT NULL);
CREATE TABLE IF NOT EXISTS cursors (symbol TEXT PRIMARY KEY, ts TEXT NOT NULL);
"""

_ORDER_COLUMNS = (
    "client_order_id, broker_order_id, symbol, side, quantity, reference_price, placed_at, "
    "status, latency_ms, reduce_only, limit_price, reason, filled_quantity, average_price"
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


def _create_private(path: Path) -> None:
    """Create path with mode 0600 before SQLite opens it (its -wal/-shm inherit the mode)."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True)
    descriptor = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(descriptor)
    os.chmod(path, 0o600)


class SqlitePaperBook:
    """PaperBook in a SQLite file; thread-safe through one lock around one connection."""

    def __init__(self, path: Path | str) -> None:
        given = Path(path)
        self.path = given / FILENAME if given.is_dir() else given
        try:
            _create_private(self.path)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as e:
            message = f"cannot open paper book {self.path}: {e}"
            raise StateError(message) from e
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA busy_timeout=5000")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                message = (
                    f"paper book {self.path} has schema {version}, newer than this "
                    f"tradeguard ({SCHEMA_VERSION}): upgrade tradeguard"
                )
                raise StateError(message)
            with self._tx() as db:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.Error as e:
            self._db.close()
            message = f"cannot initialise paper book {self.path}: {e}"
            raise StateError(message) from e

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
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.IntegrityError as e:
                message = f"paper book {self.path}: refused duplicate or invalid record ({e})"
                raise StateError(message) from e
            except sqlite3.Error as e:
                message = f"paper book {self.path}: write failed ({e})"
                raise StateError(message) from e

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as e:
                message = f"paper book {self.path}: read failed ({e})"
                raise StateError(message) from e

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
        placeholders = ", ".join("?" * 14)
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
