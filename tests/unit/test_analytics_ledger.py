"""The analytics ledger books every fill exactly as the engine's Portfolio does."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.model import Fill, Side
from engine.portfolio import Portfolio
from tradeguard.analytics.ledger import Holding, book_chunk

AT = datetime(2022, 1, 21, tzinfo=UTC)

fills = st.lists(
    st.tuples(
        st.sampled_from(["BTC-PERP", "ETH-USD"]),
        st.sampled_from(["BUY", "SELL"]),
        st.sampled_from([0.01, 0.02, 0.03, 0.5, 1.0]),
        st.floats(100.0, 50_000.0),
        st.floats(0.0, 5.0),
    ),
    min_size=1,
    max_size=80,
)


@given(rows=fills, split=st.integers(0, 80))
@settings(max_examples=200, deadline=None)
def test_ledger_realized_pnl_and_positions_match_the_portfolio(
    rows: list[tuple[str, str, float, float, float]], split: int
) -> None:
    portfolio = Portfolio(100_000.0)
    expected = [
        portfolio.apply_fill(Fill(f"f{i}", f"o{i}", sym, Side(side), qty, price, fee, AT))
        for i, (sym, side, qty, price, fee) in enumerate(rows)
    ]
    table = pa.table({
        "symbol": [r[0] for r in rows], "side": [r[1] for r in rows],
        "quantity": [r[2] for r in rows], "price": [r[3] for r in rows],
        "fee": [r[4] for r in rows],
    })
    holdings: dict[str, Holding] = {}
    # Two refreshes: the second continues from the holdings the first left behind.
    first = book_chunk(table.slice(0, split), holdings)
    second = book_chunk(table.slice(split), holdings)
    realized = first.column("realized_pnl").to_pylist() + second.column("realized_pnl").to_pylist()
    assert realized == expected
    for symbol, position in portfolio.positions().items():
        assert holdings[symbol].quantity == position.quantity
        assert holdings[symbol].average_price == position.average_price
