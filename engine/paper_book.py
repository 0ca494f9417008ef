"""The paper venue's records: booked orders, the durable book protocol, an in-memory book.

The venue writes its book at two moments per order: when it answers a submission (`add_order`,
the order row with its answer) and when a bar settles it (`book_bar`: the bar's fills,
cancellations, cash, positions and the symbol's cursor at once). Both happen before the client
sees the answer or the fill, so whatever the venue answered survives a kill -9.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from engine.errors import StateError
from engine.model import BrokerAck, BrokerOrder, Fill, OrderStatus, Side

_EPSILON = 1e-12


@dataclass(frozen=True, slots=True)
class PaperOrder:
    """One order as the paper venue books it."""

    client_order_id: str
    broker_order_id: str
    symbol: str
    side: Side
    quantity: float
    reference_price: float
    placed_at: datetime
    status: OrderStatus
    latency_ms: float
    reduce_only: bool = False
    limit_price: float | None = None
    reason: str = ""
    filled_quantity: float = 0.0
    average_price: float | None = None
    collar_price: float | None = None
    answered: bool = True  # False: the submit timed out, the client never saw an answer

    def ended(
        self, status: OrderStatus, reason: str, filled_quantity: float,
        average_price: float | None,
    ) -> PaperOrder:
        """Return this order with a new status, reason and fill (FILLED or CANCELLED)."""
        # Every field given: a constructor call, several times cheaper than replace().
        return PaperOrder(
            client_order_id=self.client_order_id,
            broker_order_id=self.broker_order_id,
            symbol=self.symbol,
            side=self.side,
            quantity=self.quantity,
            reference_price=self.reference_price,
            placed_at=self.placed_at,
            status=status,
            latency_ms=self.latency_ms,
            reduce_only=self.reduce_only,
            limit_price=self.limit_price,
            reason=reason,
            filled_quantity=filled_quantity,
            average_price=average_price,
            collar_price=self.collar_price,
            answered=self.answered,
        )

    def ack(self) -> BrokerAck:
        """Return the acknowledgement this order would be given now (a repeated submit)."""
        return BrokerAck(
            self.client_order_id, self.status, self.broker_order_id, self.latency_ms, self.reason
        )

    def first_ack(self) -> BrokerAck | None:
        """Return the answer the submission was given (None when it timed out).

        The paper venue rejects only at submission, so a rejected order was answered
        REJECTED with its reason; any other order was answered SUBMITTED.
        """
        if not self.answered:
            return None
        if self.status is OrderStatus.REJECTED:
            return self.ack()
        return BrokerAck(
            self.client_order_id, OrderStatus.SUBMITTED, self.broker_order_id, self.latency_ms
        )

    def view(self) -> BrokerOrder:
        """Return the client-facing view of the order."""
        return BrokerOrder(
            self.client_order_id, self.broker_order_id, self.symbol, self.side, self.quantity,
            self.status, self.filled_quantity, self.average_price, self.reason,
            self.first_ack(),
        )


@dataclass(frozen=True, slots=True)
class PaperTrade:
    """One fill as the venue books it: the order after it and its effect on the account."""

    order: PaperOrder
    fill: Fill
    cash_delta: float
    position_delta: float


@dataclass(frozen=True, slots=True)
class BarBooking:
    """What one bar did at the venue: its fills and cancellations, in booking order."""

    symbol: str
    ts: datetime
    trades: tuple[PaperTrade, ...] = ()
    cancelled: tuple[PaperOrder, ...] = ()


class PaperBook(Protocol):
    """The paper venue's own durable book; each method is one atomic operation."""

    def initialize(self, starting_cash: float) -> None:
        """Set the cash of a new book; a book that already has a balance keeps it."""

    def get_order(self, client_order_id: str) -> PaperOrder | None:
        """Return a booked order or None."""

    def add_order(self, order: PaperOrder) -> None:
        """Book a new order; raise StateError if its client id is already booked."""

    def update_order(self, order: PaperOrder) -> None:
        """Replace a booked order's record (status change without a fill)."""

    def book_bar(self, booking: BarBooking) -> None:
        """Record a bar's fills, order changes, cash, positions and cursor in one atomic step.

        A fill_id is stored once: a booking repeating one changes nothing and raises StateError.
        """

    def pending_orders(self) -> list[PaperOrder]:
        """Return orders still SUBMITTED, in booking order."""

    def fills_for(self, client_order_id: str) -> list[Fill]:
        """Return the fills of one order."""

    def positions(self) -> dict[str, float]:
        """Return non-zero positions by symbol."""

    def position(self, symbol: str) -> float:
        """Return the booked quantity of symbol as summed, not rounded to 0 (0 if never traded)."""

    def cash(self) -> float:
        """Return the cash balance."""

    def cursors(self) -> dict[str, datetime]:
        """Return the last processed bar time per symbol."""


class InMemoryPaperBook:
    """PaperBook held in memory: for unit tests and throwaway replays."""

    def __init__(self) -> None:
        self.orders: dict[str, PaperOrder] = {}
        self.fills: dict[str, Fill] = {}
        self.position_book: dict[str, float] = {}
        self.cursor_book: dict[str, datetime] = {}
        self.balance: float | None = None

    def initialize(self, starting_cash: float) -> None:
        """Set the cash of a new book; a book that already has a balance keeps it."""
        if self.balance is None:
            self.balance = starting_cash

    def get_order(self, client_order_id: str) -> PaperOrder | None:
        """Return a booked order or None."""
        return self.orders.get(client_order_id)

    def add_order(self, order: PaperOrder) -> None:
        """Book a new order; raise StateError if its client id is already booked."""
        if order.client_order_id in self.orders:
            message = f"paper order {order.client_order_id} is already booked"
            raise StateError(message)
        self.orders[order.client_order_id] = order

    def update_order(self, order: PaperOrder) -> None:
        """Replace a booked order's record."""
        self.orders[order.client_order_id] = order

    def book_bar(self, booking: BarBooking) -> None:
        """Record a bar's fills, order changes, cash, positions and cursor together."""
        for trade in booking.trades:
            if trade.fill.fill_id in self.fills:
                message = f"fill {trade.fill.fill_id} is already booked"
                raise StateError(message)
        for trade in booking.trades:
            self.fills[trade.fill.fill_id] = trade.fill
            self.orders[trade.order.client_order_id] = trade.order
            self.balance = self.cash() + trade.cash_delta
            quantity = self.position_book.get(trade.fill.symbol, 0.0) + trade.position_delta
            self.position_book[trade.fill.symbol] = quantity
        for order in booking.cancelled:
            self.orders[order.client_order_id] = order
        self.cursor_book[booking.symbol] = booking.ts

    def pending_orders(self) -> list[PaperOrder]:
        """Return orders still SUBMITTED, in booking order."""
        return [o for o in self.orders.values() if o.status is OrderStatus.SUBMITTED]

    def fills_for(self, client_order_id: str) -> list[Fill]:
        """Return the fills of one order."""
        return [f for f in self.fills.values() if f.client_order_id == client_order_id]

    def positions(self) -> dict[str, float]:
        """Return non-zero positions by symbol."""
        return {s: q for s, q in self.position_book.items() if abs(q) > _EPSILON}

    def position(self, symbol: str) -> float:
        """Return the booked quantity of symbol as summed, not rounded to 0 (0 if never traded)."""
        return self.position_book.get(symbol, 0.0)

    def cash(self) -> float:
        """Return the cash balance (0 before initialize)."""
        return 0.0 if self.balance is None else self.balance

    def cursors(self) -> dict[str, datetime]:
        """Return the last processed bar time per symbol."""
        return dict(self.cursor_book)


def unit_draw(seed: int, client_order_id: str, purpose: str) -> float:
    """Return a uniform number in [0, 1) determined by (seed, client_order_id, purpose)."""
    key = f"{seed}\x1f{client_order_id}\x1f{purpose}".encode()
    digest = hashlib.blake2b(key, digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64
