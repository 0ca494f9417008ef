"""Translate ccxt's unified order and trade structures into the engine's values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from engine.model import BrokerOrder, Fill, OrderStatus, Side

__all__ = ["order_view", "trade_fill"]

_OPEN = "open"
_CLOSED = "closed"


def order_view(client_order_id: str, raw: dict[str, Any]) -> BrokerOrder:
    """Return the engine's view of a ccxt order.

    A partly filled order the venue ended (IOC remainder expired, venue-side cancel) counts as
    FILLED for its filled quantity, so the executed part is booked, never lost.
    """
    status_text = str(raw.get("status") or "")
    filled = float(raw.get("filled") or 0.0)
    amount = float(raw.get("amount") or 0.0)
    reason = ""
    if status_text == _OPEN:
        status = OrderStatus.SUBMITTED
    elif status_text == _CLOSED:
        status = OrderStatus.FILLED
    elif status_text in ("canceled", "expired") and filled > 0:
        status = OrderStatus.FILLED
        reason = f"partially filled {filled:g} of {amount:g}, rest {status_text} by the venue"
    elif status_text in ("canceled", "expired"):
        status = OrderStatus.CANCELLED
        reason = f"{status_text} by the venue without a fill"
    else:
        status = OrderStatus.REJECTED
        reason = f"venue status {status_text or 'missing'}"
    average = raw.get("average")
    return BrokerOrder(
        client_order_id=client_order_id,
        broker_order_id=str(raw.get("id") or ""),
        symbol=str(raw.get("symbol") or ""),
        side=Side.BUY if raw.get("side") == "buy" else Side.SELL,
        quantity=amount,
        status=status,
        filled_quantity=filled,
        average_price=None if average is None else float(average),
        reason=reason,
    )


def _fee_in_quote(trade: dict[str, Any], symbol: str, price: float) -> float:
    fee = trade.get("fee") or {}
    cost = float(fee.get("cost") or 0.0)
    currency = fee.get("currency")
    base, _, quote = symbol.partition("/")
    if not cost or currency in (None, quote.split(":")[0]):
        return cost
    if currency == base:
        return cost * price
    return 0.0  # paid in a third asset (e.g. BNB): not part of this symbol's cash


def trade_fill(client_order_id: str, fill_id: str, symbol: str,
               trade: dict[str, Any]) -> Fill | None:
    """Return the Fill of one venue trade (None for a trade without quantity)."""
    quantity = float(trade.get("amount") or 0.0)
    if quantity <= 0:
        return None
    price = float(trade.get("price") or 0.0)
    return Fill(
        fill_id=fill_id,
        client_order_id=client_order_id,
        symbol=symbol,
        side=Side.BUY if trade.get("side") == "buy" else Side.SELL,
        quantity=quantity,
        price=price,
        fee=_fee_in_quote(trade, symbol, price),
        ts=datetime.fromtimestamp(int(trade.get("timestamp") or 0) / 1000, UTC),
    )
