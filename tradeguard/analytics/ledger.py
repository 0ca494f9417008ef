"""Average-cost ledger over journaled fills: realized P&L per fill, as engine/portfolio.py does."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa  # type: ignore[import-untyped]

from engine.portfolio import average_cost_step


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
    new_qty, new_avg, closed, gross = average_cost_step(
        held.quantity, held.average_price, signed, price
    )
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
        signed = quantity if side == "BUY" else -quantity
        new_qty, new_avg, closed, gross = average_cost_step(held[0], held[1], signed, price)
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
