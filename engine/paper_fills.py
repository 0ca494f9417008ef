"""The paper venue's fill rules: what one bar does to the orders pending on its symbol.

Pure: `FillRules.settle` reads the pending orders, the bar, cash and the symbol's position and
returns a `BarBooking` (trades and cancellations) for the book to write at once; nothing is
written or changed here. Each order sees the account as the orders before it on the bar left it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from engine.faults import FaultPlan
from engine.model import Bar, Fill, OrderStatus
from engine.paper_book import BarBooking, PaperOrder, PaperTrade, unit_draw

INSUFFICIENT_FUNDS = "insufficient funds"
NO_FILL_IN_COLLAR = "expired: no liquidity within the price collar"
_EPSILON = 1e-12


@dataclass(frozen=True, slots=True)
class FillRules:
    """Fees, slippage and the fault plan the paper venue fills with."""

    fee_pct: float
    slippage_pct: float
    slippage_jitter_pct: float
    faults: FaultPlan
    seed: int

    def settle(
        self, bar: Bar, pending: Iterable[PaperOrder], cash: float, position: float
    ) -> BarBooking:
        """Return what bar does to the pending orders of its symbol, in booking order."""
        account = _Account(cash, position)
        trades: list[PaperTrade] = []
        cancelled: list[PaperOrder] = []
        for order in pending:
            if order.placed_at > bar.ts:
                continue  # sent after this bar opened: it fills on a later bar
            outcome = self._execute(order, bar, account)
            if isinstance(outcome, PaperTrade):
                trades.append(outcome)
                account.apply(outcome)
            elif outcome is not None:
                cancelled.append(outcome)
        return BarBooking(bar.symbol, bar.ts, tuple(trades), tuple(cancelled))

    def _execute(
        self, order: PaperOrder, bar: Bar, account: _Account
    ) -> PaperTrade | PaperOrder | None:
        """Return the order's trade on bar, its cancellation, or None when it stays pending."""
        window = self.faults.active(bar.ts)
        slippage = self.slippage_pct + (window.slippage_pct if window else 0.0)
        if self.slippage_jitter_pct > 0:
            jitter = unit_draw(self.seed, order.client_order_id, "slippage_jitter")
            slippage += self.slippage_jitter_pct * jitter
        sign = order.side.sign
        price = bar.open * (1.0 + sign * slippage / 100.0)
        if order.limit_price is not None and sign * (price - order.limit_price) > 0:
            return None  # limit not reachable on this bar; stays pending
        collar = order.collar_price
        if collar is not None and sign * (price - collar) > 0:
            # A protected market order is a marketable limit at its collar, immediate or
            # cancel: nothing fills beyond it, the remainder (here all of it) is cancelled.
            return _cancelled(
                order, f"{NO_FILL_IN_COLLAR} (fill price {price:g}, collar {collar:g})"
            )
        position = account.position
        quantity = order.quantity
        reason = ""
        if order.reduce_only:
            reducible = max(-sign * position, 0.0)
            if reducible <= _EPSILON:
                return _cancelled(order, "reduce-only order has no position to reduce")
            if quantity > reducible:
                reason = f"reduce-only: clipped from {quantity} to {reducible}"
                quantity = reducible
        notional = quantity * price
        fee = notional * self.fee_pct / 100.0
        opening = not order.reduce_only and sign * position >= 0
        if opening and notional + fee > account.cash + _EPSILON:
            return _cancelled(order, f"{INSUFFICIENT_FUNDS} at fill")
        filled = order.ended(OrderStatus.FILLED, reason, quantity, price)
        fill = Fill(
            fill_id=f"{order.client_order_id}-1",
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            quantity=quantity,
            price=price,
            fee=fee,
            ts=bar.ts,
        )
        return PaperTrade(filled, fill, -sign * notional - fee, sign * quantity)


class _Account:
    """Cash and the bar symbol's position while a bar is settled, as the book will hold them."""

    __slots__ = ("_position", "cash")

    def __init__(self, cash: float, position: float) -> None:
        self.cash = cash
        self._position = position

    @property
    def position(self) -> float:
        """Return the position as the book reports it (a vanished one is 0)."""
        return self._position if abs(self._position) > _EPSILON else 0.0

    def apply(self, trade: PaperTrade) -> None:
        """Add a trade's effect, in the order the book adds it."""
        self.cash += trade.cash_delta
        self._position += trade.position_delta


def _cancelled(order: PaperOrder, reason: str) -> PaperOrder:
    return order.ended(OrderStatus.CANCELLED, reason, order.filled_quantity, order.average_price)
