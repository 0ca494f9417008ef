"""Portfolio ledger: average-price accounting, fees, marks, equity conservation, snapshots."""

from __future__ import annotations

import itertools
import json
import math
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import StateError
from engine.model import Fill, Side
from engine.portfolio import Portfolio, Position
from engine.ports import PositionRecord

T0 = datetime(2024, 1, 2, 12, 0, tzinfo=UTC)
_ids = itertools.count()


def fill(side: Side, quantity: float, price: float, fee: float = 0.0, symbol: str = "BTC") -> Fill:
    n = next(_ids)
    return Fill(f"f{n}", f"c{n}", symbol, side, quantity, price, fee, T0)


def test_opening_a_long_sets_average_price_and_moves_cash() -> None:
    book = Portfolio(10_000.0)
    realized = book.apply_fill(fill(Side.BUY, 2.0, 100.0, fee=1.0))
    assert realized == -1.0
    assert book.positions()["BTC"] == Position("BTC", 2.0, 100.0, -1.0)
    assert book.cash == 10_000.0 - 200.0 - 1.0
    assert book.position("BTC") == 2.0 and book.position("ETH") == 0.0


def test_adding_to_a_long_uses_the_quantity_weighted_average() -> None:
    book = Portfolio(10_000.0)
    book.apply_fill(fill(Side.BUY, 1.0, 100.0))
    assert book.apply_fill(fill(Side.BUY, 3.0, 120.0)) == 0.0
    assert book.positions()["BTC"].average_price == pytest.approx(115.0)


def test_reducing_a_long_realizes_on_the_closed_part_and_keeps_the_average() -> None:
    book = Portfolio(10_000.0)
    book.apply_fill(fill(Side.BUY, 2.0, 100.0))
    realized = book.apply_fill(fill(Side.SELL, 0.5, 110.0, fee=0.25))
    assert realized == pytest.approx(0.5 * 10.0 - 0.25)
    held = book.positions()["BTC"]
    assert (held.quantity, held.average_price) == (1.5, 100.0)


def test_closing_a_short_at_a_lower_price_realizes_a_profit_and_goes_flat() -> None:
    book = Portfolio(10_000.0)
    book.apply_fill(fill(Side.SELL, 1.0, 100.0))
    assert book.position("BTC") == -1.0
    realized = book.apply_fill(fill(Side.BUY, 1.0, 90.0, fee=0.5))
    assert realized == pytest.approx(9.5)
    assert book.positions()["BTC"] == Position("BTC", 0.0, 0.0, pytest.approx(9.5))
    assert book.cash == pytest.approx(10_000.0 + 9.5)


def test_flipping_through_zero_realizes_the_old_side_and_opens_at_the_fill_price() -> None:
    book = Portfolio(10_000.0)
    book.apply_fill(fill(Side.BUY, 1.0, 100.0))
    realized = book.apply_fill(fill(Side.SELL, 3.0, 95.0, fee=0.3))
    assert realized == pytest.approx(-5.0 - 0.3)
    held = book.positions()["BTC"]
    assert held.quantity == pytest.approx(-2.0) and held.average_price == 95.0


def test_float_dust_after_closing_is_snapped_to_exactly_flat() -> None:
    book = Portfolio(1_000.0)
    book.apply_fill(fill(Side.BUY, 0.1, 100.0))
    book.apply_fill(fill(Side.BUY, 0.2, 100.0))
    assert 0.1 + 0.2 - 0.3 != 0.0  # precondition: naive arithmetic leaves dust
    book.apply_fill(fill(Side.SELL, 0.3, 101.0))
    assert book.position("BTC") == 0.0
    assert book.positions()["BTC"].average_price == 0.0
    assert book.unrealized_pnl() == 0.0


def test_marks_drive_unrealized_pnl_and_equity() -> None:
    book = Portfolio(10_000.0)
    book.apply_fill(fill(Side.BUY, 2.0, 100.0))
    book.apply_fill(fill(Side.SELL, 1.0, 50.0, symbol="ETH"))
    book.mark("BTC", 110.0)
    book.mark("ETH", 55.0)
    assert book.unrealized_pnl("BTC") == pytest.approx(20.0)
    assert book.unrealized_pnl("ETH") == pytest.approx(-5.0)
    assert book.unrealized_pnl() == pytest.approx(15.0)
    assert book.equity() == pytest.approx(10_000.0 + 15.0)
    assert book.last_price("BTC") == 110.0 and book.last_price("SOL") is None


def test_a_fill_marks_only_symbols_that_have_no_mark_yet() -> None:
    book = Portfolio(1_000.0)
    book.apply_fill(fill(Side.BUY, 1.0, 100.0))
    assert book.last_price("BTC") == 100.0
    book.mark("BTC", 104.0)
    book.apply_fill(fill(Side.BUY, 1.0, 103.0))
    assert book.last_price("BTC") == 104.0


@pytest.mark.parametrize(
    ("quantity", "price", "fee"),
    [(0.0, 100.0, 0.0), (-1.0, 100.0, 0.0), (math.nan, 100.0, 0.0), (1.0, 0.0, 0.0),
     (1.0, math.inf, 0.0), (1.0, 100.0, math.nan)],
)
def test_unusable_fill_is_refused_and_leaves_the_ledger_unchanged(
    quantity: float, price: float, fee: float
) -> None:
    book = Portfolio(1_000.0)
    before = book.snapshot()
    with pytest.raises(ValueError, match="fill f"):
        book.apply_fill(fill(Side.BUY, quantity, price, fee))
    assert book.snapshot() == before


@pytest.mark.parametrize("price", [0.0, -1.0, math.nan])
def test_unusable_mark_is_refused(price: float) -> None:
    with pytest.raises(ValueError, match="BTC"):
        Portfolio(1_000.0).mark("BTC", price)


def test_position_records_stamp_every_traded_symbol() -> None:
    book = Portfolio(1_000.0)
    book.apply_fill(fill(Side.BUY, 1.0, 100.0))
    book.apply_fill(fill(Side.SELL, 2.0, 10.0, symbol="ETH"))
    records = sorted(book.position_records(T0), key=lambda r: r.symbol)
    assert records == [
        PositionRecord("BTC", 1.0, 100.0, 0.0, T0),
        PositionRecord("ETH", -2.0, 10.0, 0.0, T0),
    ]


def test_snapshot_through_json_rebuilds_the_ledger_exactly() -> None:
    book = Portfolio(10_000.0)
    book.apply_fill(fill(Side.BUY, 0.3, 41_234.5, fee=0.137))
    book.apply_fill(fill(Side.SELL, 0.1, 41_300.25, fee=0.05))
    book.apply_fill(fill(Side.SELL, 1.7, 2_900.1, fee=0.2, symbol="ETH"))
    book.mark("BTC", 41_111.0)
    restored = Portfolio.from_snapshot(json.loads(json.dumps(book.snapshot())))
    assert restored.snapshot() == book.snapshot()
    assert restored.positions() == book.positions()
    assert (restored.cash, restored.equity(), restored.unrealized_pnl()) == (
        book.cash, book.equity(), book.unrealized_pnl()
    )
    assert restored.starting_cash == 10_000.0


@pytest.mark.parametrize(
    "broken",
    [
        {},
        {"starting_cash": 1.0, "cash": "x", "positions": {}, "marks": {}},
        {"starting_cash": 1.0, "cash": 1.0, "positions": {"BTC": {"quantity": 1.0}}, "marks": {}},
        {"starting_cash": 1.0, "cash": 1.0, "positions": [], "marks": {}},
        {"starting_cash": 1.0, "cash": 1.0, "positions": {}, "marks": {"BTC": math.nan}},
    ],
)
def test_unreadable_snapshot_raises_state_error(broken: dict[str, object]) -> None:
    with pytest.raises(StateError):
        Portfolio.from_snapshot(broken)


_fills = st.lists(
    st.tuples(
        st.sampled_from([Side.BUY, Side.SELL]),
        st.floats(0.001, 5.0),
        st.floats(10.0, 1000.0),
        st.floats(0.0, 2.0),
        st.sampled_from(["BTC", "ETH"]),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(_fills, st.floats(10.0, 1000.0))
def test_equity_equals_start_plus_realized_plus_unrealized(
    fills: list[tuple[Side, float, float, float, str]], mark: float
) -> None:
    book = Portfolio(50_000.0)
    total_realized = 0.0
    for side, quantity, price, fee, symbol in fills:
        total_realized += book.apply_fill(fill(side, quantity, price, fee, symbol))
    for symbol in ("BTC", "ETH"):
        book.mark(symbol, mark)
    expected = book.starting_cash + total_realized + book.unrealized_pnl()
    assert book.equity() == pytest.approx(expected, rel=1e-9, abs=1e-6)
    assert book.realized_pnl() == pytest.approx(total_realized, rel=1e-9, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(_fills)
def test_trading_at_the_mark_only_costs_fees(
    fills: list[tuple[Side, float, float, float, str]],
) -> None:
    book = Portfolio(50_000.0)
    for side, quantity, price, fee, symbol in fills:
        book.mark(symbol, price)
        before = book.equity()
        book.apply_fill(fill(side, quantity, price, fee, symbol))
        assert book.equity() == pytest.approx(before - fee, rel=1e-12, abs=1e-6)
    assert book.equity() == pytest.approx(
        book.starting_cash + book.realized_pnl() + book.unrealized_pnl(), rel=1e-9, abs=1e-6
    )
