"""Average-cost ledger over journaled fills: realized P&L per fill, as engine/portfolio.py does."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa  # type: ignore[import-untyped]

_DUST = 1e-12


@dataclass
class Holding:
    """A symbol's running position while fills are replayed."""

    quantity: float = 0.0
    average_price: float = 0.0


@dataclass(frozen=True)
class Booked:
    """What one fill did to its symbol's position."""

    signed_quantity: float
    closed_quantity: float
    gross_pnl: float
    realized_pnl: float
    position_after: float
    average_price_after: float


def book(held: Holding, side: str, quantity: float, price: float, fee: float) -> Booked:
    """Apply one fill to held (in place) and return its effect; fee is charged to the fill."""
    signed = quantity if side == "BUY" else -quantity
    old_qty, old_avg = held.quantity, held.average_price
    new_qty = old_qty + signed
    if abs(new_qty) <= _DUST * max(abs(old_qty), quantity):
        new_qty = 0.0
    gross, closed = 0.0, 0.0
    if old_qty == 0.0 or (old_qty > 0) == (signed > 0):
        new_avg = (old_qty * old_avg + signed * price) / new_qty
    else:
        closed = min(abs(old_qty), quantity)
        gross = closed * (price - old_avg) * (1.0 if old_qty > 0 else -1.0)
        if new_qty == 0.0:
            new_avg = 0.0
        elif (new_qty > 0) == (old_qty > 0):
            new_avg = old_avg
        else:
            new_avg = price
    held.quantity, held.average_price = new_qty, new_avg
    return Booked(signed, closed, gross, gross - fee, new_qty, new_avg)


def book_chunk(chunk: pa.Table, holdings: dict[str, Holding]) -> pa.Table:
    """Return chunk (trades in id order) with the ledger columns appended; updates holdings."""
    # The hot loop of a refresh (about 1 s per million fills): plain locals, no objects per fill.
    state = {s: [h.quantity, h.average_price] for s, h in holdings.items()}
    signed_l: list[float] = []
    closed_l: list[float] = []
    gross_l: list[float] = []
    realized_l: list[float] = []
    after_l: list[float] = []
    average_l: list[float] = []
    for symbol, side, quantity, price, fee in zip(
        chunk.column("symbol").to_pylist(),
        chunk.column("side").to_pylist(),
        chunk.column("quantity").to_pylist(),
        chunk.column("price").to_pylist(),
        chunk.column("fee").to_pylist(),
        strict=True,
    ):
        held = state.get(symbol)
        if held is None:
            held = state[symbol] = [0.0, 0.0]
        old_qty, old_avg = held
        signed = quantity if side == "BUY" else -quantity
        new_qty = old_qty + signed
        if abs(new_qty) <= _DUST * max(abs(old_qty), quantity):
            new_qty = 0.0
        gross = closed = 0.0
        if old_qty == 0.0 or (old_qty > 0) == (signed > 0):
            new_avg = (old_qty * old_avg + signed * price) / new_qty
        else:
            closed = min(abs(old_qty), quantity)
            gross = closed * (price - old_avg) * (1.0 if old_qty > 0 else -1.0)
            if new_qty == 0.0:
                new_avg = 0.0
            elif (new_qty > 0) == (old_qty > 0):
                new_avg = old_avg
            else:
                new_avg = price
        held[0], held[1] = new_qty, new_avg
        signed_l.append(signed)
        closed_l.append(closed)
        gross_l.append(gross)
        realized_l.append(gross - fee)
        after_l.append(new_qty)
        average_l.append(new_avg)
    for symbol, (quantity, average) in state.items():
        holdings[symbol] = Holding(quantity, average)
    for name, values in zip(
        Booked.__dataclass_fields__,
        (signed_l, closed_l, gross_l, realized_l, after_l, average_l),
        strict=True,
    ):
        chunk = chunk.append_column(name, pa.array(values, type=pa.float64()))
    return chunk
