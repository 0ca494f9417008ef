"""Orders a venue fills in several trades: each trade booked once, the order counted once."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest

from engine.model import BrokerOrder, Fill, OrderStatus, Side
from tests.unit.engine_harness import START, Rig

AT = START + timedelta(minutes=5)


@dataclass
class Ledger:
    """A venue's own record (engine unit tests may fake the venue)."""

    fills: list[Fill] = field(default_factory=list)
    working: list[BrokerOrder] = field(default_factory=list)

    def fills_since(self, since: datetime | None) -> list[Fill]:
        return [f for f in self.fills if since is None or f.ts >= since]

    def open_orders(self) -> list[BrokerOrder]:
        return list(self.working)


def trade(n: int, cid: str, quantity: float, price: float, side: Side = Side.BUY) -> Fill:
    return Fill(f"venue-trade-{n}", cid, "TEST", side, quantity, price, 0.1,
                AT + timedelta(seconds=n))


def test_three_trades_of_one_order_move_cash_and_cost_and_count_one_filled_order() -> None:
    rig = Rig()
    session, _, _ = rig.start()
    fills = [trade(1, "o1", 1.0, 100.0), trade(2, "o1", 2.0, 103.0), trade(3, "o1", 1.0, 99.0)]

    result = session.sync_with_venue(Ledger(fills), None)

    assert result.fills_booked == ("venue-trade-1", "venue-trade-2", "venue-trade-3")
    assert result.intents_adopted == ("o1",)
    state = session.snapshot()
    position = state["portfolio"]["positions"]["TEST"]
    assert position["quantity"] == pytest.approx(4.0)
    assert position["average_price"] == pytest.approx((100.0 + 206.0 + 99.0) / 4.0)
    assert state["portfolio"]["cash"] == pytest.approx(100_000.0 - 405.0 - 0.3)
    assert state["execution"]["orders_filled"] == 1
    assert state["execution"]["trades_executed"] == 1
    assert state["execution"]["fees"] == pytest.approx(0.3)
    assert state["risk"]["daily_trades"] == 1
    assert rig.store.intents["o1"].status is OrderStatus.FILLED
    assert len(rig.store.fills) == 3

    again = session.sync_with_venue(Ledger(fills), None)
    assert again.fills_booked == () and session.snapshot()["execution"]["orders_filled"] == 1


def test_trades_of_an_order_still_working_keep_it_open_until_its_last() -> None:
    rig = Rig()
    session, _, _ = rig.start()
    working = BrokerOrder("o2", "v2", "TEST", Side.BUY, 3.0, OrderStatus.SUBMITTED, 2.0, 100.0)
    first = [trade(1, "o2", 1.0, 100.0), trade(2, "o2", 1.0, 100.0)]

    session.sync_with_venue(Ledger(first, [working]), None)

    assert rig.store.intents["o2"].status is OrderStatus.SUBMITTED
    assert session.snapshot()["execution"]["orders_filled"] == 0
    assert session.snapshot()["portfolio"]["positions"]["TEST"]["quantity"] == pytest.approx(2.0)
    # Two of three are booked: the position holds them, the open order only its last one.
    assert session.exposure("TEST") == pytest.approx(3.0)
    assert session.snapshot()["execution"]["working_filled"] == {"o2": pytest.approx(2.0)}

    session.sync_with_venue(Ledger([*first, trade(3, "o2", 1.0, 100.0)]), None)

    state = session.snapshot()
    assert rig.store.intents["o2"].status is OrderStatus.FILLED
    assert state["execution"]["orders_filled"] == 1
    assert state["risk"]["daily_trades"] == 1
    assert state["portfolio"]["positions"]["TEST"]["quantity"] == pytest.approx(3.0)
    assert session.exposure("TEST") == pytest.approx(3.0)
    assert state["execution"]["working_filled"] == {}


def test_the_booked_part_of_a_working_order_survives_the_snapshot() -> None:
    from engine.execution_counters import ExecutionCounters

    counters = ExecutionCounters(orders_adopted=1, working_filled={"o2": 2.0})
    again = ExecutionCounters.from_snapshot(counters.snapshot())
    assert again == counters
    assert ExecutionCounters.from_snapshot({"orders_submitted": 3}).working_filled == {}


def test_a_fill_of_a_past_trading_day_changes_none_of_todays_counters() -> None:
    from engine.clock import SimulatedClock
    from engine.risk import RiskConfig, RiskManager

    today = START + timedelta(days=1, hours=3)
    risk = RiskManager(RiskConfig(), SimulatedClock(today))

    risk.record_fill(-50.0, at=START + timedelta(hours=20))  # yesterday, booked late
    assert (risk.daily_trades, risk.daily_pnl) == (0, 0.0)

    risk.record_fill(-50.0, at=today - timedelta(hours=1))
    risk.record_fill(-5.0, trade=False, at=today)
    assert (risk.daily_trades, risk.daily_pnl) == (1, -55.0)
