"""A kill right after an unanswered submit's mid-bar commit: the restart decides as the lost run.

An unanswered submit (a timeout: UNKNOWN) is committed at once, in the middle of its bar, with
the sections; the stored cursor still points at the bar before. The lost run would have asked
the venue about that order at the next bar's follow-up and, until then, counted it in
exposure (a flatten in HALT or a later signal of the bar decided with it). The restarted
replay re-runs the bar: recovery leaves such an order to that follow-up, and the re-run's own
follow-up of the interrupted bar skips it, so the result equals the uninterrupted run's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from engine.clock import SystemClock
from engine.faults import FaultPlan, FaultWindow
from engine.model import OrderIntent, OrderRequest, OrderStatus, Side
from engine.ports import Batch
from engine.session import TradingSession
from tests.unit.engine_harness import START, Rig, items, wave_bars
from tests.unit.test_held_intents import Crash
from tests.unit.test_held_intents import figures as held_figures

FAULTS = FaultPlan([FaultWindow(START, START + timedelta(days=2), timeout_rate=0.35)])


def figures(rig: Rig, session: TradingSession) -> dict[str, Any]:
    """Return what must equal the uninterrupted run's: the held-intent figures but the open
    orders, plus the signal counters and rows (nothing counted or journaled twice)."""
    held = {k: v for k, v in held_figures(rig, session).items() if k != "open"}
    return {
        **held,
        "session": rig.store.state["session"],
        "signals": [(r.bar_time, r.side, r.outcome) for b in rig.store.batches for r in b.signals],
    }


def kill_after_unknown_commit(rig: Rig, which: int) -> None:
    """Make the store die right after committing the which-th mid-bar UNKNOWN intent."""
    store = rig.store
    original = store.commit
    seen: list[str] = []

    def commit(batch: Batch) -> None:
        original(batch)
        unknown = [i for i in batch.intents if i.status is OrderStatus.UNKNOWN]
        if unknown and batch.state:  # the mid-bar commit carries the sections
            seen.append(unknown[0].client_order_id)
            if len(seen) == which:
                raise Crash

    store.commit = commit  # type: ignore[method-assign]


@pytest.mark.parametrize("which", [1, 2, 4])
def test_a_kill_after_a_mid_bar_unknown_commit_ends_as_the_uninterrupted_run(which: int) -> None:
    bars = wave_bars(900)
    reference = Rig(faults=FAULTS)
    session, _, _ = reference.start()
    session.run(items(bars))
    unknowns = [b for b in reference.store.batches
                if b.state and any(i.status is OrderStatus.UNKNOWN for i in b.intents)]
    assert len(unknowns) >= which

    rig = Rig(faults=FAULTS)
    crashed, _, _ = rig.start()
    kill_after_unknown_commit(rig, which)
    with pytest.raises(Crash):
        crashed.run(items(bars))
    del rig.store.commit  # the restarted process has a store that does not die
    (cid,) = [c for c, i in rig.store.intents.items() if i.status is OrderStatus.UNKNOWN]
    resumed, _, _ = rig.start()

    assert cid in resumed._execution.open_intents  # left to the re-run's follow-up
    resumed.run(items(bars))
    assert figures(rig, resumed) == figures(reference, session)


def _unknown(cid: str, at: datetime) -> OrderIntent:
    request = OrderRequest(cid, "TEST", Side.BUY, 1.0, 100.0, at)
    return OrderIntent(request, OrderStatus.UNKNOWN, at)


def test_a_bar_follows_up_only_the_orders_placed_before_it() -> None:
    session, _, clock = Rig().start()
    execution = session._execution
    now = clock.now()
    earlier, current = _unknown("earlier", now - timedelta(minutes=1)), _unknown("now", now)
    execution.open_intents.update({"earlier": earlier, "now": current})

    execution.follow_up(placed_before=now)
    assert set(execution.open_intents) == {"now"}  # the venue never had "earlier": settled
    execution.follow_up()  # the end of a run asks about every open order
    assert execution.open_intents == {}


def test_only_a_replay_leaves_an_order_of_its_restored_moment_to_the_re_run() -> None:
    session, _, clock = Rig().start()
    execution = session._execution
    now = clock.now()
    assert not execution.settles_at_start(_unknown("now", now))
    assert not execution.settles_at_start(_unknown("later", now + timedelta(seconds=1)))
    assert execution.settles_at_start(_unknown("earlier", now - timedelta(minutes=1)))
    pending = OrderIntent(_unknown("p", now).request, OrderStatus.PENDING_SUBMIT, now)
    assert execution.settles_at_start(pending)  # held intents have their own way back

    live = Rig()
    live_session, _, _ = live.start()
    live_session._execution._clock = SystemClock()  # a live restart: the clock moved on
    assert live_session._execution.settles_at_start(_unknown("now", datetime.now(UTC)))


def test_a_restart_with_no_bar_left_still_settles_the_order_at_its_end() -> None:
    # The data ended with the interrupted bar (or the operator restarts without new bars):
    # no re-run follows the order up, so the run's end asks the venue, as recovery did.
    rig = Rig(faults=FAULTS)
    crashed, _, _ = rig.start()
    kill_after_unknown_commit(rig, 1)
    with pytest.raises(Crash):
        crashed.run(items(wave_bars(900)))
    del rig.store.commit
    (cid,) = [c for c, i in rig.store.intents.items() if i.status is OrderStatus.UNKNOWN]
    resumed, _, _ = rig.start()
    assert cid in resumed._execution.open_intents
    resumed.run(items([]))
    # The venue had taken it (the answer was lost, not the order): known now, and committed.
    assert rig.store.intents[cid].status is OrderStatus.SUBMITTED
    assert rig.book.orders[cid].status is OrderStatus.SUBMITTED
