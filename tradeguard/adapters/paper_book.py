"""Durable SQLite book of the paper venue (`engine.broker.PaperBook`).

The paper venue keeps its own file, separate from the engine's state store, so that after a
crash the engine reconciles against it exactly as it would against a real exchange. One file
per venue: `SqlitePaperBook(path)` opens `path` itself, or `path/paper_broker.sqlite` when path
is an existing directory. File handling, PRAGMAs, schema versions and transactions are the state
store's own (`tradeguard.store.sqlite_kit`): the file is built under a temporary name and linked
into place with mode 0600 (directories tradeguard creates are 0700), WAL journal,
synchronous=NORMAL by default (a power loss may drop the last commits but never corrupts the
file; an application crash loses nothing).

Every PaperBook write runs in one `BEGIN IMMEDIATE` transaction: two per order, `add_order` when
the venue answers a submission (the row carries the answer) and `book_bar` when a bar settles it
(fills, order updates, cash, positions and the cursor together; the fill_id primary key makes a
second booking of the same fill fail and roll back instead of double-counting). The schema and
its migrations are `tradeguard.adapters.paper_book_schema`.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from engine.errors import StateError
from engine.model import BrokerOrder, Fill, OrderStatus
from engine.paper_book import BarBooking, PaperOrder
from tradeguard.adapters.paper_book_schema import (
    ADD_CASH,
    ADD_POSITION,
    FILENAME,
    FILL_COLUMNS,
    INSERT_FILL,
    INSERT_ORDER,
    MIGRATIONS,
    ORDER_COLUMNS,
    SCHEMA_VERSION,
    SET_CURSOR,
    VERSION,
    WHAT,
    fill_from,
    fill_row,
    order_from,
    order_row,
)
from tradeguard.store import files, sqlite_kit
from tradeguard.store.sqlite_kit import Durability

__all__ = ["FILENAME", "SCHEMA_VERSION", "SqlitePaperBook"]

_EPSILON = 1e-12
# A checkpoint syncs the file twice (WAL, then database) even with synchronous=NORMAL, and an
# order writes ~14 pages in its two commits: SQLite's default of 1000 pages checkpointed every
# ~70 orders, a wall-clock cost of ~0.1 ms per order on a 3 ms fsync. 8000 pages (~32 MiB of
# WAL) checkpoint every ~570 orders; what a commit makes durable against a kill is unchanged.
CHECKPOINT_PAGES = 8000


class SqlitePaperBook:
    """PaperBook in a SQLite file; thread-safe through one lock around one connection.

    What the venue asks on every order (is this client id booked, cash, positions) is answered
    from a mirror in memory, loaded at open and changed only after the transaction that wrote
    the change committed: a failed write leaves the mirror as the file. The book assumes it is
    the file's only writer (the state directory's lock).
    """

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
                self._db.execute(f"PRAGMA wal_autocheckpoint = {CHECKPOINT_PAGES}")
                self._migrate(self._db)
                self._db.row_factory = sqlite3.Row
                self._mirror = _Mirror.load(self._db, self.path)
        except BaseException:
            self._db.close()
            raise
        files.chmod_private(self.path)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        sqlite_kit.migrate(conn, MIGRATIONS, VERSION, str(self.path), WHAT)

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

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        # The caller holds self._lock, so the mirror changes with the commit, not between.
        return sqlite_kit.transaction(self._db, self.path, WHAT)

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock, sqlite_kit.translated(self.path, "reading", WHAT):
            rows: list[sqlite3.Row] = self._db.execute(sql, params).fetchall()
            return rows

    # -- PaperBook ----------------------------------------------------------------------------

    def initialize(self, starting_cash: float) -> None:
        """Set the cash of a new book; a book that already has a balance keeps it."""
        with self._lock:
            if self._mirror.cash is not None:
                return
            with self._tx() as db:
                db.execute(
                    "INSERT OR IGNORE INTO account (id, cash) VALUES (1, ?)", (starting_cash,)
                )
            self._mirror.cash = starting_cash

    def get_order(self, client_order_id: str) -> PaperOrder | None:
        """Return a booked order or None (an unknown id is answered without reading the file)."""
        if client_order_id not in self._mirror.ids:
            return None
        rows = self._read(
            f"SELECT {ORDER_COLUMNS} FROM orders WHERE client_order_id = ?", (client_order_id,)
        )
        return order_from(rows[0]) if rows else None

    def add_order(self, order: PaperOrder) -> None:
        """Book a new order with its answer; raise StateError if its client id is booked."""
        with self._lock:
            with self._tx() as db:
                db.execute(INSERT_ORDER, order_row(order))
            self._mirror.ids.add(order.client_order_id)

    def update_order(self, order: PaperOrder) -> None:
        """Replace a booked order's record."""
        with self._lock, self._tx() as db:
            _update(db, order)

    def book_bar(self, booking: BarBooking) -> None:
        """Record a bar's fills, order changes, cash, positions and cursor in one transaction."""
        with self._lock:
            with self._tx() as db:
                # One execute per row: a bar settles one order or two, where executemany's
                # argument lists cost more than they save.
                for trade in booking.trades:
                    db.execute(INSERT_FILL, fill_row(trade.fill))
                    db.execute(ADD_CASH, (trade.cash_delta,))
                    db.execute(ADD_POSITION, (trade.fill.symbol, trade.position_delta))
                    _update(db, trade.order)
                for order in booking.cancelled:
                    _update(db, order)
                db.execute(SET_CURSOR, (booking.symbol, booking.ts.isoformat()))
            self._mirror.apply(booking)

    def pending_orders(self) -> list[PaperOrder]:
        """Return orders still SUBMITTED, in booking order."""
        rows = self._read(
            f"SELECT {ORDER_COLUMNS} FROM orders WHERE status = ? ORDER BY seq",
            (OrderStatus.SUBMITTED.value,),
        )
        return [order_from(row) for row in rows]

    def fills_for(self, client_order_id: str) -> list[Fill]:
        """Return the fills of one order."""
        rows = self._read(
            f"SELECT {FILL_COLUMNS} FROM fills WHERE client_order_id = ? ORDER BY ts, fill_id",
            (client_order_id,),
        )
        return [fill_from(row) for row in rows]

    # -- VenueLedger (engine.venue_sync) ------------------------------------------------------

    def fills_since(self, since: datetime | None) -> list[Fill]:
        """Return every fill at or after since (all when None), oldest first."""
        if since is None:
            rows = self._read(f"SELECT {FILL_COLUMNS} FROM fills ORDER BY ts, fill_id")
        else:
            rows = self._read(
                f"SELECT {FILL_COLUMNS} FROM fills WHERE ts >= ? ORDER BY ts, fill_id",
                (since.isoformat(),),
            )
        return [fill_from(row) for row in rows]

    def open_orders(self) -> list[BrokerOrder]:
        """Return the orders still working at the venue, in booking order."""
        return [order.view() for order in self.pending_orders()]

    def positions(self) -> dict[str, float]:
        """Return non-zero positions by symbol."""
        with self._lock:
            return {s: q for s, q in sorted(self._mirror.positions.items()) if abs(q) > _EPSILON}

    def position(self, symbol: str) -> float:
        """Return the booked quantity of symbol as summed, not rounded to 0 (0 if never traded)."""
        with self._lock:
            return self._mirror.positions.get(symbol, 0.0)

    def order_ids(self) -> frozenset[str]:
        """Return the client ids of every order the book ever booked."""
        with self._lock:
            return frozenset(self._mirror.ids)

    def cash(self) -> float:
        """Return the cash balance (0 before initialize)."""
        with self._lock:
            return 0.0 if self._mirror.cash is None else self._mirror.cash

    def cursors(self) -> dict[str, datetime]:
        """Return the last processed bar time per symbol."""
        rows = self._read("SELECT symbol, ts FROM cursors")
        return {row["symbol"]: datetime.fromisoformat(row["ts"]) for row in rows}


@dataclass
class _Mirror:
    """What the book's file holds that the venue asks on every order, as of the last commit."""

    ids: set[str]
    cash: float | None
    positions: dict[str, float]

    @classmethod
    def load(cls, db: sqlite3.Connection, path: Path) -> _Mirror:
        """Read the mirror from the file (once, at open); refuse a balance that is no number."""
        ids = {row[0] for row in db.execute("SELECT client_order_id FROM orders")}
        account = db.execute("SELECT cash FROM account WHERE id = 1").fetchone()
        positions = {
            row[0]: _amount(row[1], f"position {row[0]!r}", path)
            for row in db.execute("SELECT symbol, quantity FROM positions")
        }
        cash = None if account is None else _amount(account[0], "cash", path)
        return cls(ids, cash, positions)

    def apply(self, booking: BarBooking) -> None:
        """Add a committed bar's effect, in the order the transaction added it."""
        for trade in booking.trades:
            if self.cash is not None:  # as UPDATE account: no row, nothing to add to
                self.cash += trade.cash_delta
            symbol = trade.fill.symbol
            self.positions[symbol] = self.positions.get(symbol, 0.0) + trade.position_delta


def _amount(value: Any, what: str, path: Path) -> float:
    """Return a booked amount; text, a blob or a non-finite number means the file was altered.

    Every order is answered from these amounts: a NaN or text balance would be traded on.
    """
    if type(value) in (int, float) and math.isfinite(value):
        return float(value)
    raise files.corrupted(path, f"{what} is {value!r}, not the finite number it books", WHAT)


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
