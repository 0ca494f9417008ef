"""The session loop on in-memory fakes: ordering, journaling before the broker, resumption."""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from typing import Any

import pytest

from engine.events import BreakerTransitioned, OrderDenied
from engine.execution import ExecutionCounters, OrderExecutionEngine
from engine.feed import FeedItem
from engine.journal import EngineJournal, EngineState
from engine.model import OrderRequest, OrderStatus, Side, Signal
from engine.ports import Batch, OperatorCommand
from engine.session import SessionConfig
from engine.session_state import SessionProgress
from tests.unit.engine_harness import START, Rig, engine_config, items, wave_bars


class Crash(BaseException):
    """Stands in for kill -9: nothing after it runs (BaseException so no handler eats it)."""


def crashing(stream: Iterator[FeedItem], after: int) -> Iterator[FeedItem]:
    """Yield `after` items, then die."""
    for n, item in enumerate(stream):
        if n == after:
            raise Crash
        yield item


def final_figures(rig: Rig) -> dict[str, Any]:
    """Return what must be equal between an interrupted and an uninterrupted run."""
    state = rig.store.state
    return {
        "cash": state["portfolio"]["cash"],
        "positions": {s: p.quantity for s, p in sorted(rig.store.positions.items())},
        "trades": state["execution"]["trades_executed"],
        "fills": sorted(rig.store.fills),
        "book_fills": sorted(f.fill_id for cid in rig.store.intents
                             for f in rig.book.fills_for(cid)),
    }


def test_crossover_orders_fill_at_next_bar_and_are_journaled() -> None:
    rig = Rig()
    session, _, _ = rig.start()
    bars = wave_bars(400)
    end = session.run(items(bars))
    assert not end.stopped_by_breaker
    execution = rig.store.state["execution"]
    assert execution["orders_submitted"] >= 4
    assert execution["trades_executed"] == execution["orders_filled"] == len(rig.store.fills)
    by_time = {b.ts: b for b in bars}
    for fill in rig.store.fills.values():
        intent = rig.store.intents[fill.client_order_id]
        assert intent.status is OrderStatus.FILLED
        # Sent while handling bar t (at t+1m), filled at the open of bar t+1.
        fill_bar = by_time[intent.request.created_at.replace(second=0)]
        assert fill.ts >= fill_bar.ts


def test_intent_is_committed_before_the_broker_is_called() -> None:
    rig = Rig()
    session, broker, _ = rig.start()
    seen: list[OrderStatus] = []
    original = broker.place_order

    def spying(order: OrderRequest) -> Any:
        seen.append(rig.store.intents[order.client_order_id].status)
        return original(order)

    broker.place_order = spying  # type: ignore[method-assign]
    session.run(items(wave_bars(300)))
    assert seen and all(status is OrderStatus.PENDING_SUBMIT for status in seen)


def test_breaker_denial_is_an_event_and_a_signal_in_halt_is_denied_not_sent() -> None:
    rig = Rig()
    session, _, clock = rig.start()
    session.breaker.manual_override_enable("test", who="tester")
    session.run(items(wave_bars(300)))
    denials = [e for e in rig.events if isinstance(e, OrderDenied)]
    assert denials and all(d.check == "breaker" for d in denials)
    assert rig.store.state["execution"]["orders_submitted"] == 0
    # The one order path: a signal through the gates, denied by the breaker and journaled.
    signal = Signal("TEST", Side.BUY, 1.0, clock.now(), (10, 30))
    before = len(rig.store.batches)
    record = session._execution.handle_signal(signal, 100.0)
    assert record.outcome == "denied" and record.reason.startswith("halt:")
    # Journaled at the bar's close, not in the middle of the bar (see note_decision).
    assert len(rig.store.batches) == before
    session._journal.flush_if_pending()
    assert rig.store.batches[-1].denials[0].check == "breaker"
    assert [s.outcome for s in rig.store.batches[-1].signals] == ["denied"]
    assert record.client_order_id not in rig.store.intents
    # The denial carries the breaker state that refused it (seed 001's OPEN exception, as data).
    assert rig.store.batches[-1].denials[0].reason.startswith("halt:")


def test_operator_commands_take_effect_within_one_bar() -> None:
    rig = Rig()
    session, _, _ = rig.start()
    bars = wave_bars(200)
    rig.store.commands.append(OperatorCommand(1, "halt", "maintenance", "ops", START))
    session.run(items(bars[:1]))
    assert session.breaker.state.value == "HALT"
    assert rig.store.commands == []
    actions = [b.operator_actions for b in rig.store.batches if b.operator_actions]
    assert any(a.action.startswith("manual_override") or a.action == "halt"
               for batch in actions for a in batch)


def test_unparsable_and_invalid_bars_are_counted_and_never_traded() -> None:
    rig = Rig()
    session, _, _ = rig.start()
    bars = wave_bars(120)
    stream = list(items(bars))
    broken = bars[50]._replace(high=bars[50].low * 0.5)
    stream[50] = FeedItem("TEST", 52, broken.ts, broken, None)
    stream.insert(70, FeedItem("TEST", 72, bars[69].ts, None, "open: not a number ('abc')"))
    session.run(iter(stream))
    counters = rig.store.state["session"]
    assert counters["bad_bars"] == 2
    assert counters["bars"] == 119


@pytest.mark.parametrize("crash_at", [37, 133, 250, 377])
def test_a_killed_session_resumes_to_the_same_result(crash_at: int) -> None:
    bars = wave_bars(500)
    reference = Rig()
    reference.start()[0].run(items(bars))

    rig = Rig()
    session, _, _ = rig.start()
    with pytest.raises(Crash):
        session.run(crashing(items(bars), crash_at))
    session, _, _ = rig.start()
    session.run(items(bars))
    assert final_figures(rig) == final_figures(reference)


def test_a_kill_inside_the_broker_call_never_duplicates_the_order() -> None:
    bars = wave_bars(500)
    reference = Rig()
    reference.start()[0].run(items(bars))
    rng = random.Random(3)
    rig = Rig()
    for _ in range(12):
        session, broker, _ = rig.start()
        original = broker.place_order
        when = rng.choice(["before", "after"])

        def dying(order: OrderRequest, original: Any = original, when: str = when) -> Any:
            if when == "before":
                raise Crash
            original(order)
            raise Crash

        if rng.random() < 0.7:
            broker.place_order = dying  # type: ignore[method-assign]
        try:
            session.run(items(bars))
            break
        except Crash:
            continue
    session, _, _ = rig.start()
    session.run(items(bars))
    assert final_figures(rig) == final_figures(reference)
    cids = [b.client_order_id for batch in rig.store.batches for b in batch.fills]
    assert len(cids) == len(set(cids))


def test_halt_closes_open_positions_at_market() -> None:
    rig = Rig(config=engine_config(session=SessionConfig(checkpoint_every_bars=50)))
    session, _, _ = rig.start()
    bars = wave_bars(400)
    # Trade until a position is open, then force HALT and keep feeding bars.
    stream = items(bars)
    for item in stream:
        session.run(iter([item]))
        if any(p.quantity for p in session.portfolio.positions().values()):
            break
    session.breaker.manual_override_enable("flatten test", who="tester")
    session.run(stream)
    assert all(p.quantity == 0 for p in session.portfolio.positions().values())
    flats = [c for c in rig.store.intents if "-FLAT-" in c]
    assert flats and all(rig.store.intents[c].request.reduce_only for c in flats)


def test_shutdown_stops_the_session() -> None:
    rig = Rig()
    session, _, _ = rig.start()
    from engine.circuit_breaker import IssueType

    session.breaker.report_critical_error(IssueType.DATABASE_CORRUPTION, {"detail": "test"})
    end = session.run(items(wave_bars(100)))
    assert end.stopped_by_breaker
    assert rig.store.state["session"]["bars"] == 0
    assert any(isinstance(e, BreakerTransitioned) and e.to_state == "SHUTDOWN"
               for e in rig.events)


def test_throttle_halves_an_opening_order_exactly_once() -> None:
    rig = Rig()
    session, _, clock = rig.start()
    session.run(items(wave_bars(5)))  # gives the risk limits a market price, fires nothing
    for n in range(3):
        session.breaker.report_order_failure({"client_order_id": f"x{n}", "reason": "test"})
    assert session.breaker.state.value == "THROTTLE"
    signal = Signal("TEST", Side.BUY, 1.0, clock.now(), (10, 30))
    record = session._execution.handle_signal(signal, 100.0)
    assert (record.outcome, record.reason) == ("ordered", "")
    assert record.client_order_id is not None
    intent = rig.store.intents[record.client_order_id]
    assert intent.request.quantity == pytest.approx(0.5 * rig.config.strategy.order_quantity)


def test_execution_commits_through_the_journal_without_a_session_behind_it() -> None:
    rig = Rig()
    session, broker, clock = rig.start()
    session.run(items(wave_bars(5)))  # a market price for the risk limits, no signal yet
    counters = ExecutionCounters()
    state = EngineState(SessionProgress(), session.breaker, session.risk, session.portfolio,
                        counters, session._strategy, clock)
    journal = EngineJournal(rig.store, state)
    execution = OrderExecutionEngine(
        clock=clock, breaker=session.breaker, risk=session.risk, broker=broker,
        portfolio=session.portfolio, strategy=rig.config.strategy, journal=journal,
        counters=counters,
    )
    before = len(rig.store.batches)
    record = execution.handle_signal(Signal("TEST", Side.BUY, 1.0, clock.now(), (10, 30)), 100.0)
    assert record.outcome == "ordered"
    committed = rig.store.batches[before:]
    # The intent is durable before the broker call; the acknowledgement rides along with the
    # next commit (recovery replays it from the venue's record after a crash).
    assert [b.intents[0].status for b in committed] == [OrderStatus.PENDING_SUBMIT]
    # The intent commit carries the intent only; its signal row and the sections ride along
    # with the next commit (a crash before it re-derives them: test_held_intents.py).
    assert committed[0].state == {}
    assert committed[0].signals == []
    assert rig.store.intents[record.client_order_id].status is OrderStatus.PENDING_SUBMIT
    journal.commit(Batch())
    latest = rig.store.batches[-1]
    assert [i.status for i in latest.intents] == [OrderStatus.SUBMITTED]
    assert [s.outcome for s in latest.signals] == ["ordered"]
    assert latest.state["execution"]["orders_submitted"] == 1
    assert latest.state["execution"]["unanswered"] == []
    assert rig.store.intents[record.client_order_id].status is OrderStatus.SUBMITTED
    assert "breaker" in latest.state  # the acknowledgement's latency sample
    # Only sections that changed since the last commit are written again.
    journal.commit(Batch())
    assert rig.store.batches[-1].state == {}


def test_a_filled_acknowledgement_never_marks_an_intent_filled_without_its_fills() -> None:
    # Issue 8 §1: a journal older than the venue (a restored backup) re-sends known client
    # ids; the venue answers with its stored FILLED acknowledgement.
    rig = Rig()
    rig.start()
    backup = copy.deepcopy(rig.store)
    bars = wave_bars(400)
    session, _, _ = rig.start()
    session.run(items(bars[:200]))
    assert rig.book.fills, "the first run must trade for the test to mean anything"
    restored = Rig(config=rig.config, store=backup, book=rig.book)
    session, _, _ = restored.start()
    session.run(items(bars[:200]))
    filled = [i for i in backup.intents.values() if i.status is OrderStatus.FILLED]
    booked = {f.client_order_id for f in backup.fills.values()}
    assert filled
    assert all(i.client_order_id in booked for i in filled)
    # Every venue fill of an order the journal re-sent is booked, and only once.
    assert set(backup.fills) <= set(rig.book.fills)
    assert sum(len(b.fills) for b in backup.batches) == len(backup.fills)
