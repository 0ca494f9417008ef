"""Each pre-trade limit alone: its name, the values it reports, and that it fails closed."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from engine.clock import SimulatedClock
from engine.model import Side
from engine.risk import RiskManager
from engine.risk_checks import (
    Evaluable,
    MaxDailyLoss,
    MaxDailyTrades,
    MaxOrderNotional,
    MaxPosition,
    OrderRate,
    OrderRisk,
    PriceCollar,
    RiskDecision,
    RiskState,
    SubmissionWindow,
    default_checks,
    reduces,
)
from engine.risk_config import RiskConfig

START = datetime(2024, 3, 4, 9, 30, tzinfo=UTC)
CONFIG = RiskConfig()


def order(quantity: float = 0.1, side: Side = Side.BUY, price: float = 100.0,
          reduce_only: bool = False, limit_price: float | None = None,
          worst_case_loss: float | None = None) -> OrderRisk:
    return OrderRisk("BTCUSD", side, quantity, price, reduce_only, limit_price, worst_case_loss)


def state(position: float = 0.0, last_price: float | None = 100.0, unrealized: float = 0.0,
          daily_pnl: float = 0.0, daily_trades: int = 0, reducing: bool = False,
          window: SubmissionWindow | None = None) -> RiskState:
    submissions = SubmissionWindow(SimulatedClock(START)) if window is None else window
    return RiskState(position, last_price, unrealized, daily_pnl, daily_trades, reducing,
                     submissions)


def denied(decision: RiskDecision | None) -> RiskDecision:
    assert decision is not None and not decision.allowed
    return decision


def test_the_limits_run_in_the_documented_order_with_stable_names() -> None:
    names = [check.name for check in default_checks(CONFIG)]
    assert names == ["evaluation", "price_collar", "max_order_notional", "max_position",
                     "max_daily_trades", "max_daily_loss", "order_rate"]
    manager = RiskManager(CONFIG, SimulatedClock(START))
    assert [check.name for check in manager.checks] == names


@pytest.mark.parametrize(
    ("case", "why"),
    [
        ({"last_price": None}, "no usable last price for BTCUSD (None)"),
        ({"last_price": math.nan}, "no usable last price"),
        ({"position": math.inf}, "position inf is not a number"),
        ({"daily_pnl": math.nan}, "daily P&L nan is not a number"),
    ],
)
def test_evaluable_denies_unusable_state(case: dict[str, float | None], why: str) -> None:
    decision = denied(Evaluable().check(order(), state(**case)))  # type: ignore[arg-type]
    assert decision.check == "evaluation"
    assert why in decision.reason
    assert Evaluable().check(order(), state()) is None


def test_evaluable_denies_inputs_whose_sum_overflows() -> None:
    decision = denied(Evaluable().check(order(), state(position=1e308, unrealized=1e308)))
    assert decision.reason == "risk limits cannot be evaluated: inputs too large to add up"


def test_price_collar_reports_deviation_and_collar() -> None:
    collar = PriceCollar(CONFIG)
    assert collar.check(order(), state()) is None
    assert collar.check(order(limit_price=105.0), state()) is None
    decision = denied(collar.check(order(limit_price=106.0), state()))
    assert (decision.check, decision.limit) == ("price_collar", 5.0)
    assert decision.observed == pytest.approx(6.0)
    assert denied(collar.check(order(limit_price=101.0), state(last_price=None))).check == (
        "price_collar")


def test_max_order_notional_uses_the_higher_price_and_denies_nan() -> None:
    check = MaxOrderNotional(RiskConfig(max_order_notional=1000.0))
    assert check.check(order(quantity=10.0), state()) is None
    decision = denied(check.check(order(quantity=10.0, limit_price=101.0), state()))
    assert (decision.check, decision.observed, decision.limit) == (
        "max_order_notional", 1010.0, 1000.0)
    assert decision.reason == "order notional 1010.00 exceeds 1000.00"
    assert denied(check.check(order(quantity=math.nan), state())).check == "max_order_notional"


def test_max_position_exempts_only_reducing_orders() -> None:
    check = MaxPosition(RiskConfig(max_position=1.0))
    decision = denied(check.check(order(quantity=0.5), state(position=0.8)))
    assert (decision.observed, decision.limit) == (pytest.approx(1.3), 1.0)
    assert check.check(order(quantity=0.5), state(position=0.8, reducing=True)) is None


def test_reducing_needs_the_flag_the_opposite_side_and_no_flip() -> None:
    assert reduces(order(quantity=0.5, side=Side.SELL, reduce_only=True), 0.8)
    assert not reduces(order(quantity=0.5, side=Side.SELL), 0.8)
    assert not reduces(order(quantity=0.5, side=Side.BUY, reduce_only=True), 0.8)
    assert not reduces(order(quantity=0.9, side=Side.SELL, reduce_only=True), 0.8)


def test_max_daily_trades_counts_executed_trades() -> None:
    check = MaxDailyTrades(RiskConfig(max_daily_trades=3))
    assert check.check(order(), state(daily_trades=2)) is None
    decision = denied(check.check(order(), state(daily_trades=3)))
    assert (decision.check, decision.observed, decision.limit) == ("max_daily_trades", 3.0, 3.0)
    assert check.check(order(), state(daily_trades=3, reducing=True)) is None


def test_max_daily_loss_projects_the_worst_case_and_ignores_open_gains() -> None:
    check = MaxDailyLoss(RiskConfig(max_daily_loss=100.0, worst_case_move_pct=10.0))
    assert check.check(order(quantity=1.0), state(daily_pnl=-90.0, unrealized=50.0)) is None
    decision = denied(check.check(order(quantity=1.0), state(daily_pnl=-90.0, unrealized=-5.0)))
    assert (decision.check, decision.observed, decision.limit) == ("max_daily_loss", -105.0,
                                                                   -100.0)
    assert decision.reason == ("daily P&L -90.00 with open loss -5.00 and order worst case 10.00 "
                               "reaches -105.00, limit -100.00")
    assert check.check(order(worst_case_loss=0.0), state(daily_pnl=-99.0)) is None
    assert denied(check.check(order(), state(daily_pnl=math.nan))).check == "max_daily_loss"


def test_order_rate_counts_the_sliding_windows_on_the_clock() -> None:
    clock = SimulatedClock(START)
    window = SubmissionWindow(clock)
    check = OrderRate(RiskConfig(max_orders_per_second=2, max_orders_per_minute=3))
    assert check.check(order(), state(window=window)) is None
    window.record()
    window.record()
    decision = denied(check.check(order(), state(window=window)))
    assert (decision.check, decision.observed, decision.limit) == ("order_rate", 2.0, 2.0)
    clock.advance(1.0)
    assert check.check(order(), state(window=window)) is None
    window.record()
    minute = denied(check.check(order(), state(window=window)))
    assert (minute.observed, minute.limit) == (3.0, 3.0)
    clock.advance(60.0)
    assert check.check(order(), state(window=window)) is None
    assert not window
