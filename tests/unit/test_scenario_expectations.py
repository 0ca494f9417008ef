"""Every scenario expectation passes on the outcome it describes and fails on another."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tradeguard.scenarios.expectations import (
    ClosedBy,
    CrashEquivalent,
    DailyResetAt,
    DataFeedIssueAt,
    DrillOutcome,
    EscalationTrigger,
    FlatAfterHalt,
    HalfOpenProbing,
    HighestLevel,
    JournalInvariants,
    NeverAbove,
    NeverDeniedBy,
    NoDuplicateClientOrderIds,
    NoDuplicateFills,
    NoOpeningOrderInHalt,
    NoOrderIn,
    StoreIntact,
    SymbolsTraded,
    ThrottledOrdersCut,
    Trades,
    TradesAfter,
    TransitionNear,
    build,
)
from tradeguard.scenarios.model import Expect, ThrottledOrders, TransitionAt, Window
from tradeguard.scenarios.observe import (
    Observation,
    ObservedFill,
    ObservedOrder,
    ObservedTransition,
    StoreHealth,
)

T0 = datetime(2022, 1, 21, 9, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def tr(minute: int, frm: str, to: str, trigger: str) -> ObservedTransition:
    return ObservedTransition(at(minute), frm, to, trigger, 1.0, 1.0)


def order(minute: int, qty: float = 0.01, conf: float = 1.0, reduce: bool = False,
          symbol: str = "BTC") -> ObservedOrder:
    return ObservedOrder(f"c{minute}{reduce}", symbol, at(minute), qty, conf, reduce, "FILLED")


def fill(minute: int, qty: float, symbol: str = "BTC") -> ObservedFill:
    return ObservedFill(f"f{minute}{symbol}", f"c{minute}", symbol, qty, at(minute))


def obs(transitions=(), orders=(), fills=(), denials=(), issues=(), resets=(),
        trades: int = 0, duplicates: int = 0) -> Observation:
    return Observation(tuple(transitions), tuple(orders), tuple(fills), tuple(denials),
                       tuple(issues), tuple(resets), {}, duplicates, trades,
                       transitions[-1].to_state if transitions else "CLOSED", 0.01)


STORM = [tr(5, "CLOSED", "ALERT", "consecutive_failures"),
         tr(6, "ALERT", "HALT", "consecutive_failures"),
         tr(21, "HALT", "HALF_OPEN", "cooldown"),
         tr(25, "HALF_OPEN", "CLOSED", "half_open_success")]


def judge(rule, o: Observation, drill: DrillOutcome | None = None) -> bool:
    return rule.judge(o, drill).passed


def test_highest_level_and_never_above() -> None:
    storm = obs(STORM)
    assert judge(HighestLevel("HALT"), storm)
    assert not judge(HighestLevel("THROTTLE"), storm)
    assert judge(NeverAbove("HALT"), storm)
    assert not judge(NeverAbove("ALERT"), storm)
    assert judge(NeverAbove("ALERT"), obs())


def test_escalation_trigger_reads_the_first_entry_to_the_top_state() -> None:
    assert judge(EscalationTrigger("consecutive_failures"), obs(STORM))
    verdict = EscalationTrigger("loss").judge(obs(STORM), None)
    assert not verdict.passed and "consecutive_failures" in verdict.observed
    assert not judge(EscalationTrigger("loss"), obs())


def test_transition_near_honours_the_tolerance_and_trigger() -> None:
    storm = obs(STORM)
    assert judge(TransitionNear(TransitionAt(to="HALT", at=at(7), tolerance_minutes=1)), storm)
    assert not judge(TransitionNear(TransitionAt(to="HALT", at=at(9), tolerance_minutes=1)), storm)
    assert not judge(
        TransitionNear(TransitionAt(to="HALT", at=at(6), tolerance_minutes=0, trigger="loss")),
        storm,
    )


def test_trades_zero_or_positive() -> None:
    assert judge(Trades("zero"), obs(trades=0))
    assert not judge(Trades("zero"), obs(trades=3))
    assert judge(Trades("positive"), obs(trades=3))
    assert not judge(Trades("positive"), obs(trades=0))


def test_never_denied_by_names_the_checks_seen() -> None:
    denied = obs(denials=[(at(1), "max_daily_trades")])
    verdict = NeverDeniedBy(("max_daily_trades",)).judge(denied, None)
    assert not verdict.passed and "max_daily_trades" in verdict.observed
    assert judge(NeverDeniedBy(("max_daily_trades",)), obs(denials=[(at(1), "price_collar")]))


def test_half_open_probing_and_closed_by() -> None:
    assert judge(HalfOpenProbing(), obs(STORM))
    assert not judge(HalfOpenProbing(), obs(STORM[:2]))
    assert judge(ClosedBy(at(30)), obs(STORM))
    assert not judge(ClosedBy(at(22)), obs(STORM))
    assert not judge(ClosedBy(at(30)), obs())  # never escalated: nothing was recovered


def test_no_opening_order_in_halt_allows_reduce_only_and_the_causing_order() -> None:
    assert judge(NoOpeningOrderInHalt(), obs(STORM, [order(6), order(10, reduce=True)]))
    assert not judge(NoOpeningOrderInHalt(), obs(STORM, [order(10)]))
    assert not judge(NoOpeningOrderInHalt(), obs([], [order(10)]))  # never halted


def test_flat_after_halt_needs_a_closing_order_per_open_symbol() -> None:
    fills = [fill(1, 0.5), fill(2, 0.3, "ETH")]
    closing = [order(6, reduce=True), order(7, reduce=True, symbol="ETH")]
    assert judge(FlatAfterHalt(), obs(STORM, closing, fills))
    assert not judge(FlatAfterHalt(), obs(STORM, closing[:1], fills))


def test_throttled_orders_must_be_cut_and_confident() -> None:
    throttle = [tr(1, "CLOSED", "THROTTLE", "api_latency"), tr(20, "THROTTLE", "ALERT", "cooldown")]
    rule = ThrottledOrdersCut(ThrottledOrders(size_factor=0.5, min_confidence=0.7))
    assert judge(rule, obs(throttle, [order(5, qty=0.005, conf=0.9)]))
    assert not judge(rule, obs(throttle, [order(5, qty=0.01, conf=0.9)]))
    assert not judge(rule, obs(throttle, [order(5, qty=0.005, conf=0.6)]))
    assert not judge(rule, obs(throttle, []))  # vacuous: no order was throttled


def test_data_feed_issue_no_order_in_window_and_trades_after() -> None:
    o = obs(orders=[order(30)], fills=[fill(31, 0.01)], issues=[at(10)])
    assert judge(DataFeedIssueAt(at(10)), o)
    assert not judge(DataFeedIssueAt(at(20)), o)
    assert judge(NoOrderIn((Window(start=at(0), end=at(30)),)), o)
    assert not judge(NoOrderIn((Window(start=at(0), end=at(31)),)), o)
    assert judge(TradesAfter(at(30)), o)
    assert not judge(TradesAfter(at(31)), o)


def test_symbols_traded_needs_fills_in_each() -> None:
    o = obs(fills=[fill(1, 1.0, "BTC"), fill(2, 1.0, "ETH")])
    assert judge(SymbolsTraded(("BTC", "ETH")), o)
    assert not judge(SymbolsTraded(("BTC", "ETH", "LTC")), o)


def test_daily_reset_at_the_boundary_and_not_before() -> None:
    boundary = at(60)
    good = obs(denials=[(at(30), "max_daily_trades")], fills=[fill(61, 1.0)],
               resets=[(boundary, "2022-01-21", 10)])
    assert judge(DailyResetAt(boundary, True), good)
    early = obs(denials=[(at(30), "max_daily_trades")], fills=[fill(61, 1.0)],
                resets=[(at(40), "2022-01-21", 3), (boundary, "2022-01-21", 10)])
    assert not judge(DailyResetAt(boundary, True), early)
    unlimited = obs(fills=[fill(61, 1.0)], resets=[(boundary, "2022-01-21", 10)])
    assert not judge(DailyResetAt(boundary, True), unlimited)


def test_crash_equivalence_needs_kills_and_no_difference() -> None:
    assert judge(CrashEquivalent(), obs(), DrillOutcome(3, ()))
    assert not judge(CrashEquivalent(), obs(), DrillOutcome(3, ("fills",)))
    assert not judge(CrashEquivalent(), obs(), DrillOutcome(0, ()))
    assert not judge(CrashEquivalent(), obs(), None)


def test_duplicate_fills_fail() -> None:
    assert judge(NoDuplicateFills(), obs())
    assert not judge(NoDuplicateFills(), obs(duplicates=1))


def test_store_rules_fail_on_a_damaged_store_and_when_not_checked() -> None:
    healthy = replace(obs(), health=StoreHealth("ok", (), ()))
    damaged = replace(obs(), health=StoreHealth(
        "*** page 3 is never used", ("c-1", "c-2"), ("trade_values_valid (2 rows)",)))
    for rule in (StoreIntact(), NoDuplicateClientOrderIds(), JournalInvariants()):
        assert judge(rule, healthy)
        verdict = rule.judge(damaged, None)
        assert not verdict.passed
        assert verdict.observed != "not checked"
        assert not judge(rule, obs())  # never checked fails closed
    assert "c-1" in NoDuplicateClientOrderIds().judge(damaged, None).observed


STORE_RULES = ["no_duplicate_client_order_ids", "store_intact", "journal_invariants"]


@pytest.mark.parametrize("block, names", [
    ({}, ["no_duplicate_fills", *STORE_RULES]),
    ({"highest_level": "HALT", "trades": "zero"},
     ["highest_level", "trades_executed", "no_duplicate_fills", *STORE_RULES]),
    ({"half_open_probing": True, "flat_after_halt": False, "store_intact": False},
     ["half_open_probing", "no_duplicate_fills", "no_duplicate_client_order_ids",
      "journal_invariants"]),
])
def test_build_turns_every_key_into_one_rule(block: dict, names: list[str]) -> None:
    assert [r.name for r in build(Expect.model_validate(block))] == names
