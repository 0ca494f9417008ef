"""RiskManager: limits in order, fail-closed evaluation, daily state, rate windows, snapshots."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from engine.clock import SimulatedClock
from engine.errors import StateError
from engine.model import Side
from engine.risk import ALLOWED, OrderRisk, RiskConfig, RiskManager

START = datetime(2024, 3, 8, 12, 0, tzinfo=UTC)


def make(
    config: RiskConfig | None = None, start: datetime = START
) -> tuple[RiskManager, SimulatedClock]:
    clock = SimulatedClock(start)
    return RiskManager(config or RiskConfig(), clock), clock


def order(
    side: Side = Side.BUY,
    quantity: float = 0.1,
    price: float = 100.0,
    *,
    reduce_only: bool = False,
    limit_price: float | None = None,
    worst_case_loss: float | None = None,
) -> OrderRisk:
    return OrderRisk("BTC", side, quantity, price, reduce_only, limit_price, worst_case_loss)


# ---------------------------------------------------------------- config


def test_config_defaults_match_documented_limits() -> None:
    cfg = RiskConfig()
    assert (cfg.max_daily_loss, cfg.max_daily_trades, cfg.max_position) == (1000, 50, 1.0)
    assert (cfg.max_order_notional, cfg.price_collar_pct, cfg.worst_case_move_pct) == (
        50_000, 5.0, 2.0
    )
    assert (cfg.max_orders_per_second, cfg.max_orders_per_minute) == (5, 60)
    assert (cfg.day_boundary, cfg.day_timezone) == ("00:00", "UTC")


def test_config_per_minute_below_per_second_is_rejected_naming_both_fields() -> None:
    with pytest.raises(ValidationError) as info:
        RiskConfig(max_orders_per_second=10, max_orders_per_minute=5)
    assert "max_orders_per_minute" in str(info.value)
    assert "max_orders_per_second" in str(info.value)


@pytest.mark.parametrize("value", ["24:00", "7:00", "12:60", "noon", ""])
def test_config_malformed_day_boundary_is_rejected_naming_the_field(value: str) -> None:
    with pytest.raises(ValidationError, match="day_boundary"):
        RiskConfig(day_boundary=value)


@pytest.mark.parametrize("value", ["Mars/Olympus", "", "../etc/passwd"])
def test_config_unknown_timezone_is_rejected_naming_the_field(value: str) -> None:
    with pytest.raises(ValidationError, match="day_timezone"):
        RiskConfig(day_timezone=value)


@pytest.mark.parametrize(
    "field", ["max_daily_loss", "max_daily_trades", "max_position", "max_order_notional",
              "price_collar_pct", "max_orders_per_second", "worst_case_move_pct"]
)
def test_config_non_positive_limits_are_rejected(field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        RiskConfig(**{field: 0})


def test_config_unknown_field_is_rejected_and_instances_are_frozen() -> None:
    with pytest.raises(ValidationError):
        RiskConfig(max_daily_los=5)  # type: ignore[call-arg]
    cfg = RiskConfig()
    with pytest.raises(ValidationError):
        cfg.max_daily_loss = 5  # type: ignore[misc]


# ---------------------------------------------------------------- checks


def test_order_within_every_limit_returns_the_shared_allowed_decision() -> None:
    risk, _ = make()
    first = risk.check(order(), 0.0, 100.0, 0.0)
    second = risk.check(order(Side.SELL), 0.0, 100.0, 0.0)
    assert first.allowed and first is ALLOWED and second is ALLOWED


@pytest.mark.parametrize("last_price", [None, math.nan, 0.0, -5.0, math.inf])
def test_unusable_last_price_denies_fail_closed(last_price: float | None) -> None:
    risk, _ = make()
    decision = risk.check(order(), 0.0, last_price, 0.0)
    assert not decision.allowed and decision.check == "evaluation"


@pytest.mark.parametrize("quantity", [math.nan, 0.0, -0.1, math.inf])
def test_unusable_quantity_denies_fail_closed(quantity: float) -> None:
    risk, _ = make()
    decision = risk.check(order(quantity=quantity), 0.0, 100.0, 0.0)
    assert not decision.allowed and decision.check == "evaluation"


@pytest.mark.parametrize(
    ("position", "unrealized"), [(math.nan, 0.0), (0.0, math.nan), (0.0, -math.inf)]
)
def test_unusable_position_or_open_pnl_denies_fail_closed(
    position: float, unrealized: float
) -> None:
    risk, _ = make()
    assert risk.check(order(), position, 100.0, unrealized).check == "evaluation"


def test_limit_price_beyond_collar_is_denied_as_fat_finger() -> None:
    risk, _ = make()
    decision = risk.check(order(limit_price=106.0), 0.0, 100.0, 0.0)
    assert (decision.allowed, decision.check) == (False, "price_collar")
    assert "fat finger" in decision.reason
    assert decision.observed == pytest.approx(6.0) and decision.limit == 5.0


def test_limit_price_inside_collar_is_allowed() -> None:
    risk, _ = make()
    assert risk.check(order(limit_price=95.5), 0.0, 100.0, 0.0).allowed


def test_market_order_is_not_collared_even_far_from_last_price() -> None:
    risk, _ = make()
    assert risk.check(order(price=150.0), 0.0, 100.0, 0.0).allowed


def test_order_above_max_notional_is_denied_with_observed_value() -> None:
    risk, _ = make()
    decision = risk.check(order(quantity=0.5, price=120_000.0), 0.0, 120_000.0, 0.0)
    assert decision.check == "max_order_notional"
    assert decision.observed == pytest.approx(60_000.0) and decision.limit == 50_000


def test_collar_is_checked_before_notional() -> None:
    risk, _ = make()
    decision = risk.check(order(quantity=0.9, price=100_000.0, limit_price=120_000.0),
                          0.0, 100_000.0, 0.0)
    assert decision.check == "price_collar"


def test_order_pushing_position_over_limit_is_denied() -> None:
    risk, _ = make()
    decision = risk.check(order(quantity=0.1), 0.95, 100.0, 0.0)
    assert decision.check == "max_position" and decision.observed == pytest.approx(1.05)


def test_position_reaching_limit_exactly_despite_rounding_is_allowed() -> None:
    risk, _ = make(RiskConfig(max_position=0.3))
    assert 0.1 + 0.2 > 0.3  # precondition: the float sum rounds above the limit
    assert risk.check(order(quantity=0.2), 0.1, 100.0, 0.0).allowed


def test_reduce_only_order_shrinking_an_oversized_position_is_allowed() -> None:
    risk, _ = make()
    assert risk.check(order(Side.SELL, 0.5, reduce_only=True), 2.0, 100.0, 0.0).allowed


def test_plain_order_shrinking_an_oversized_position_is_still_denied() -> None:
    risk, _ = make()
    assert risk.check(order(Side.SELL, 0.5), 2.0, 100.0, 0.0).check == "max_position"


def test_reduce_only_flag_on_an_order_that_flips_past_the_limit_earns_no_exemption() -> None:
    risk, _ = make()
    assert risk.check(order(Side.SELL, 1.6, reduce_only=True), 0.5, 100.0, 0.0).check == (
        "max_position"
    )


def test_daily_trade_limit_denies_opening_orders_but_allows_reducing_ones() -> None:
    risk, _ = make(RiskConfig(max_daily_trades=3))
    for _ in range(3):
        risk.record_fill(1.0)
    denied = risk.check(order(), 0.0, 100.0, 0.0)
    assert denied.check == "max_daily_trades" and denied.observed == 3
    assert risk.check(order(Side.SELL, 0.1, reduce_only=True), 0.1, 100.0, 0.0).allowed


def test_reduce_only_flag_on_an_order_growing_the_position_earns_no_exemption() -> None:
    risk, _ = make(RiskConfig(max_daily_trades=1))
    risk.record_fill(0.0)
    growing = order(Side.BUY, 0.1, reduce_only=True)
    assert risk.check(growing, 0.5, 100.0, 0.0).check == "max_daily_trades"


def test_seed000_rejected_orders_never_count_as_trades() -> None:
    risk, clock = make(RiskConfig(max_daily_trades=50))
    decisions = []
    for _ in range(51):
        decisions.append(risk.check(order(), 0.0, 100.0, 0.0))
        risk.record_submission()  # sent; the unfunded broker rejects it: no record_fill
        clock.advance(65)
    assert risk.daily_trades == 0
    assert all(d.allowed for d in decisions)
    assert risk.check(order(), 0.0, 100.0, 0.0).allowed


def test_seed002_loss_limit_blocks_250_worst_case_and_allows_150_after_800_loss() -> None:
    risk, _ = make(RiskConfig(max_daily_loss=1000))
    risk.record_fill(-800.0)
    blocked = risk.check(order(worst_case_loss=250.0), 0.0, 100.0, 0.0)
    allowed = risk.check(order(worst_case_loss=150.0), 0.0, 100.0, 0.0)
    assert blocked.check == "max_daily_loss"
    assert blocked.observed == pytest.approx(-1050.0) and blocked.limit == -1000
    assert allowed.allowed


def test_worst_case_defaults_to_configured_adverse_move_of_notional() -> None:
    risk, _ = make(RiskConfig(max_daily_loss=1000, worst_case_move_pct=2.0))
    risk.record_fill(-990.0)
    # 0.6 * 1000 * 2% = 12 -> -1002 (over); 0.4 * 1000 * 2% = 8 -> -998 (inside)
    assert risk.check(order(quantity=0.6, price=1000.0), 0.0, 1000.0, 0.0).check == (
        "max_daily_loss"
    )
    assert risk.check(order(quantity=0.4, price=1000.0), 0.0, 1000.0, 0.0).allowed


def test_open_losses_count_against_the_daily_limit_but_open_gains_do_not() -> None:
    risk, _ = make()
    risk.record_fill(-800.0)
    assert risk.check(order(worst_case_loss=150.0), 0.0, 100.0, -100.0).check == "max_daily_loss"
    assert risk.check(order(worst_case_loss=250.0), 0.0, 100.0, 500.0).check == "max_daily_loss"
    assert risk.check(order(worst_case_loss=150.0), 0.0, 100.0, 500.0).allowed


def test_reduce_only_order_is_never_blocked_by_the_loss_limit() -> None:
    risk, _ = make()
    risk.record_fill(-5000.0)
    reduce = order(Side.SELL, 0.3, reduce_only=True, worst_case_loss=900.0)
    assert risk.check(reduce, 0.5, 100.0, -300.0).allowed
    assert risk.check(order(Side.SELL, 0.3), 0.5, 100.0, -300.0).check == "max_daily_loss"


def test_sixth_order_in_one_second_is_throttled_until_the_window_slides() -> None:
    risk, clock = make(RiskConfig(max_orders_per_second=5, max_orders_per_minute=60))
    first = clock.now()
    for _ in range(5):
        assert risk.check(order(), 0.0, 100.0, 0.0).allowed
        risk.record_submission()
        clock.advance(0.1)
    throttled = risk.check(order(), 0.0, 100.0, 0.0)
    assert throttled.check == "order_rate" and throttled.observed == 5
    clock.set(first + timedelta(seconds=1) - timedelta(microseconds=1))
    assert risk.check(order(), 0.0, 100.0, 0.0).check == "order_rate"
    clock.set(first + timedelta(seconds=1))  # the oldest is exactly 1 s old: out of the window
    assert risk.check(order(), 0.0, 100.0, 0.0).allowed


def test_per_minute_limit_throttles_steady_flow_until_oldest_expires() -> None:
    risk, clock = make(RiskConfig(max_orders_per_second=5, max_orders_per_minute=10))
    first = clock.now()
    for _ in range(10):
        risk.record_submission()
        clock.advance(2)
    denied = risk.check(order(), 0.0, 100.0, 0.0)
    assert denied.check == "order_rate" and denied.limit == 10
    clock.set(first + timedelta(seconds=60))
    assert risk.check(order(), 0.0, 100.0, 0.0).allowed


# ---------------------------------------------------------------- trading day


def test_trading_day_with_new_york_1700_boundary_switches_at_2200_utc_in_winter() -> None:
    risk, _ = make(RiskConfig(day_boundary="17:00", day_timezone="America/New_York"))
    assert risk.trading_day_for(datetime(2024, 3, 8, 21, 59, tzinfo=UTC)) == date(2024, 3, 8)
    assert risk.trading_day_for(datetime(2024, 3, 8, 22, 0, tzinfo=UTC)) == date(2024, 3, 9)


def test_utc_midnight_boundary_gives_calendar_days() -> None:
    risk, _ = make()
    assert risk.trading_day_for(datetime(2024, 3, 8, 23, 59, 59, tzinfo=UTC)) == date(2024, 3, 8)
    assert risk.trading_day_for(datetime(2024, 3, 9, 0, 0, tzinfo=UTC)) == date(2024, 3, 9)


def test_early_morning_boundary_names_the_day_by_its_start_date() -> None:
    risk, _ = make(RiskConfig(day_boundary="02:00", day_timezone="Europe/Berlin"))
    # 2024-03-09 00:30 UTC is 01:30 in Berlin: still the day that started 03-08 02:00.
    assert risk.trading_day_for(datetime(2024, 3, 9, 0, 30, tzinfo=UTC)) == date(2024, 3, 8)
    assert risk.trading_day_for(datetime(2024, 3, 9, 1, 0, tzinfo=UTC)) == date(2024, 3, 9)


def _rolls(risk: RiskManager, clock: SimulatedClock, until: datetime) -> list[tuple[datetime, str]]:
    seen = []
    while clock.now() < until:
        clock.advance(60)
        event = risk.roll_day_if_needed()
        if event is not None:
            seen.append((event.at, event.trading_day))
    return seen


def test_day_rolls_follow_new_york_1700_across_the_spring_dst_change() -> None:
    cfg = RiskConfig(day_boundary="17:00", day_timezone="America/New_York")
    risk, clock = make(cfg, datetime(2024, 3, 7, 12, 0, tzinfo=UTC))
    rolls = _rolls(risk, clock, datetime(2024, 3, 13, 0, 0, tzinfo=UTC))
    # DST starts Sunday 2024-03-10: 17:00 EST is 22:00Z before, 17:00 EDT is 21:00Z after.
    assert rolls == [
        (datetime(2024, 3, 7, 22, 0, tzinfo=UTC), "2024-03-08"),
        (datetime(2024, 3, 8, 22, 0, tzinfo=UTC), "2024-03-09"),
        (datetime(2024, 3, 9, 22, 0, tzinfo=UTC), "2024-03-10"),
        (datetime(2024, 3, 10, 21, 0, tzinfo=UTC), "2024-03-11"),
        (datetime(2024, 3, 11, 21, 0, tzinfo=UTC), "2024-03-12"),
        (datetime(2024, 3, 12, 21, 0, tzinfo=UTC), "2024-03-13"),
    ]


def test_day_rolls_follow_new_york_1700_across_the_autumn_dst_change() -> None:
    cfg = RiskConfig(day_boundary="17:00", day_timezone="America/New_York")
    risk, clock = make(cfg, datetime(2024, 11, 1, 12, 0, tzinfo=UTC))
    rolls = _rolls(risk, clock, datetime(2024, 11, 5, 0, 0, tzinfo=UTC))
    assert [at for at, _ in rolls] == [
        datetime(2024, 11, 1, 21, 0, tzinfo=UTC),
        datetime(2024, 11, 2, 21, 0, tzinfo=UTC),
        datetime(2024, 11, 3, 22, 0, tzinfo=UTC),
        datetime(2024, 11, 4, 22, 0, tzinfo=UTC),
    ]


def test_roll_at_boundary_reports_and_clears_the_previous_day_once() -> None:
    risk, clock = make()
    risk.record_fill(-120.5)
    risk.record_fill(20.0)
    assert risk.roll_day_if_needed() is None
    clock.set(datetime(2024, 3, 9, 0, 0, tzinfo=UTC))
    event = risk.roll_day_if_needed()
    assert event is not None and event.applied and event.source == "day_boundary"
    assert (event.previous_pnl, event.previous_trades) == (-100.5, 2)
    assert (risk.daily_pnl, risk.daily_trades) == (0.0, 0)
    assert risk.trading_day == date(2024, 3, 9) == risk.last_reset_day
    assert risk.roll_day_if_needed() is None
    assert risk.next_boundary == datetime(2024, 3, 10, 0, 0, tzinfo=UTC)


def test_second_reset_on_the_same_trading_day_changes_nothing() -> None:
    risk, clock = make()
    risk.record_fill(-300.0)
    first = risk.reset_daily("operator")
    risk.record_fill(-50.0)
    clock.advance(3600)
    second = risk.reset_daily("housekeeping")
    assert first.applied and first.previous_pnl == -300.0
    assert not second.applied and second.trading_day == first.trading_day
    assert (second.previous_pnl, second.previous_trades) == (-50.0, 1)
    assert (risk.daily_pnl, risk.daily_trades) == (-50.0, 1)


def test_housekeeping_reset_after_boundary_prevents_a_second_roll_for_that_day() -> None:
    risk, clock = make()
    risk.record_fill(-10.0)
    clock.set(datetime(2024, 3, 9, 0, 5, tzinfo=UTC))
    assert risk.reset_daily("housekeeping").applied
    assert risk.roll_day_if_needed() is None
    assert risk.trading_day == date(2024, 3, 9)


def test_roll_after_days_of_downtime_lands_on_the_current_day() -> None:
    risk, clock = make()
    risk.record_fill(-10.0)
    clock.set(datetime(2024, 3, 12, 9, 0, tzinfo=UTC))
    event = risk.roll_day_if_needed()
    assert event is not None and event.trading_day == "2024-03-12"
    assert risk.roll_day_if_needed() is None


# ---------------------------------------------------------------- snapshots


def test_snapshot_through_json_resumes_limits_day_and_rate_window_exactly() -> None:
    cfg = RiskConfig(max_orders_per_second=2, max_orders_per_minute=10)
    risk, clock = make(cfg)
    risk.reset_daily("operator")
    risk.record_fill(-800.0)
    risk.record_fill(-0.1)
    risk.record_submission()
    clock.advance(0.25)
    risk.record_submission()
    restored = RiskManager(cfg, clock, json.loads(json.dumps(risk.snapshot())))
    assert restored.snapshot() == risk.snapshot()
    assert (restored.daily_pnl, restored.daily_trades) == (-800.1, 2)
    assert restored.last_reset_day == risk.last_reset_day == date(2024, 3, 8)
    assert restored.check(order(), 0.0, 100.0, 0.0).check == "order_rate"
    assert restored.check(order(worst_case_loss=250.0), 0.0, 100.0, 0.0).check == "max_daily_loss"
    assert not restored.reset_daily("operator").applied


def test_restored_state_from_an_earlier_day_rolls_on_the_first_bar() -> None:
    risk, clock = make()
    risk.record_fill(-400.0)
    snapshot = risk.snapshot()
    clock.set(datetime(2024, 3, 9, 8, 0, tzinfo=UTC))
    restored = RiskManager.from_snapshot(RiskConfig(), clock, snapshot)
    assert restored.daily_pnl == -400.0
    event = restored.roll_day_if_needed()
    assert event is not None and event.previous_pnl == -400.0 and restored.daily_pnl == 0.0


@pytest.mark.parametrize(
    "broken",
    [
        {},
        {"daily_pnl": "x", "daily_trades": 0, "trading_day": "2024-03-08",
         "last_reset_day": None, "submissions": []},
        {"daily_pnl": math.nan, "daily_trades": 0, "trading_day": "2024-03-08",
         "last_reset_day": None, "submissions": []},
        {"daily_pnl": 0.0, "daily_trades": -1, "trading_day": "2024-03-08",
         "last_reset_day": None, "submissions": []},
        {"daily_pnl": 0.0, "daily_trades": 0, "trading_day": "March",
         "last_reset_day": None, "submissions": []},
        {"daily_pnl": 0.0, "daily_trades": 0, "trading_day": "2024-03-08",
         "last_reset_day": None, "submissions": ["2024-03-08T12:00:00"]},
    ],
)
def test_unreadable_snapshot_raises_state_error(broken: dict[str, object]) -> None:
    with pytest.raises(StateError):
        RiskManager(RiskConfig(), SimulatedClock(START), broken)


def test_non_finite_realized_pnl_is_refused_and_state_unchanged() -> None:
    risk, _ = make()
    with pytest.raises(ValueError, match="realized_pnl"):
        risk.record_fill(math.nan)
    assert (risk.daily_pnl, risk.daily_trades) == (0.0, 0)


# ---------------------------------------------------------------- properties

_ops = st.lists(
    st.one_of(
        st.tuples(st.just("advance"), st.floats(0.0, 90_000.0)),
        st.tuples(st.just("fill"), st.floats(-500.0, 500.0)),
        st.tuples(st.just("order"), st.floats(0.0, 0.0)),
        st.tuples(st.just("reset"), st.floats(0.0, 0.0)),
    ),
    max_size=80,
)


@settings(max_examples=150, deadline=None)
@given(_ops)
def test_counters_stay_non_negative_and_throttle_holds_in_every_window(
    ops: list[tuple[str, float]],
) -> None:
    cfg = RiskConfig(
        max_orders_per_second=3, max_orders_per_minute=7, max_daily_trades=1000,
        max_daily_loss=1e9,
    )
    risk, clock = make(cfg)
    sent: list[datetime] = []
    fills_today = 0
    for op, value in ops:
        if op == "advance":
            clock.advance(value)
            if risk.roll_day_if_needed() is not None:
                fills_today = 0
        elif op == "fill":
            risk.record_fill(value)
            fills_today += 1
        elif op == "order":
            if risk.check(order(), 0.0, 100.0, 0.0).allowed:
                risk.record_submission()
                sent.append(clock.now())
        elif risk.reset_daily("operator").applied:
            fills_today = 0
        assert risk.daily_trades == fills_today >= 0
    for i, stamp in enumerate(sent):
        in_second = [t for t in sent[: i + 1] if stamp - t < timedelta(seconds=1)]
        in_minute = [t for t in sent[: i + 1] if stamp - t < timedelta(seconds=60)]
        assert len(in_second) <= 3 and len(in_minute) <= 7
