"""The bar path's O(1) skips leave out only calls that would do nothing.

`CircuitBreaker.closed` skips tick() and the state read, `EngineJournal.flush_due` the
bar-close flush, the pipeline's cached day end the day-roll call, a paced store's `skip` the
command polls in between. These tests fail when a skip drops a cooldown transition, a breaker
event, an intent, a day roll or an operator command.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from bench.noop_strategy import NoSignals
from engine.assembly import assemble
from engine.breaker_samples import SampleRecord
from engine.broker import BrokerConfig, PaperBroker
from engine.circuit_breaker import CircuitBreaker, CircuitConfig, CircuitState
from engine.clock import SimulatedClock
from engine.events import OperatorActed
from engine.journal import EngineJournal, EngineState
from engine.model import Bar, OrderIntent, OrderRequest, OrderStatus, Side
from engine.paper_book import InMemoryPaperBook
from engine.ports import Batch, InMemoryStore, OperatorCommand
from engine.session import PacedCommands, TradingSession
from engine.session_state import SessionConfig, SessionProgress
from tests.unit.engine_harness import START, engine_config, items
from tests.unit.test_bar_fast_path import flat_bars
from tradeguard.store.polling import ASKS_PER_INTERVAL, ThrottledCommands

MINUTE = timedelta(minutes=1)


class WallLikeClock(SimulatedClock):
    """A simulated clock that says it is not: the session treats it as a live one."""

    @property
    def simulated(self) -> bool:
        """Return False, as a wall clock does."""
        return False


def session_on(store: Any, clock: SimulatedClock | None = None, **groups: Any) -> TradingSession:
    """Build a fresh session on store with a never-signalling strategy."""
    clock = clock or SimulatedClock(START)
    broker = PaperBroker(BrokerConfig(), clock, InMemoryPaperBook(), None, seed=7)
    recovered = store.load()
    session = assemble(engine_config(**groups), clock=clock, store=store, broker=broker,
                       recovered=recovered, strategy_factory=NoSignals)
    session.recover(recovered.open_intents)
    return session


def committed_at(batch: Batch) -> datetime:
    """Return the clock a commit carried."""
    return datetime.fromisoformat(batch.state["clock"]["now"])


def first_close_at_or_after(due: datetime) -> datetime:
    """Return the close of the first one-minute bar from START that is not before due."""
    minutes = -(-(due - START) // MINUTE)
    return START + max(minutes, 1) * MINUTE


# ---------------------------------------------------------------------- breaker tick
def test_cooldowns_fall_due_on_quiet_bars_and_are_committed_at_that_bar() -> None:
    store = InMemoryStore()
    session = session_on(store)
    breaker = session.breaker
    breaker.report_api_latency(1500.0)  # THROTTLE at START, nothing else ever happens
    assert breaker.state is CircuitState.THROTTLE and not breaker.closed
    config = breaker.config
    session.run(items(flat_bars(30)))
    assert breaker.state is CircuitState.CLOSED and breaker.closed
    moves = [(t, b) for b in store.batches for t in b.transitions]
    assert [(t.from_state, t.to_state) for t, _ in moves] == [
        ("CLOSED", "THROTTLE"), ("THROTTLE", "ALERT"), ("ALERT", "CLOSED")]
    throttle_due = START + timedelta(seconds=config.throttle_cooldown_seconds)
    alert_due = throttle_due + timedelta(seconds=config.alert_cooldown_seconds)
    for (event, batch), due in zip(moves[1:], (throttle_due, alert_due), strict=True):
        assert event.at == due  # stamped when due, not when noticed
        assert committed_at(batch) == first_close_at_or_after(due)


def test_closed_follows_the_state_through_every_kind_of_transition() -> None:
    clock = SimulatedClock(START)
    breaker = CircuitBreaker(CircuitConfig(), clock)

    def check() -> None:
        assert breaker.closed == (breaker.state is CircuitState.CLOSED)

    check()
    breaker.report_api_latency(600.0)
    check()
    clock.advance(3600)
    breaker.tick()  # cooldown back to CLOSED
    check()
    breaker.manual_override_enable("maintenance")
    check()
    breaker.manual_override_disable("done")  # HALF_OPEN
    check()
    breaker.force_recovery("ok")
    check()
    breaker.report_critical_error("DATABASE_CORRUPTION")  # SHUTDOWN
    check()
    restored = CircuitBreaker.from_snapshot(CircuitConfig(), clock, breaker.snapshot())
    assert restored.state is breaker.state and not restored.closed
    breaker.reset("fixed")
    check()
    assert breaker.closed


# ---------------------------------------------------------------------- bar-close flush
def test_a_gap_issue_is_committed_at_the_close_of_its_bar() -> None:
    store = InMemoryStore()
    # Two issues ALERT: the gap's issue comes alone, without a transition to carry it.
    breaker = CircuitConfig(alert_data_issues=2, throttle_data_issues=3, halt_data_issues=5)
    session = session_on(store, breaker=breaker)
    bars = flat_bars(10) + flat_bars(10, start=START + 30 * MINUTE)  # 21 minutes: above 15
    session.run(items(bars))
    (batch,) = [b for b in store.batches if b.issues]
    assert [i.issue_type for i in batch.issues] == ["DATA_FEED"] and not batch.transitions
    assert committed_at(batch) == START + 31 * MINUTE  # the close of the bar after the gap


class Section:
    """A snapshot section that never changes."""

    def snapshot(self) -> dict[str, Any]:
        """Return the section."""
        return {}


class NoSamples:
    """The breaker's journal face, without samples."""

    def snapshot(self, windows: bool = True) -> dict[str, Any]:
        """Return the section."""
        del windows
        return {}

    def pending_samples(self) -> list[SampleRecord]:
        """Return no samples."""
        return []

    def samples_written(self, samples: Sequence[SampleRecord]) -> None:
        """Note nothing."""
        del samples


def bare_journal(store: InMemoryStore) -> EngineJournal:
    """Return a journal over sections that never change."""
    state = EngineState(progress=SessionProgress(), breaker=NoSamples(), risk=Section(),
                        portfolio=Section(), execution=Section(), strategy=Section(),
                        clock=SimulatedClock(START))
    return EngineJournal(store, state)


def test_flush_due_holds_while_an_intent_waits_its_bar_and_events_commit_at_once() -> None:
    store = InMemoryStore()
    journal = bare_journal(store)
    assert not journal.flush_due
    request = OrderRequest("a", "TEST", Side.BUY, 1.0, 100.0, START)
    journal.note_intent(OrderIntent(request, OrderStatus.SUBMITTED, START))
    assert journal.flush_due
    journal.flush_if_pending()  # the intent waits one bar for a commit to ride
    assert journal.flush_due and not store.batches
    journal.flush_if_pending()
    assert not journal.flush_due and [len(b.intents) for b in store.batches] == [1]
    journal.note_operator_action(OperatorActed(START, "halt", "why", "ops"))
    assert journal.flush_due
    journal.commit(Batch())  # a checkpoint took it along: the next flush finds nothing
    journal.flush_if_pending()
    assert not journal.flush_due and len(store.batches) == 2


# ---------------------------------------------------------------------- day roll
def test_every_day_rolls_at_its_boundary_after_an_operator_reset_mid_day() -> None:
    store = InMemoryStore()
    store.commands.append(OperatorCommand(1, "reset-daily", "fresh start", "ops", START))
    session = session_on(store)
    session.run(items(flat_bars(3 * 24 * 60 + 10)))
    resets = [(r.source, r.trading_day, r.applied, r.at)
              for b in store.batches for r in b.daily_resets]
    assert resets == [
        ("operator:ops", "2022-01-03", True, START),  # polled before the first bar
        ("day_boundary", "2022-01-04", True, START + timedelta(days=1)),
        ("day_boundary", "2022-01-05", True, START + timedelta(days=2)),
        ("day_boundary", "2022-01-06", True, START + timedelta(days=3)),
    ]
    assert session.risk.next_boundary == START + timedelta(days=4)


# ---------------------------------------------------------------------- command poll
class PacedStore(InMemoryStore):
    """An in-memory store that counts its polls and says how many to leave out."""

    def __init__(self, skip: int) -> None:
        super().__init__()
        self.skip = skip
        self.polled_at: list[int] = []
        self.items_seen = 0

    def pending_commands(self) -> list[OperatorCommand]:
        """Note which item the poll came before, then return the queued commands."""
        self.polled_at.append(self.items_seen + 1)
        return super().pending_commands()


class CountingBars:
    """Feed items that tell the store how many were handed out."""

    def __init__(self, store: PacedStore, bars: list[Bar]) -> None:
        self._store = store
        self._items = list(items(bars))

    def __iter__(self) -> Any:
        for item in self._items:
            yield item
            self._store.items_seen += 1


def test_a_paced_store_is_polled_every_skip_plus_one_polls() -> None:
    store = PacedStore(skip=4)
    assert isinstance(store, PacedCommands)
    session = session_on(store, session=SessionConfig(checkpoint_every_bars=50,
                                                      command_poll_every_bars=3))
    session.run(CountingBars(store, flat_bars(40)))
    assert store.polled_at == [3, 18, 33]  # every 3 bars, 4 of every 5 polls left out


def test_a_command_lands_at_the_next_paced_poll() -> None:
    store = PacedStore(skip=9)
    store.commands.append(OperatorCommand(7, "halt", "maintenance", "ops", START))
    session = session_on(store, session=SessionConfig(checkpoint_every_bars=50))
    session.run(CountingBars(store, flat_bars(25)))
    assert store.polled_at == [1, 11, 21]
    assert session.breaker.state is CircuitState.HALT
    (batch,) = [b for b in store.batches if b.commands_done]
    assert batch.commands_done == [7] and committed_at(batch) == START  # before the first bar


def test_a_live_session_polls_every_bar_whatever_its_store_says() -> None:
    store = PacedStore(skip=9)  # e.g. a pace measured on a burst of catch-up bars
    session = session_on(store, clock=WallLikeClock(START))
    session.run(CountingBars(store, flat_bars(12)))
    assert store.polled_at == list(range(1, 13))


def test_an_unpaced_store_is_polled_every_bar() -> None:
    store = InMemoryStore()
    polls: list[int] = []
    original = store.pending_commands

    def counting() -> list[OperatorCommand]:
        polls.append(1)
        return original()

    store.pending_commands = counting  # type: ignore[method-assign]
    assert not isinstance(store, PacedCommands)
    session_on(store).run(items(flat_bars(30)))
    assert len(polls) == 30


def test_the_throttle_paces_a_fast_replay_and_never_a_real_time_session() -> None:
    now = [100.0]
    fast = ThrottledCommands(InMemoryStore(), interval=0.05, monotonic=lambda: now[0])
    fast.pending_commands()
    for _ in range(5000):  # 100,000 polls a second for one interval
        now[0] += 0.00001
        fast.pending_commands()
    # About ASKS_PER_INTERVAL clock reads per interval from now on (float steps: +-1 poll).
    assert abs(fast.skip + 1 - 5000 / ASKS_PER_INTERVAL) <= 1
    slow = ThrottledCommands(InMemoryStore(), interval=0.05, monotonic=lambda: now[0])
    for _ in range(5):  # one bar a minute
        now[0] += 60.0
        slow.pending_commands()
        assert slow.skip == 0
