"""The engine's ledger: cash, positions with average price, realized and unrealized P&L.

Accounting: cash moves by -signed_quantity * price - fee on every fill. A fill in the direction
of the position (or from flat) adds at a quantity-weighted average price; an opposite fill first
closes up to the open quantity, realizing (price - average) * closed * direction, and any
remainder opens a new position at the fill price (flip through zero). The fee of a fill is charged
in full to that fill's realized P&L, so apply_fill returns realized P&L net of fee and, at all
times, cash + sum(quantity * mark) == starting_cash + realized (net) + unrealized.

A quantity left within 1e-12 (relative to the quantities involved) of zero after a fill is
snapped to exactly 0 so float dust never looks like an open position.

Marks: `mark()` sets the last price per symbol; a fill sets the mark only when the symbol has
none yet, so unrealized P&L and equity are always defined for held symbols.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from engine.errors import StateError
from engine.model import Fill
from engine.ports import PositionRecord

_DUST: Final = 1e-12
_INF: Final = math.inf


def average_cost_step(
    old_qty: float, old_avg: float, signed: float, price: float
) -> tuple[float, float, float, float]:
    """Apply one signed fill at price to a position; return (qty, avg, closed, gross P&L).

    The one average-cost rule of tradeguard: the engine's ledger and the analytics ledger
    (tradeguard/analytics/ledger.py) both use it, so their P&L agree to the last bit.
    """
    quantity = abs(signed)
    new_qty = old_qty + signed
    if abs(new_qty) <= _DUST * max(abs(old_qty), quantity):
        new_qty = 0.0
    if old_qty == 0.0 or (old_qty > 0) == (signed > 0):
        return new_qty, (old_qty * old_avg + signed * price) / new_qty, 0.0, 0.0
    closed = min(abs(old_qty), quantity)
    gross = closed * (price - old_avg) * (1.0 if old_qty > 0 else -1.0)
    if new_qty == 0.0:
        new_avg = 0.0
    elif (new_qty > 0) == (old_qty > 0):
        new_avg = old_avg
    else:
        new_avg = price
    return new_qty, new_avg, closed, gross


@dataclass(frozen=True, slots=True)
class Position:
    """One symbol's holding: signed quantity, average entry price, realized P&L net of fees."""

    symbol: str
    quantity: float = 0.0
    average_price: float = 0.0
    realized_pnl: float = 0.0


def _finite_number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        message = f"portfolio snapshot: {name} must be a finite number, got {value!r}"
        raise StateError(message)
    return float(value)


class Portfolio:
    """Cash and per-symbol positions updated by broker fills."""

    def __init__(self, starting_cash: float) -> None:
        if not math.isfinite(starting_cash):
            message = f"starting_cash must be a finite number, got {starting_cash}"
            raise ValueError(message)
        self._starting_cash = float(starting_cash)
        self._cash = float(starting_cash)
        self._positions: dict[str, Position] = {}
        self._marks: dict[str, float] = {}

    @property
    def starting_cash(self) -> float:
        """Return the cash the ledger started with."""
        return self._starting_cash

    @property
    def cash(self) -> float:
        """Return current cash after all fills and fees."""
        return self._cash

    def apply_fill(self, fill: Fill) -> float:
        """Book a fill and return its realized P&L net of its fee."""
        quantity, price, fee = fill.quantity, fill.price, fill.fee
        if not (math.isfinite(quantity) and quantity > 0):
            message = f"fill {fill.fill_id}: quantity must be positive, got {quantity}"
            raise ValueError(message)
        if not (math.isfinite(price) and price > 0):
            message = f"fill {fill.fill_id}: price must be positive, got {price}"
            raise ValueError(message)
        if not math.isfinite(fee):
            message = f"fill {fill.fill_id}: fee must be a finite number, got {fee}"
            raise ValueError(message)
        signed = fill.side.sign * quantity
        held = self._positions.get(fill.symbol) or Position(fill.symbol)
        new_qty, new_avg, _closed, gross = average_cost_step(
            held.quantity, held.average_price, signed, price
        )
        realized = gross - fee
        self._positions[fill.symbol] = Position(
            held.symbol, new_qty, new_avg, held.realized_pnl + realized
        )
        self._cash -= signed * price + fee
        self._marks.setdefault(fill.symbol, price)
        return realized

    def position(self, symbol: str) -> float:
        """Return the signed quantity held in symbol (0.0 when none)."""
        held = self._positions.get(symbol)
        return 0.0 if held is None else held.quantity

    def positions(self) -> dict[str, Position]:
        """Return every symbol ever traded with its position (a copy)."""
        return dict(self._positions)

    def mark(self, symbol: str, price: float) -> None:
        """Set the last price of symbol, used for unrealized P&L and equity."""
        if not (math.isfinite(price) and price > 0):
            message = f"mark price for {symbol} must be positive, got {price}"
            raise ValueError(message)
        self._marks[symbol] = price

    def revalue(self, symbol: str, price: float) -> float:
        """Set the mark of symbol (as mark does) and return the equity at the new marks."""
        if not 0.0 < price < _INF:  # NaN fails both comparisons: the same refusal as mark
            message = f"mark price for {symbol} must be positive, got {price}"
            raise ValueError(message)
        marks = self._marks
        marks[symbol] = price
        value = self._cash
        positions = self._positions
        if positions:  # never traded: no loop to set up (this runs on every bar)
            for held in positions.values():
                if held.quantity != 0.0:
                    value += held.quantity * marks.get(held.symbol, held.average_price)
        return value

    def last_price(self, symbol: str) -> float | None:
        """Return the last mark of symbol, or None when it was never marked or filled."""
        return self._marks.get(symbol)

    def unrealized_pnl(self, symbol: str | None = None) -> float:
        """Return open P&L at the marks, for one symbol or the whole book."""
        if symbol is not None:
            held = self._positions.get(symbol)
            return 0.0 if held is None else self._open_pnl(held)
        return sum(self._open_pnl(held) for held in self._positions.values())

    def realized_pnl(self, symbol: str | None = None) -> float:
        """Return realized P&L net of fees, for one symbol or the whole book."""
        if symbol is not None:
            held = self._positions.get(symbol)
            return 0.0 if held is None else held.realized_pnl
        return sum(held.realized_pnl for held in self._positions.values())

    def _open_pnl(self, held: Position) -> float:
        if held.quantity == 0.0:
            return 0.0
        mark = self._marks.get(held.symbol, held.average_price)
        return held.quantity * (mark - held.average_price)

    def equity(self) -> float:
        """Return cash plus every position valued at its mark."""
        value = self._cash
        for held in self._positions.values():
            if held.quantity != 0.0:
                value += held.quantity * self._marks.get(held.symbol, held.average_price)
        return value

    def position_records(self, now: datetime) -> list[PositionRecord]:
        """Return the ledger rows to persist, stamped now."""
        return [
            PositionRecord(p.symbol, p.quantity, p.average_price, p.realized_pnl, now)
            for p in self._positions.values()
        ]

    def snapshot(self) -> dict[str, Any]:
        """Return the ledger, JSON-ready."""
        return {
            "starting_cash": self._starting_cash,
            "cash": self._cash,
            "positions": {
                p.symbol: {
                    "quantity": p.quantity,
                    "average_price": p.average_price,
                    "realized_pnl": p.realized_pnl,
                }
                for p in self._positions.values()
            },
            "marks": dict(self._marks),
        }

    @classmethod
    def from_snapshot(cls, snapshot: dict[str, Any]) -> Portfolio:
        """Rebuild a ledger exactly from snapshot(); raise StateError when unreadable."""
        try:
            portfolio = cls(_finite_number(snapshot["starting_cash"], "starting_cash"))
            portfolio._cash = _finite_number(snapshot["cash"], "cash")
            for symbol, row in snapshot["positions"].items():
                portfolio._positions[symbol] = Position(
                    symbol,
                    _finite_number(row["quantity"], f"{symbol}.quantity"),
                    _finite_number(row["average_price"], f"{symbol}.average_price"),
                    _finite_number(row["realized_pnl"], f"{symbol}.realized_pnl"),
                )
            for symbol, price in snapshot["marks"].items():
                portfolio._marks[symbol] = _finite_number(price, f"marks.{symbol}")
        except (KeyError, TypeError, AttributeError) as e:
            message = f"portfolio snapshot is unreadable: {type(e).__name__}: {e}"
            raise StateError(message) from e
        return portfolio
