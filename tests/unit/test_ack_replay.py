"""A kill between the venue's answer and the next commit loses none of the answer's effects."""

from __future__ import annotations

from typing import Any

import pytest

from engine.faults import FaultPlan, FaultWindow
from engine.model import BrokerAck, OrderRequest, OrderStatus, Side, Signal
from engine.ports import Batch
from engine.session import TradingSession
from tests.unit.engine_harness import START, Rig, items, wave_bars

BREAKER_MEMORY = ("latency_samples", "slippage_samples", "rate_successes", "rate_failures",
                  "failure_window", "consecutive_failures")


class Crash(BaseException):
    """Stands in for kill -9 (BaseException so no handler eats it)."""


def breaker_memory(session: TradingSession) -> dict[str, Any]:
    """Return what the order answers feed in the breaker (crash reports leave it alone)."""
    snapshot = session.breaker.snapshot()
    return {key: snapshot[key] for key in BREAKER_MEMORY}


def figures(rig: Rig, session: TradingSession) -> dict[str, Any]:
    """Return what must equal the uninterrupted run's."""
    return {
        "fills": sorted(rig.store.fills),
        "book_fills": sorted(rig.book.fills),
        "cash": rig.store.state["portfolio"]["cash"],
        "execution": rig.store.state["execution"],
        "breaker": breaker_memory(session),
        "open": sorted(session._execution.open_intents),
    }


def kill_after_answers(rig: Rig, session: TradingSession, answers: int) -> None:
    """Make the first commit after the n-th answered submission die before it is written."""
    broker = session._execution._broker
    original_place, original_commit = broker.place_order, rig.store.commit
    seen: list[BrokerAck] = []

    def place(order: OrderRequest) -> BrokerAck:
        ack = original_place(order)
        seen.append(ack)
        return ack

    def commit(batch: Batch) -> None:
        if len(seen) >= answers:
            raise Crash
        original_commit(batch)

    broker.place_order = place  # type: ignore[method-assign]
    rig.store.commit = commit  # type: ignore[method-assign]


def run_with_kills(rig: Rig, bars: list[Any], kills: list[int]) -> TradingSession:
    """Run the bars, dying after the given answer counts, restarting after each death."""
    for answers in kills:
        session, _, _ = rig.start()
        kill_after_answers(rig, session, answers)
        with pytest.raises(Crash):
            session.run(items(bars))
        del rig.store.commit  # the instance patch: back to the class's commit
    session, _, _ = rig.start()
    session.run(items(bars))
    return session


@pytest.mark.parametrize("kills", [[1], [2, 1], [3, 1, 2]])
def test_an_answer_lost_before_its_commit_is_replayed_exactly(kills: list[int]) -> None:
    bars = wave_bars(400)
    reference = Rig()
    session, _, _ = reference.start()
    session.run(items(bars))
    assert reference.store.state["execution"]["orders_filled"] >= 3

    rig = Rig()
    resumed = run_with_kills(rig, bars, kills)

    assert figures(rig, resumed) == figures(reference, session)


def test_a_rejection_lost_before_its_commit_is_replayed_as_the_failure_it_was() -> None:
    faults = FaultPlan((FaultWindow(start=START, end=START.replace(year=2030),
                                    reject_rate=0.5),))
    bars = wave_bars(400)
    reference = Rig(faults=faults)
    session, _, _ = reference.start()
    session.run(items(bars))
    counts = reference.store.state["execution"]
    assert counts["orders_failed"] >= 1 and counts["orders_filled"] >= 1

    rig = Rig(faults=faults)
    resumed = run_with_kills(rig, bars, [1, 1, 2])

    assert figures(rig, resumed) == figures(reference, session)
    failed = [i for i in rig.store.intents.values() if i.status is OrderStatus.REJECTED]
    assert len(failed) == counts["orders_failed"]


def test_an_acknowledgement_without_a_commit_to_ride_is_committed_one_bar_later() -> None:
    rig = Rig()
    session, _, clock = rig.start()
    session.run(items(wave_bars(5)))  # a market price for the risk limits
    journal = session._journal
    execution = session._execution
    record = execution.handle_signal(Signal("TEST", Side.BUY, 1.0, clock.now(), (10, 30)), 100.0)
    cid = record.client_order_id
    assert cid is not None
    assert execution.open_intents[cid].status is OrderStatus.SUBMITTED

    journal.flush_if_pending()  # the close of the order's bar: it may ride with the fill
    assert rig.store.intents[cid].status is OrderStatus.PENDING_SUBMIT
    journal.flush_if_pending()  # the close of the next bar, which brought no commit

    assert rig.store.intents[cid].status is OrderStatus.SUBMITTED
    assert rig.store.batches[-1].state["breaker"]["rate_successes"]
