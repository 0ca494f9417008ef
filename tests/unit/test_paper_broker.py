"""Paper venue: fills, fees, slippage, fault windows, determinism and restart invariance."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from engine.broker import (
    INSUFFICIENT_FUNDS,
    BrokerConfig,
    InMemoryPaperBook,
    PaperBook,
    PaperBroker,
    unit_draw,
)
from engine.clock import SimulatedClock
from engine.errors import BrokerTimeoutError, BrokerUnavailableError
from engine.faults import FaultPlan, FaultWindow
from engine.model import Bar, OrderRequest, OrderStatus, Side

T0 = datetime(2022, 1, 21, 10, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def bar(ts: datetime, open_: float = 100.0, symbol: str = "BTC") -> Bar:
    return Bar(symbol, ts, open_, open_ * 1.02, open_ * 0.98, open_, 5.0)


def order(
    cid: str,
    side: Side = Side.BUY,
    quantity: float = 1.0,
    price: float = 100.0,
    symbol: str = "BTC",
    reduce_only: bool = False,
    limit_price: float | None = None,
) -> OrderRequest:
    return OrderRequest(cid, symbol, side, quantity, price, T0, reduce_only, limit_price)


def venue(
    *,
    windows: tuple[FaultWindow, ...] = (),
    seed: int = 0,
    book: PaperBook | None = None,
    clock: SimulatedClock | None = None,
    **config: Any,
) -> tuple[PaperBroker, SimulatedClock, PaperBook]:
    clock = clock or SimulatedClock(T0)
    book = book if book is not None else InMemoryPaperBook()
    broker = PaperBroker(BrokerConfig(**config), clock, book, FaultPlan(windows), seed=seed)
    return broker, clock, book


def window(minutes: int = 10, **fields: Any) -> FaultWindow:
    return FaultWindow(T0, T0 + timedelta(minutes=minutes), **fields)


def outcome(broker: PaperBroker, request: OrderRequest) -> tuple[str, str]:
    try:
        ack = broker.place_order(request)
    except BrokerTimeoutError:
        return ("timeout", "")
    return (ack.status.value, ack.reason)


# -- fills ------------------------------------------------------------------------------------


def test_buy_fills_at_next_bar_open_with_adverse_slippage_and_fee() -> None:
    broker, _, _ = venue(slippage_pct=0.1, fee_pct=0.05, starting_cash=10_000)

    ack = broker.place_order(order("b1", quantity=2.0))
    broker.on_bar(bar(T0, open_=250.0))

    assert ack.status is OrderStatus.SUBMITTED and ack.broker_order_id
    (fill,) = broker.poll_fills()
    expected_price = 250.0 * (1 + 0.1 / 100)
    assert fill.price == pytest.approx(expected_price)
    assert fill.price > 250.0
    assert fill.fee == pytest.approx(2.0 * expected_price * 0.05 / 100)
    assert (fill.fill_id, fill.ts, fill.quantity) == ("b1-1", T0, 2.0)
    assert broker.get_balance() == pytest.approx(10_000 - 2.0 * expected_price - fill.fee)
    assert broker.get_positions() == {"BTC": 2.0}
    view = broker.get_order("b1")
    assert view is not None and view.status is OrderStatus.FILLED
    assert view.filled_quantity == 2.0 and view.average_price == pytest.approx(expected_price)
    assert broker.get_fills("b1") == [fill]
    assert broker.poll_fills() == []


def test_sell_fills_below_the_open_and_credits_cash_minus_fee() -> None:
    broker, _, _ = venue(slippage_pct=0.2, fee_pct=0.1)
    broker.place_order(order("b1", quantity=1.0))
    broker.on_bar(bar(T0, open_=100.0))
    cash_after_buy = broker.get_balance()

    broker.place_order(order("s1", side=Side.SELL, quantity=1.0))
    broker.on_bar(bar(T0 + MINUTE, open_=110.0))

    sell = broker.get_fills("s1")[0]
    assert sell.price == pytest.approx(110.0 * (1 - 0.2 / 100))
    assert broker.get_balance() == pytest.approx(cash_after_buy + sell.price - sell.fee)
    assert broker.get_positions() == {}


def test_order_sent_after_a_bar_opened_waits_for_the_next_bar() -> None:
    broker, clock, _ = venue()
    clock.set(T0 + timedelta(seconds=30))
    broker.place_order(order("late"))

    first = broker.on_bar(bar(T0, open_=100.0))
    second = broker.on_bar(bar(T0 + MINUTE, open_=101.0))

    assert first == []
    assert [f.ts for f in second] == [T0 + MINUTE]


def test_bar_of_another_symbol_does_not_fill() -> None:
    broker, _, _ = venue()
    broker.place_order(order("e1", symbol="ETH"))

    broker.on_bar(bar(T0, symbol="BTC"))

    view = broker.get_order("e1")
    assert view is not None and view.status is OrderStatus.SUBMITTED
    assert len(broker.on_bar(bar(T0, symbol="ETH"))) == 1


def test_same_or_older_bar_again_is_a_no_op() -> None:
    broker, _, book = venue()
    broker.on_bar(bar(T0))
    broker.place_order(order("o1"))

    assert broker.on_bar(bar(T0)) == []
    assert broker.on_bar(bar(T0 - MINUTE)) == []
    assert len(broker.on_bar(bar(T0 + MINUTE))) == 1
    assert book.cursors() == {"BTC": T0 + MINUTE}


def test_pending_orders_fill_in_booking_order() -> None:
    broker, _, _ = venue()
    for cid in ("c", "a", "b"):
        broker.place_order(order(cid, quantity=0.1))

    fills = broker.on_bar(bar(T0))

    assert [f.client_order_id for f in fills] == ["c", "a", "b"]


# -- idempotence, determinism, restart ----------------------------------------------------------


def test_same_client_id_is_booked_and_filled_only_once() -> None:
    broker, _, book = venue()
    first = broker.place_order(order("dup"))
    again = broker.place_order(order("dup", quantity=5.0))
    broker.on_bar(bar(T0))
    after_fill = broker.place_order(order("dup"))
    broker.on_bar(bar(T0 + MINUTE))

    assert again == first
    assert after_fill.status is OrderStatus.FILLED
    assert len(book.fills_for("dup")) == 1
    assert broker.get_positions() == {"BTC": 1.0}


def test_two_brokers_with_the_same_seed_draw_the_same_outcomes() -> None:
    faults = (window(reject_rate=0.4, timeout_rate=0.3),)
    config = {"slippage_jitter_pct": 0.5, "timeout_executes_fraction": 0.5}
    a, _, _ = venue(windows=faults, seed=7, **config)
    b, _, _ = venue(windows=faults, seed=7, **config)
    ids = [f"o{i}" for i in range(200)]

    outcomes_a = [outcome(a, order(cid, quantity=0.01)) for cid in ids]
    outcomes_b = [outcome(b, order(cid, quantity=0.01)) for cid in ids]
    prices_a = [f.price for f in a.on_bar(bar(T0))]
    prices_b = [f.price for f in b.on_bar(bar(T0))]

    assert outcomes_a == outcomes_b
    assert prices_a == prices_b and len(set(prices_a)) > 1
    counts = Counter(kind for kind, _ in outcomes_a)
    assert 0.3 < counts["REJECTED"] / 200 < 0.5
    assert 0.2 < counts["timeout"] / 200 < 0.4


def test_a_different_seed_draws_different_outcomes() -> None:
    faults = (window(reject_rate=0.5),)
    a, _, _ = venue(windows=faults, seed=1)
    b, _, _ = venue(windows=faults, seed=2)
    ids = [f"o{i}" for i in range(100)]

    assert [outcome(a, order(c, quantity=0.01)) for c in ids] != [
        outcome(b, order(c, quantity=0.01)) for c in ids
    ]


def test_rebuilt_broker_on_the_same_book_gives_the_same_outcome_per_client_id() -> None:
    faults = (window(reject_rate=0.3, timeout_rate=0.4),)
    first, clock, book = venue(windows=faults, seed=3)
    ids = [f"r{i}" for i in range(60)]
    before = {cid: outcome(first, order(cid, quantity=0.01)) for cid in ids}

    restarted = PaperBroker(BrokerConfig(), clock, book, FaultPlan(faults), seed=3)
    after = {cid: outcome(restarted, order(cid, quantity=0.01)) for cid in ids}

    for cid in ids:
        booked = book.get_order(cid)
        if before[cid][0] == "timeout" and booked is not None:
            # it reached the venue: the retry now gets the booked order's ack
            assert after[cid] == ("SUBMITTED", "")
        else:
            assert after[cid] == before[cid]
    assert {kind for kind, _ in before.values()} == {"REJECTED", "timeout", "SUBMITTED"}


def test_rebuilt_broker_fills_orders_pending_before_the_restart_exactly_once() -> None:
    first, clock, book = venue()
    first.place_order(order("p1"))
    first.on_bar(bar(T0))
    first.place_order(order("p2"))

    restarted = PaperBroker(BrokerConfig(), clock, book, None, seed=0)
    replayed = restarted.on_bar(bar(T0))
    fills = restarted.on_bar(bar(T0 + MINUTE))

    assert replayed == []
    assert [f.client_order_id for f in fills] == ["p2"]
    assert len(book.fills_for("p1")) == 1 and len(book.fills_for("p2")) == 1
    assert restarted.get_positions() == {"BTC": 2.0}


def test_restart_does_not_reset_the_book_cash() -> None:
    first, clock, book = venue(starting_cash=1_000)
    first.place_order(order("c1", quantity=1.0, price=100.0))
    first.on_bar(bar(T0, open_=100.0))
    cash = first.get_balance()

    restarted = PaperBroker(BrokerConfig(starting_cash=5_000), clock, book)

    assert restarted.get_balance() == cash < 1_000


def test_unit_draw_is_uniform_keyed_and_stable() -> None:
    draws = [unit_draw(0, f"id{i}", "outcome") for i in range(2000)]

    assert all(0.0 <= d < 1.0 for d in draws)
    assert 0.45 < sum(draws) / len(draws) < 0.55
    assert unit_draw(0, "id1", "outcome") == draws[1]
    assert unit_draw(0, "id1", "slippage_jitter") != draws[1]
    assert unit_draw(1, "id1", "outcome") != draws[1]


# -- fault windows ------------------------------------------------------------------------------


def test_reject_window_rejects_every_order_and_nothing_fills() -> None:
    broker, _, _ = venue(windows=(window(reject_rate=1.0),))

    ack = broker.place_order(order("x"))
    broker.on_bar(bar(T0))

    assert ack.status is OrderStatus.REJECTED and "injected" in ack.reason
    assert broker.poll_fills() == []
    view = broker.get_order("x")
    assert view is not None and view.status is OrderStatus.REJECTED


def test_orders_after_the_window_are_accepted_again() -> None:
    broker, clock, _ = venue(windows=(window(minutes=5, reject_rate=1.0),))
    clock.set(T0 + timedelta(minutes=5))

    assert broker.place_order(order("after")).status is OrderStatus.SUBMITTED


def test_timeout_that_reached_the_venue_is_booked_and_fills() -> None:
    broker, _, _ = venue(windows=(window(timeout_rate=1.0),), timeout_executes_fraction=1.0)

    with pytest.raises(BrokerTimeoutError, match="may or may not"):
        broker.place_order(order("t1"))
    view = broker.get_order("t1")
    fills = broker.on_bar(bar(T0))

    assert view is not None and view.status is OrderStatus.SUBMITTED
    assert [f.client_order_id for f in fills] == ["t1"]


def test_timeout_that_never_reached_the_venue_leaves_no_order() -> None:
    broker, _, _ = venue(windows=(window(timeout_rate=1.0),), timeout_executes_fraction=0.0)

    with pytest.raises(BrokerTimeoutError):
        broker.place_order(order("t1"))

    assert broker.get_order("t1") is None
    assert broker.on_bar(bar(T0)) == []


def test_timeout_executes_fraction_splits_timed_out_orders() -> None:
    broker, _, book = venue(windows=(window(timeout_rate=1.0),), timeout_executes_fraction=0.5)
    ids = [f"t{i}" for i in range(200)]

    for cid in ids:
        with pytest.raises(BrokerTimeoutError):
            broker.place_order(order(cid, quantity=0.01))

    booked = sum(book.get_order(cid) is not None for cid in ids)
    assert 70 < booked < 130


def test_outage_refuses_every_call_and_books_nothing() -> None:
    broker, clock, _ = venue(windows=(window(outage=True),))

    with pytest.raises(BrokerUnavailableError, match="unreachable"):
        broker.place_order(order("o1"))
    for call in (
        lambda: broker.get_order("o1"),
        lambda: broker.get_fills("o1"),
        lambda: broker.cancel_order("o1"),
        broker.get_positions,
        broker.get_balance,
    ):
        with pytest.raises(BrokerUnavailableError):
            call()
    clock.set(T0 + timedelta(minutes=10))
    assert broker.get_order("o1") is None


def test_fills_during_an_outage_are_held_back_until_the_first_poll_after_it() -> None:
    broker, clock, _ = venue(windows=(FaultWindow(T0 + MINUTE, T0 + 3 * MINUTE, outage=True),))
    broker.place_order(order("o1"))
    clock.set(T0 + MINUTE)

    broker.on_bar(bar(T0 + MINUTE))
    during = broker.poll_fills()
    clock.set(T0 + 3 * MINUTE)

    assert during == []
    assert [f.client_order_id for f in broker.poll_fills()] == ["o1"]


def test_unfunded_window_rejects_for_insufficient_funds() -> None:
    broker, _, _ = venue(windows=(window(unfunded=True),))

    ack = broker.place_order(order("u1", quantity=0.001))

    assert ack.status is OrderStatus.REJECTED and ack.reason == INSUFFICIENT_FUNDS


def test_ack_latency_adds_window_latency_to_base_latency() -> None:
    broker, clock, _ = venue(windows=(window(minutes=1, latency_ms=2500),), base_latency_ms=20)

    slow = broker.place_order(order("slow"))
    clock.set(T0 + MINUTE)
    normal = broker.place_order(order("normal"))

    assert slow.latency_ms == 2520
    assert normal.latency_ms == 20


def test_window_slippage_applies_when_the_fill_bar_is_inside_the_window() -> None:
    faults = (FaultWindow(T0 + MINUTE, T0 + 2 * MINUTE, slippage_pct=0.5),)
    broker, _, _ = venue(windows=faults, slippage_pct=0.01)
    broker.place_order(order("a"))
    broker.on_bar(bar(T0, open_=100.0))
    broker.place_order(order("b"))
    broker.on_bar(bar(T0 + MINUTE, open_=100.0))

    assert broker.get_fills("a")[0].price == pytest.approx(100.0 * 1.0001)
    assert broker.get_fills("b")[0].price == pytest.approx(100.0 * 1.0051)


def test_jitter_slippage_stays_within_base_plus_jitter() -> None:
    broker, _, _ = venue(slippage_pct=0.1, slippage_jitter_pct=0.4)
    for i in range(50):
        broker.place_order(order(f"j{i}", side=Side.BUY if i % 2 else Side.SELL, quantity=0.01))

    fills = broker.on_bar(bar(T0, open_=1000.0))

    slippages = [abs(f.price / 1000.0 - 1) * 100 for f in fills]
    assert all(0.1 - 1e-9 <= s <= 0.5 + 1e-9 for s in slippages)
    assert max(slippages) - min(slippages) > 0.2


# -- funds, reduce-only, cancel, validation ----------------------------------------------------


def test_opening_order_beyond_cash_is_rejected_for_insufficient_funds() -> None:
    broker, _, _ = venue(starting_cash=1_000, fee_pct=0.1)

    exact = broker.place_order(order("fits", quantity=9.99, price=100.0))
    too_big = broker.place_order(order("big", quantity=0.1, price=100.0))

    assert exact.status is OrderStatus.SUBMITTED
    assert too_big.status is OrderStatus.REJECTED and too_big.reason == INSUFFICIENT_FUNDS


def test_closing_order_is_never_refused_for_funds() -> None:
    broker, _, _ = venue(starting_cash=1_000, fee_pct=0.0, slippage_pct=0.0)
    broker.place_order(order("buy", quantity=10.0, price=100.0))
    broker.on_bar(bar(T0, open_=100.0))

    ack = broker.place_order(order("sell", side=Side.SELL, quantity=10.0, price=100.0))

    assert broker.get_balance() == pytest.approx(0.0)
    assert ack.status is OrderStatus.SUBMITTED


def test_reduce_only_sell_is_clipped_to_the_long_position_and_never_flips() -> None:
    broker, _, _ = venue()
    broker.place_order(order("long", quantity=1.5))
    broker.on_bar(bar(T0))

    broker.place_order(order("close", side=Side.SELL, quantity=4.0, reduce_only=True))
    (fill,) = broker.on_bar(bar(T0 + MINUTE))

    assert fill.quantity == 1.5
    assert broker.get_positions() == {}
    view = broker.get_order("close")
    assert view is not None and view.status is OrderStatus.FILLED and "clipped" in view.reason


def test_reduce_only_order_without_a_position_to_reduce_is_cancelled() -> None:
    broker, _, _ = venue()
    broker.place_order(order("long", quantity=1.0))
    broker.on_bar(bar(T0))

    broker.place_order(order("wrong-way", side=Side.BUY, reduce_only=True))
    fills = broker.on_bar(bar(T0 + MINUTE))

    assert fills == []
    view = broker.get_order("wrong-way")
    assert view is not None and view.status is OrderStatus.CANCELLED
    assert broker.get_positions() == {"BTC": 1.0}


def test_cancel_pending_order_prevents_its_fill() -> None:
    broker, _, _ = venue()
    broker.place_order(order("c1"))

    ack = broker.cancel_order("c1")
    fills = broker.on_bar(bar(T0))

    assert ack.status is OrderStatus.CANCELLED
    assert fills == []
    assert broker.place_order(order("c1")).status is OrderStatus.CANCELLED


def test_cancel_of_filled_or_unknown_order_reports_the_truth() -> None:
    broker, _, _ = venue()
    broker.place_order(order("f1"))
    broker.on_bar(bar(T0))

    assert broker.cancel_order("f1").status is OrderStatus.FILLED
    unknown = broker.cancel_order("nope")
    assert unknown.status is OrderStatus.REJECTED and unknown.reason == "unknown order"


@pytest.mark.parametrize(
    ("quantity", "price", "reason"),
    [(0.0, 100.0, "invalid quantity"), (float("nan"), 100.0, "invalid quantity"),
     (1.0, -1.0, "invalid reference price")],
)
def test_invalid_order_is_rejected(quantity: float, price: float, reason: str) -> None:
    broker, _, _ = venue()

    ack = broker.place_order(order("bad", quantity=quantity, price=price))

    assert ack.status is OrderStatus.REJECTED and ack.reason.startswith(reason)


def test_buy_limit_waits_until_the_open_is_at_or_below_the_limit() -> None:
    broker, _, _ = venue(slippage_pct=0.0)
    broker.place_order(order("lim", limit_price=95.0))

    assert broker.on_bar(bar(T0, open_=100.0)) == []
    (fill,) = broker.on_bar(bar(T0 + MINUTE, open_=94.0))

    assert fill.price == 94.0


def test_config_refuses_unknown_fields_and_absurd_slippage() -> None:
    with pytest.raises(ValidationError, match="extra"):
        BrokerConfig(fees=1.0)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="slippage_pct"):
        BrokerConfig(slippage_pct=25.0)
    with pytest.raises(ValidationError, match="timeout_executes_fraction"):
        BrokerConfig(timeout_executes_fraction=1.5)


def test_an_active_fault_window_is_logged_once_not_per_order(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker, _, _ = venue(windows=(window(reject_rate=1.0),))

    with caplog.at_level("WARNING", logger="engine.broker"):
        for i in range(5):
            broker.place_order(order(f"o{i}"))

    announced = [r for r in caplog.records if r.getMessage().startswith("fault_window_active")]
    assert len(announced) == 1 and "reject_rate=1.0" in announced[0].getMessage()
