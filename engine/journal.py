"""The session's journal: events waiting for the next commit, and the commit itself.

Session and execution share one `EngineJournal`. Either may note an event (it rides along with
the next commit: breaker events, signals, equity points, an order's acknowledgement) or commit a
batch now; every commit carries the state sections that changed since the last one, so the
store always holds one consistent picture. Nothing here calls back into the
session: the snapshot is read from the components through `EngineState`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass
from typing import Any, Protocol

from engine.breaker_samples import SampleRecord
from engine.clock import Clock
from engine.events import (
    BreakerTransitioned,
    IssueReported,
    OperatorActed,
    OrderDenied,
    SignalRecorded,
)
from engine.model import OrderIntent
from engine.ports import Batch, EngineStore
from engine.session_state import SessionProgress

Listener = Callable[[Any], None]


class Snapshotting(Protocol):
    """A component whose state is one JSON-ready snapshot section."""

    def snapshot(self) -> dict[str, Any]:
        """Return the section, JSON-ready."""
        ...


class BreakerState(Protocol):
    """The breaker's section, without its sample windows, plus the samples not yet journaled."""

    def snapshot(self, windows: bool = True) -> dict[str, Any]:
        """Return the section, JSON-ready (windows=False: the windows travel as rows)."""
        ...

    def pending_samples(self) -> list[SampleRecord]:
        """Return the window samples the journal does not hold yet."""
        ...

    def samples_written(self, samples: Sequence[SampleRecord]) -> None:
        """Note that the journal committed these samples."""
        ...


@dataclass(frozen=True, slots=True)
class EngineState:
    """Every component whose state the store keeps, in the order of the snapshot sections."""

    progress: SessionProgress
    breaker: BreakerState
    risk: Snapshotting
    portfolio: Snapshotting
    execution: Snapshotting
    strategy: Snapshotting
    clock: Clock

    def snapshot(
        self, clean_shutdown: bool = False, unhandled: Set[str] = frozenset()
    ) -> dict[str, Any]:
        """Return every state section the store keeps, JSON-ready.

        unhandled: last_signals keys of this bar's signals not handled yet, left out of the
        strategy's section (see EngineJournal.signals_in_flight).
        """
        last_signals = self.strategy.snapshot()
        if unhandled:
            last_signals = {k: v for k, v in last_signals.items() if k not in unhandled}
        return {
            "session": self.progress.snapshot(clean_shutdown),
            "breaker": self.breaker.snapshot(windows=False),
            "risk": self.risk.snapshot(),
            "portfolio": self.portfolio.snapshot(),
            "execution": self.execution.snapshot(),
            # The strategy's section keeps the store's historical name (a table of its own).
            "last_signals": last_signals,
            "clock": {"now": self.clock.now().isoformat(), "simulated": self.clock.simulated},
        }


class EngineJournal:
    """Pending events plus the atomic commit that writes them with the state snapshot."""

    __slots__ = (
        "_close_due", "_intents_waited", "_listeners", "_pending", "_state", "_store", "_written",
        "flush_due", "signals_in_flight",
    )

    def __init__(
        self, store: EngineStore, state: EngineState, listeners: Sequence[Listener] = ()
    ) -> None:
        self._store = store
        self._state = state
        self._listeners = list(listeners)
        self._pending = Batch()
        # Sections as last committed (fresh dicts from the components' snapshot()).
        self._written: dict[str, Any] = {}
        # True once noted intents have waited through one flush (one bar) without a commit.
        self._intents_waited = False
        # True once a decision row (note_decision) waits for this bar's close.
        self._close_due = False
        # last_signals keys of the bar's signals not handled yet. The strategy remembers
        # every signal of a bar before the first is handled; a commit in the middle of the
        # bar (a venue's rejection) leaves these out, so the re-run of the bar after a kill
        # fires them again instead of taking them for repeats (and never ordering them).
        self.signals_in_flight: set[str] = set()
        # False when flush_if_pending has nothing to do: no event or intent noted since it
        # last found none (the bar path reads this flag instead of calling it on every bar).
        self.flush_due = False

    @property
    def pending(self) -> Batch:
        """Return the events that ride along with the next commit (append to its lists).

        Signals and equity points are appended here; breaker events and intents, which
        flush_if_pending commits at the bar's close, go through the note_* methods.
        """
        return self._pending

    def snapshot(self, clean_shutdown: bool = False) -> dict[str, Any]:
        """Return every state section the store keeps, JSON-ready."""
        return self._state.snapshot(clean_shutdown, self.signals_in_flight)

    def commit(self, batch: Batch, clean_shutdown: bool = False) -> None:
        """Merge pending events into batch, attach the snapshot and commit atomically."""
        pending = self._pending
        self._pending = Batch()
        self._intents_waited = False
        self._close_due = False
        if pending.intents:
            batch.intents = _latest(pending.intents + batch.intents)
        batch.transitions.extend(pending.transitions)
        batch.issues.extend(pending.issues)
        batch.operator_actions.extend(pending.operator_actions)
        batch.signals.extend(pending.signals)
        batch.denials.extend(pending.denials)
        batch.equity.extend(pending.equity)
        changed = self._changed(self._state.snapshot(clean_shutdown, self.signals_in_flight))
        batch.state = changed
        samples = self._state.breaker.pending_samples()
        batch.samples.extend(samples)
        self._store.commit(batch)
        self._state.breaker.samples_written(samples)
        self._written.update(changed)
        if "last_signals" in changed:
            # The strategy's section may come from a plugin that hands out (and later
            # mutates) its own dict: what was written is kept as a copy.
            self._written["last_signals"] = dict(changed["last_signals"])
        if self._listeners:
            self._publish(batch)

    def commit_rows(self, batch: Batch) -> None:
        """Commit batch's own rows now: no pending events, no state sections.

        The intent before the broker call takes this path: what crash safety needs is the
        intent; its signal row and the snapshot sections that changed since the last commit
        are re-derived after a crash by re-running the bars from the stored cursor, and the
        intent's submission by `OrderSettlement.resume_held` (see docs/state.md).
        """
        self._store.commit(batch)
        if self._listeners:
            self._publish(batch)

    def _changed(self, state: dict[str, Any]) -> dict[str, Any]:
        """Return the sections that differ from what the store holds (dirty sections only).

        Comparing the fresh dicts is far cheaper than encoding them; a section equal to the
        one last committed costs no encoding and no write.
        """
        written = self._written
        return {key: section for key, section in state.items() if written.get(key) != section}

    def fill_recorded(self, fill_id: str) -> bool:
        """Return True when the store has already booked this fill."""
        return self._store.fill_recorded(fill_id)

    def intent_recorded(self, client_order_id: str) -> bool:
        """Return True when the store has already journaled this order's intent."""
        return self._store.intent_recorded(client_order_id)

    def note_intent(self, intent: OrderIntent) -> None:
        """Let an intent's new status ride along with the next commit (one bar later at most)."""
        self._pending.intents.append(intent)
        self.flush_due = True

    def note_decision(
        self, signal: SignalRecorded | None, denial: OrderDenied | None = None
    ) -> None:
        """Journal a signal that placed no order (at target, denied) at this bar's close.

        Not now: a commit in the middle of a bar would store the strategy's memory of the
        whole bar while the cursor still points at the bar before, and the re-run of the bar
        after a crash would take the signals not handled yet for ones already handled.
        """
        if signal is not None:
            self._pending.signals.append(signal)
        if denial is not None:
            self._pending.denials.append(denial)
        self._close_due = True
        self.flush_due = True

    def note_transition(self, event: BreakerTransitioned) -> None:
        """Journal a breaker transition with the next commit (at this bar's close at latest)."""
        self._pending.transitions.append(event)
        self.flush_due = True

    def note_issue(self, issue: IssueReported) -> None:
        """Journal a breaker issue with the next commit (at this bar's close at latest)."""
        self._pending.issues.append(issue)
        self.flush_due = True

    def note_operator_action(self, event: OperatorActed) -> None:
        """Journal an operator action with the next commit (at this bar's close at latest)."""
        self._pending.operator_actions.append(event)
        self.flush_due = True

    def flush_if_pending(self) -> None:
        """Commit now when breaker events or operator actions wait, or an intent waited a bar.

        Called at the close of every bar. A noted intent (an acknowledgement) normally rides
        along with its fill's commit on the next bar; one that finds no commit to ride by the
        close of that bar is committed then, so the stored status lags by one bar at most.
        """
        pending = self._pending
        # Signals without an order and equity points ride along with the next commit.
        if pending.transitions or pending.issues or pending.operator_actions or self._close_due:
            self.commit(Batch())
        elif pending.intents:
            if self._intents_waited:
                self.commit(Batch())
            else:
                self._intents_waited = True
                return  # due again at the next bar's close
        self.flush_due = False

    def _publish(self, batch: Batch) -> None:
        events: list[Any] = [
            *batch.transitions, *batch.issues, *batch.denials, *batch.signals,
            *batch.operator_actions, *batch.daily_resets, *batch.skipped_bars,
        ]
        for event in events:
            for listener in self._listeners:
                listener(event)


def _latest(intents: list[OrderIntent]) -> list[OrderIntent]:
    """Return one row per order, its newest state (an acknowledgement noted, then filled)."""
    return list({intent.client_order_id: intent for intent in intents}.values())
