"""An intent journaled alone before the broker call: a kill before the next commit loses nothing.

The intent commit carries the intent and its signal row only. After a kill before the next
commit the stored snapshot predates the intent; the restarted replay re-runs the bars from the
stored cursor and takes the intent up where the lost run sent it (OrderSettlement.resume_held),
so the result equals the uninterrupted run's, counters and breaker memory included.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from engine.assembly import assemble
from engine.broker import PaperBroker
from engine.circuit_breaker import CircuitConfig
from engine.clock import SystemClock
from engine.execution_counters import split_unsnapshotted
from engine.faults import FaultPlan, FaultWindow
from engine.model import BrokerAck, OrderIntent, OrderRequest, OrderStatus, Side
from engine.session import TradingSession
from tests.unit.engine_harness import Rig, engine_config, items, wave_bars
from tests.unit.test_ack_replay import breaker_memory

T0 = datetime(2022, 1, 3, tzinfo=UTC)


class Crash(BaseException):
    """Stands in for kill -9 (BaseException so no handler eats it)."""


def figures(rig: Rig, session: TradingSession) -> dict[str, Any]:
    """Return what must equal the uninterrupted run's."""
    state = rig.store.state
    return {
        "fills": sorted(rig.store.fills),
        "book_fills": sorted(rig.book.fills),
        "cash": state["portfolio"]["cash"],
        "execution": state["execution"],
        "risk": state["risk"],
        "breaker": breaker_memory(session),
        "open": sorted(session._execution.open_intents),
        "intents": sorted((cid, i.status.value) for cid, i in rig.store.intents.items()),
    }


def kill_at_order(session: TradingSession, order: int, *, venue_booked: bool) -> None:
    """Die in the n-th broker call: before the venue books the order, or after it answered."""
    broker = session._execution._broker
    original = broker.place_order
    calls: list[OrderRequest] = []

    def place(request: OrderRequest) -> BrokerAck:
        calls.append(request)
        if len(calls) < order:
            return original(request)
        if venue_booked:
            original(request)
        raise Crash

    broker.place_order = place  # type: ignore[method-assign]


@pytest.mark.parametrize("venue_booked", [False, True], ids=["before_broker", "inside_broker"])
@pytest.mark.parametrize("kills", [[1], [2, 1], [3, 3]])
def test_a_kill_after_the_intent_commit_converges_to_the_uninterrupted_run(
    kills: list[int], venue_booked: bool
) -> None:
    bars = wave_bars(400)
    reference = Rig()
    session, _, _ = reference.start()
    session.run(items(bars))
    assert reference.store.state["execution"]["orders_filled"] >= 4

    rig = Rig()
    for order in kills:
        crashed, _, _ = rig.start()
        kill_at_order(crashed, order, venue_booked=venue_booked)
        with pytest.raises(Crash):
            crashed.run(items(bars))
        # The killed order's intent is durable, and no snapshot counts it yet.
        stored = [i for i in rig.store.intents.values()
                  if i.status is OrderStatus.PENDING_SUBMIT]
        assert len(stored) == 1
        assert stored[0].client_order_id not in rig.store.state["execution"]["unanswered"]
    resumed, _, _ = rig.start()
    resumed.run(items(bars))

    assert figures(rig, resumed) == figures(reference, session)


def intent(cid: str, status: OrderStatus) -> OrderIntent:
    request = OrderRequest(cid, "TEST", Side.BUY, 1.0, 100.0, T0)
    return OrderIntent(request, status, T0)


def test_only_pending_intents_no_snapshot_counts_are_held() -> None:
    pending, listed, working = (intent("a", OrderStatus.PENDING_SUBMIT),
                                intent("b", OrderStatus.PENDING_SUBMIT),
                                intent("c", OrderStatus.SUBMITTED))
    every = [pending, listed, working]

    assert split_unsnapshotted({"unanswered": ["b"]}, every) == ([listed, working], [pending])
    # No snapshot yet: the run that journaled the intent committed nothing else.
    assert split_unsnapshotted(None, every) == ([working], [pending, listed])
    # A section without the list was written when the intent commit carried the sections.
    assert split_unsnapshotted({"orders_submitted": 2}, every) == (every, [])


def test_a_live_restart_takes_an_unsnapshotted_intent_up_in_recovery() -> None:
    rig = Rig()
    crashed, _, _ = rig.start()
    kill_at_order(crashed, 1, venue_booked=True)
    with pytest.raises(Crash):
        crashed.run(items(wave_bars(400)))
    submitted = rig.store.state["execution"]["orders_submitted"]
    (cid,) = [c for c, i in rig.store.intents.items() if i.status is OrderStatus.PENDING_SUBMIT]

    recovered = rig.store.load()
    clock = SystemClock()
    broker = PaperBroker(rig.config.broker, clock, rig.book, None, seed=rig.seed)
    session = assemble(rig.config, clock=clock, store=rig.store, broker=broker,
                       recovered=recovered)
    execution = session._execution
    assert cid in execution.held  # until recovery: the venue sync leaves it alone
    outcome = session.recover(recovered.open_intents)

    assert execution.held == {}
    assert cid in execution.open_intents
    assert execution.stats.orders_submitted == submitted + 1
    assert outcome == {"SUBMITTED": 1}  # the venue's stored answer, applied


def test_a_run_stopped_before_the_held_intent_leaves_it_held_for_the_next_start() -> None:
    bars = wave_bars(400)
    reference = Rig()
    session, _, _ = reference.start()
    session.run(items(bars))

    rig = Rig()
    crashed, _, _ = rig.start()
    kill_at_order(crashed, 2, venue_booked=True)
    with pytest.raises(Crash):
        crashed.run(items(bars))
    (cid,) = [c for c, i in rig.store.intents.items() if i.status is OrderStatus.PENDING_SUBMIT]
    stopped, _, _ = rig.start()
    assert cid in stopped._execution.held
    stopped.run(items(bars), should_stop=lambda: "operator stop")  # stops before any bar

    assert rig.store.intents[cid].status is OrderStatus.PENDING_SUBMIT
    assert rig.store.state["execution"]["unanswered"] == []
    resumed, _, _ = rig.start()
    assert cid in resumed._execution.held
    resumed.run(items(bars))
    assert figures(rig, resumed) == figures(reference, session)


def _restart_with_unsent_intent(
    halt: bool, release: bool = False
) -> tuple[Rig, TradingSession, str, int]:
    """Kill before the venue hears of an order; restart live with the breaker halted or not."""
    rig = Rig()
    crashed, _, _ = rig.start()
    kill_at_order(crashed, 1, venue_booked=False)
    with pytest.raises(Crash):
        crashed.run(items(wave_bars(400)))
    (cid,) = [c for c, i in rig.store.intents.items() if i.status is OrderStatus.PENDING_SUBMIT]
    failed = rig.store.state["execution"]["orders_failed"]
    recovered = rig.store.load()
    clock = SystemClock()
    broker = PaperBroker(rig.config.broker, clock, rig.book, None, seed=rig.seed)
    session = assemble(rig.config, clock=clock, store=rig.store, broker=broker,
                       recovered=recovered)
    if halt:  # the operator halted trading while the process was down
        session.breaker.manual_override_enable("venue maintenance", "ops")
    if release:  # and lifted it again: the breaker probes in HALF_OPEN
        session.breaker.manual_override_disable("maintenance over", "ops")
    session.recover(recovered.open_intents)
    return rig, session, cid, failed


def test_an_unsent_intent_is_not_sent_late_when_the_breaker_now_refuses_it() -> None:
    rig, session, cid, failed = _restart_with_unsent_intent(halt=True)

    assert rig.book.get_order(cid) is None  # never reached the venue
    stored = rig.store.intents[cid]
    assert stored.status is OrderStatus.CANCELLED
    assert "not sent after a restart" in stored.reason
    assert "manual override" in stored.reason
    execution = session._execution
    assert cid not in execution.open_intents
    assert execution.stats.orders_failed == failed + 1
    assert execution.stats.denials["breaker"] >= 1
    denials = [d for b in rig.store.batches for d in b.denials if d.client_order_id == cid]
    assert [d.check for d in denials] == ["breaker"]


def test_an_unsent_intent_the_breaker_still_allows_is_sent_at_restart() -> None:
    rig, session, cid, _ = _restart_with_unsent_intent(halt=False)

    assert rig.book.get_order(cid) is not None
    assert rig.store.intents[cid].status is OrderStatus.SUBMITTED
    assert cid in session._execution.open_intents


def test_an_unsent_intent_is_not_sent_late_at_full_size_while_the_breaker_probes() -> None:
    # Halted and released while down: HALF_OPEN lets an entry through at a fraction of its
    # size; the late send of a full-size entry is the very order the probe is meant to shrink.
    rig, session, cid, failed = _restart_with_unsent_intent(halt=True, release=True)

    assert session.breaker.state.value == "HALF_OPEN"
    assert rig.book.get_order(cid) is None
    stored = rig.store.intents[cid]
    assert stored.status is OrderStatus.CANCELLED
    assert "not sent after a restart" in stored.reason
    assert session._execution.stats.orders_failed == failed + 1


def test_an_entry_shrunk_in_throttle_and_killed_before_sending_resumes_as_the_clean_run() -> None:
    # THROTTLE stays on (long cooldown) after a latency burst: later entries go out at x0.5.
    config = engine_config(breaker=CircuitConfig(throttle_cooldown_seconds=86_400.0,
                                                 throttle_min_confidence=0.0))
    plan = FaultPlan([FaultWindow(T0 + timedelta(minutes=60), T0 + timedelta(minutes=100),
                                  latency_ms=1500.0)])
    bars = wave_bars(800)
    reference = Rig(config=config, faults=plan)
    session, _, _ = reference.start()
    session.run(items(bars))
    third = sorted(reference.store.intents.values(), key=lambda i: i.request.created_at)[2]
    assert third.request.quantity == 0.5 and not third.request.reduce_only  # shrunk entry

    rig = Rig(config=config, faults=plan)
    crashed, _, _ = rig.start()
    kill_at_order(crashed, 3, venue_booked=False)
    with pytest.raises(Crash):
        crashed.run(items(bars))
    resumed, _, _ = rig.start()
    resumed.run(items(bars))

    assert rig.store.intents[third.client_order_id].status is OrderStatus.FILLED
    assert figures(rig, resumed) == figures(reference, session)
