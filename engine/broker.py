"""The broker port and the paper venue used for replays, paper trading and fault drills.

`PaperBroker` keeps its own durable book (`PaperBook`), separate from the engine's journal, so
that after a crash the engine can reconcile against the venue exactly as it would against a
real exchange. Orders fill at the open of the first bar of their symbol that starts at or after
the time they were placed, adjusted adversely by slippage. A market order with a collar price
(price protection) fills only at or inside it; otherwise the venue cancels it at fill time, as
it cancels an opening order the cash no longer covers and a reduce-only order with nothing to
reduce: the client learns it through get_order, like at a real venue (the fill rules are
`engine.paper_fills`). Every random draw is a hash of (seed, client_order_id, purpose), so a
restarted process gets the same outcome for the same order and a run is reproducible under a
seed. The book is written once when the venue answers a submission and once per bar that
settles orders, each before the client sees the answer or the fill.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from engine.broker_config import BrokerConfig
from engine.clock import Clock
from engine.errors import BrokerTimeoutError, BrokerUnavailableError
from engine.faults import FaultPlan, FaultWindow
from engine.model import Bar, BrokerAck, BrokerOrder, Fill, OrderRequest, OrderStatus, Side
from engine.paper_book import InMemoryPaperBook, PaperBook, PaperOrder, unit_draw
from engine.paper_fills import INSUFFICIENT_FUNDS, NO_FILL_IN_COLLAR, FillRules

__all__ = [
    "INSUFFICIENT_FUNDS",
    "NO_FILL_IN_COLLAR",
    "Broker",
    "BrokerConfig",
    "InMemoryPaperBook",
    "PaperBook",
    "PaperBroker",
    "PaperOrder",
    "unit_draw",
]

log = logging.getLogger(__name__)

_EPSILON = 1e-12
_REJECTED = OrderStatus.REJECTED


class Broker(Protocol):
    """What the engine needs from a venue; calls but poll_fills may raise BrokerUnavailableError."""

    def place_order(self, order: OrderRequest) -> BrokerAck:
        """Send an order; raise BrokerTimeoutError when no ack arrives (state unknown)."""

    def cancel_order(self, client_order_id: str) -> BrokerAck:
        """Cancel a pending order and return the venue's answer."""

    def get_order(self, client_order_id: str) -> BrokerOrder | None:
        """Return the venue's view of an order; None means the venue confirms it never existed."""

    def get_fills(self, client_order_id: str) -> list[Fill]:
        """Return every fill of one order."""

    def get_positions(self) -> dict[str, float]:
        """Return non-zero positions by symbol."""

    def get_balance(self) -> float:
        """Return free cash."""

    def poll_fills(self) -> list[Fill]:
        """Return fills since the previous poll in this process (dedupe by fill_id).

        An unreachable venue returns no fills rather than raising; after a restart the engine
        recovers earlier fills through get_order/get_fills.
        """


class PaperBroker:
    """Simulated venue: books orders, fills them on later bars, injects planned faults."""

    # True when no order rests and no fill waits to be polled (kept by _note_quiet).
    quiet: bool

    def __init__(
        self,
        config: BrokerConfig,
        clock: Clock,
        book: PaperBook,
        faults: FaultPlan | None = None,
        seed: int = 0,
    ) -> None:
        self._config = config
        self._clock = clock
        self._book = book
        self._faults = faults if faults is not None else FaultPlan()
        self._seed = seed
        self._rules = FillRules(
            config.fee_pct, config.slippage_pct, config.slippage_jitter_pct, self._faults, seed
        )
        book.initialize(config.starting_cash)
        self._pending: dict[str, dict[str, PaperOrder]] = {}
        for order in book.pending_orders():
            self._pending.setdefault(order.symbol, {})[order.client_order_id] = order
        self._cursors: dict[str, datetime] = book.cursors()
        self._unpolled: list[Fill] = []
        self._announced: set[datetime] = set()
        self._note_quiet()

    # -- client calls -------------------------------------------------------------------------

    def place_order(self, order: OrderRequest) -> BrokerAck:
        """Book an order (idempotent per client id) or reject it; faults apply at clock.now()."""
        now = self._clock.now()
        window = self._reachable(now, "place_order")
        cid = order.client_order_id
        existing = self._book.get_order(cid)
        if existing is not None:
            return existing.ack()
        latency = self._latency(window)
        invalid = _invalid_reason(order)
        if invalid:
            return self._book_new(order, now, latency, _REJECTED, invalid).ack()
        if window is None:
            return self._accept(order, now, latency)  # no fault window: nothing to draw
        if window.unfunded:
            return self._book_new(order, now, latency, _REJECTED, INSUFFICIENT_FUNDS).ack()
        draw = unit_draw(self._seed, cid, "outcome")
        if draw < window.reject_rate:
            reason = "rejected by venue (injected fault)"
            return self._book_new(order, now, latency, _REJECTED, reason).ack()
        if draw < window.reject_rate + window.timeout_rate:
            reached = (
                unit_draw(self._seed, cid, "timeout_reached")
                < self._config.timeout_executes_fraction
            )
            if reached:
                self._accept(order, now, latency, answered=False)
            log.debug("paper_order_timeout cid=%s reached_venue=%s", cid, reached)
            message = f"no acknowledgement for order {cid}: it may or may not have executed"
            raise BrokerTimeoutError(message)
        return self._accept(order, now, latency)

    def cancel_order(self, client_order_id: str) -> BrokerAck:
        """Cancel a pending order; a final or unknown order is reported as it is."""
        window = self._reachable(self._clock.now(), "cancel_order")
        latency = self._latency(window)
        order = self._book.get_order(client_order_id)
        if order is None:
            return BrokerAck(client_order_id, OrderStatus.REJECTED, None, latency, "unknown order")
        if order.status.is_final:
            reason = f"order already {order.status.value}"
            return BrokerAck(
                client_order_id, order.status, order.broker_order_id, latency, reason
            )
        cancelled = replace(order, status=OrderStatus.CANCELLED, reason="cancelled by client")
        self._book.update_order(cancelled)
        self._pending.get(order.symbol, {}).pop(client_order_id, None)
        self._note_quiet()
        return BrokerAck(
            client_order_id, OrderStatus.CANCELLED, order.broker_order_id, latency, cancelled.reason
        )

    def get_order(self, client_order_id: str) -> BrokerOrder | None:
        """Return the venue's view of an order, or None when it was never booked."""
        self._reachable(self._clock.now(), "get_order")
        order = self._book.get_order(client_order_id)
        return None if order is None else order.view()

    def get_fills(self, client_order_id: str) -> list[Fill]:
        """Return every fill of one order."""
        self._reachable(self._clock.now(), "get_fills")
        return self._book.fills_for(client_order_id)

    def get_positions(self) -> dict[str, float]:
        """Return non-zero positions by symbol."""
        self._reachable(self._clock.now(), "get_positions")
        return self._book.positions()

    def get_balance(self) -> float:
        """Return free cash."""
        self._reachable(self._clock.now(), "get_balance")
        return self._book.cash()

    def poll_fills(self) -> list[Fill]:
        """Return fills booked since the previous poll; none during an outage (held back)."""
        if not self._unpolled:
            return []
        window = self._faults.active(self._clock.now())
        if window is not None and window.outage:
            return []  # like a dropped fill stream: delivered once the venue is reachable again
        fills, self._unpolled = self._unpolled, []
        self._note_quiet()
        return fills

    # -- venue side ---------------------------------------------------------------------------

    def _note_quiet(self) -> None:
        """Set `quiet`: True when no order rests and no fill waits (on_bar, poll_fills yield none).

        The session reads it on every bar, so it is a plain attribute (a property costs a
        call per bar), set again after every change of the resting orders or unpolled fills.
        """
        pending = self._pending  # symbol -> resting orders; emptied per symbol, not removed
        self.quiet = not self._unpolled and not (pending and any(pending.values()))

    def on_bar(self, bar: Bar) -> list[Fill]:
        """Fill pending orders of the bar symbol at its open; idempotent per (symbol, ts).

        The bar's fills and cancellations are booked in one write, together with the symbol's
        cursor; this venue's memory (pending orders, cursor, unpolled fills) changes only once
        that write succeeded, so a failed write leaves memory as the book on disk.
        """
        cursor = self._cursors.get(bar.symbol)
        if cursor is not None and bar.ts <= cursor:
            return []
        pending = self._pending.get(bar.symbol)
        if not pending:
            self._cursors[bar.symbol] = bar.ts
            return []
        booking = self._rules.settle(
            bar, pending.values(), self._book.cash(), self._book.position(bar.symbol)
        )
        self._book.book_bar(booking)
        self._cursors[bar.symbol] = bar.ts
        for trade in booking.trades:
            del pending[trade.order.client_order_id]
        for gone in booking.cancelled:
            del pending[gone.client_order_id]
            log.debug("paper_order_cancelled cid=%s reason=%s", gone.client_order_id, gone.reason)
        fills = [trade.fill for trade in booking.trades]
        self._unpolled.extend(fills)
        self._note_quiet()
        return fills

    # -- helpers ------------------------------------------------------------------------------

    def _reachable(self, now: datetime, call: str) -> FaultWindow | None:
        window = self._faults.active(now)
        if window is None:
            return None
        if window.start not in self._announced:
            self._announced.add(window.start)
            log.warning("fault_window_active %s", window.describe())
        if window.outage:
            message = f"paper broker unreachable during {call} (injected outage until {window.end})"
            raise BrokerUnavailableError(message)
        return window

    def _latency(self, window: FaultWindow | None) -> float:
        return self._config.base_latency_ms + (window.latency_ms if window else 0.0)

    def _accept(
        self, order: OrderRequest, now: datetime, latency: float, answered: bool = True
    ) -> BrokerAck:
        if self._lacks_funds(order):
            return self._book_new(
                order, now, latency, _REJECTED, INSUFFICIENT_FUNDS, answered
            ).ack()
        booked = self._book_new(order, now, latency, OrderStatus.SUBMITTED, "", answered)
        self._pending.setdefault(order.symbol, {})[order.client_order_id] = booked
        self._note_quiet()
        return booked.ack()

    def _book_new(
        self, order: OrderRequest, now: datetime, latency: float, status: OrderStatus,
        reason: str, answered: bool = True,
    ) -> PaperOrder:
        booked = PaperOrder(
            client_order_id=order.client_order_id,
            broker_order_id=f"paper-{order.client_order_id}",
            symbol=order.symbol,
            side=order.side,
            quantity=order.quantity,
            reference_price=order.reference_price,
            placed_at=now,
            status=status,
            latency_ms=latency,
            reduce_only=order.reduce_only,
            limit_price=order.limit_price,
            reason=reason,
            collar_price=order.collar_price,
            answered=answered,
        )
        self._book.add_order(booked)
        if status is OrderStatus.REJECTED:
            log.debug("paper_order_rejected cid=%s reason=%s", order.client_order_id, reason)
        return booked

    def _lacks_funds(self, order: OrderRequest) -> bool:
        """Return True when an exposure-increasing order costs more than unreserved cash."""
        if order.reduce_only:
            return False
        position = self._book.position(order.symbol)
        if abs(position) <= _EPSILON:
            position = 0.0  # as positions() reports it: dust is no position
        if order.side.sign * position < 0:
            return False  # closes (part of) a position: never refused for funds
        fee_factor = 1.0 + self._config.fee_pct / 100.0
        reserved = sum(
            o.quantity * (o.limit_price or o.reference_price) * fee_factor
            for orders in self._pending.values()
            for o in orders.values()
            if o.side is Side.BUY and not o.reduce_only
        )
        price = order.limit_price or order.reference_price
        return order.quantity * price * fee_factor > self._book.cash() - reserved + _EPSILON


def _invalid_reason(order: OrderRequest) -> str:
    if not (math.isfinite(order.quantity) and order.quantity > 0):
        return f"invalid quantity {order.quantity}"
    if not (math.isfinite(order.reference_price) and order.reference_price > 0):
        return f"invalid reference price {order.reference_price}"
    for name, price in (("limit", order.limit_price), ("collar", order.collar_price)):
        if price is not None and not (math.isfinite(price) and price > 0):
            return f"invalid {name} price {price}"
    return ""
