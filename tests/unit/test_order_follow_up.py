"""Orders the venue ends after acknowledging them: followed up, failed, known to sizing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from engine.broker import BrokerConfig
from engine.events import IssueReported
from engine.faults import FaultPlan, FaultWindow
from engine.model import OrderStatus, Side
from engine.risk import RiskConfig
from tests.unit.engine_harness import START, Rig, engine_config, items, wave_bars

STORM = FaultPlan([FaultWindow(START, START + timedelta(days=1), slippage_pct=3.0)])


def short_of_cash_rig() -> Rig:
    """Cash covers one unit at the reference price but not after 3 % adverse slippage."""
    config = engine_config(broker=BrokerConfig(starting_cash=102.0))
    return Rig(config=config, faults=STORM)


def venue_orders(rig: Rig) -> dict[str, Any]:
    return dict(rig.book.orders)


def test_an_order_cancelled_at_fill_is_a_failed_order_reported_to_the_breaker() -> None:
    rig = short_of_cash_rig()
    session, _, _ = rig.start()

    session.run(items(wave_bars(400)))

    cancelled = {cid for cid, o in venue_orders(rig).items()
                 if o.status is OrderStatus.CANCELLED}
    assert cancelled, "the scenario must make the venue cancel at fill"
    assert all("insufficient funds at fill" in rig.book.orders[c].reason for c in cancelled)
    for cid in cancelled:
        assert rig.store.intents[cid].status is OrderStatus.CANCELLED
    execution = rig.store.state["execution"]
    assert execution["orders_failed"] == len(cancelled)
    failures = [e for e in rig.events if isinstance(e, IssueReported)
                and e.issue_type == "ORDER_FAILURE" and e.details.get("ended_by") == "venue"]
    assert {e.details["client_order_id"] for e in failures} == cancelled


def test_no_sell_is_sent_for_a_buy_that_never_filled() -> None:
    rig = short_of_cash_rig()
    session, _, _ = rig.start()

    session.run(items(wave_bars(400)))

    sides = {o.side for o in venue_orders(rig).values()}
    assert sides == {Side.BUY}
    assert not any("no position to reduce" in o.reason for o in venue_orders(rig).values())
    at_target = [s for b in rig.store.batches for s in b.signals
                 if s.side is Side.SELL and s.outcome == "at_target"]
    assert at_target


def test_submitted_equals_filled_plus_failed_plus_open_at_end_of_data() -> None:
    # Cancelled at fill during the first 200 minutes, filled after them.
    half = FaultPlan([FaultWindow(START, START + timedelta(minutes=200), slippage_pct=3.0)])
    rig = Rig(config=engine_config(broker=BrokerConfig(starting_cash=102.0)), faults=half)
    session, _, _ = rig.start()

    session.run(items(wave_bars(400)))

    execution = rig.store.state["execution"]
    open_intents = [i for i in rig.store.intents.values() if not i.status.is_final]
    assert execution["orders_failed"] > 0 and execution["orders_filled"] > 0
    assert execution["orders_submitted"] == (
        execution["orders_filled"] + execution["orders_failed"] + len(open_intents)
    )
    assert session.orders_open == len(open_intents)
    assert all(i.status is not OrderStatus.SUBMITTED or i.request.created_at
               >= START + timedelta(minutes=398) for i in open_intents)


def test_a_market_order_beyond_its_collar_is_cancelled_not_filled() -> None:
    config = engine_config(risk=RiskConfig(max_daily_trades=1000, max_orders_per_minute=100,
                                           price_collar_pct=1.0))
    rig = Rig(config=config, faults=STORM)
    session, _, _ = rig.start()

    session.run(items(wave_bars(400)))

    orders = venue_orders(rig).values()
    assert orders and not rig.book.fills
    assert all(o.status is OrderStatus.CANCELLED and "price collar" in o.reason for o in orders)
    assert all(o.collar_price is not None for o in orders)
    execution = rig.store.state["execution"]
    assert execution["orders_failed"] == len(orders) and execution["orders_filled"] == 0


def test_a_restart_after_a_venue_cancel_counts_it_once() -> None:
    rig = short_of_cash_rig()
    bars = wave_bars(400)
    session, _, _ = rig.start()
    session.run(items(bars[:200]))
    failed_first = rig.store.state["execution"]["orders_failed"]

    again, _, _ = rig.start()
    again.run(items(bars))

    reference = short_of_cash_rig()
    whole, _, _ = reference.start()
    whole.run(items(bars))
    assert 0 < failed_first <= rig.store.state["execution"]["orders_failed"]
    assert rig.store.state["execution"] == reference.store.state["execution"]


def test_unanswered_submits_count_once_as_filled_or_failed_when_the_venue_answers() -> None:
    timeouts = FaultPlan([FaultWindow(START, START + timedelta(hours=3), timeout_rate=1.0)])
    rig = Rig(faults=timeouts)
    session, _, _ = rig.start()

    session.run(items(wave_bars(400)))

    execution = rig.store.state["execution"]
    statuses = [i.status for i in rig.store.intents.values()]
    assert OrderStatus.UNKNOWN not in statuses[:-1]
    assert execution["orders_filled"] == statuses.count(OrderStatus.FILLED)
    assert execution["orders_failed"] == (
        statuses.count(OrderStatus.REJECTED) + statuses.count(OrderStatus.CANCELLED)
    )
    assert execution["orders_submitted"] == len(statuses) == (
        execution["orders_filled"] + execution["orders_failed"] + session.orders_open
    )
    failures = [e for e in rig.events if isinstance(e, IssueReported)
                and e.issue_type == "ORDER_FAILURE"]
    timed_out = {e.details["client_order_id"] for e in failures if "error" in e.details}
    assert timed_out and len(failures) == len(timed_out)  # reported once, at the timeout
