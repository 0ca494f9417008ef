"""The trading loop: bars in, gated and journaled orders out, every state change committed.

`TradingSession` owns the run (stream, operator commands, checkpoints, the clean end) and
recovery; what one bar goes through lives in `engine.bar_pipeline`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from engine.bar_pipeline import BarPipeline
from engine.broker import Broker
from engine.circuit_breaker import CircuitBreaker, CircuitState
from engine.clock import Clock
from engine.events import BreakerTransitioned, IssueReported, OperatorActed
from engine.execution import OrderExecutionEngine
from engine.feed import FeedConfig, FeedItem
from engine.journal import EngineJournal
from engine.model import Bar, OrderIntent
from engine.portfolio import Portfolio
from engine.ports import Batch, EngineStore, OperatorCommand
from engine.risk import RiskManager
from engine.session_state import SessionConfig, SessionCounters, SessionEnd, SessionProgress
from engine.strategy import Strategy
from engine.venue_sync import VenueLedger, VenueSyncResult, sync_with_venue

__all__ = ["SessionConfig", "SessionCounters", "SessionEnd", "TradingSession"]

log = logging.getLogger(__name__)


@runtime_checkable
class PacedCommands(Protocol):
    """A store whose command poll is throttled: it says how many polls would bring nothing.

    A store that reads a wall clock (tradeguard's ThrottledCommands) knows the session's pace;
    `skip`, read after each poll, is how many of the following polls the session leaves out.
    """

    skip: int


class TradingSession:
    """One process's run over a bar stream; resumable from the store after any crash."""

    def __init__(
        self,
        *,
        clock: Clock,
        config: SessionConfig,
        feed: FeedConfig,
        store: EngineStore,
        journal: EngineJournal,
        progress: SessionProgress,
        breaker: CircuitBreaker,
        risk: RiskManager,
        portfolio: Portfolio,
        strategy: Strategy,
        execution: OrderExecutionEngine,
        broker: Broker,
    ) -> None:
        self._clock = clock
        self._config = config
        self._store = store
        self._journal = journal
        self._breaker = breaker
        self._risk = risk
        self._portfolio = portfolio
        self._strategy = strategy
        self._execution = execution
        self._broker = broker
        self._bars = BarPipeline(
            clock=clock, config=config, feed=feed, store=store, journal=journal,
            progress=progress, breaker=breaker, risk=risk, portfolio=portfolio,
            strategy=strategy, execution=execution, broker=broker,
        )
        self.counters = progress.counters
        self.cursors: dict[str, datetime] = progress.cursors
        self._unclean = progress.unclean
        self._shadow = bool(breaker.config.shadow_mode)
        # Only a replay leaves polls out, and only those its store says would bring nothing: its
        # pace is steady, while a live session's bars wait for the wall clock (after a burst
        # of catch-up bars, a pace-based skip would hold a command back for hours).
        self._paced = (
            store if clock.simulated and isinstance(store, PacedCommands) else None
        )
        self.transitions: list[BreakerTransitioned] = []
        breaker.add_listener(self)

    @property
    def breaker(self) -> CircuitBreaker:
        """Return the session's circuit breaker."""
        return self._breaker

    @property
    def risk(self) -> RiskManager:
        """Return the session's risk manager."""
        return self._risk

    @property
    def portfolio(self) -> Portfolio:
        """Return the session's ledger."""
        return self._portfolio

    @property
    def was_clean(self) -> bool:
        """Return False when the previous process on this state died without a clean end."""
        return not self._unclean

    # ------------------------------------------------------------------ journaling
    def snapshot(self, clean_shutdown: bool = False) -> dict[str, Any]:
        """Return every state section the store keeps, JSON-ready."""
        return self._journal.snapshot(clean_shutdown)

    def commit(self, batch: Batch, clean_shutdown: bool = False) -> None:
        """Merge pending events into batch, attach the snapshot and commit atomically."""
        self._journal.commit(batch, clean_shutdown)

    # BreakerListener: the breaker's events are journaled with the next commit.
    def state_changed(self, event: BreakerTransitioned) -> None:
        """Journal a breaker transition with the next commit."""
        self._journal.note_transition(event)
        self.transitions.append(event)

    def operator_acted(self, event: OperatorActed) -> None:
        """Journal a breaker operator action with the next commit."""
        self._journal.note_operator_action(event)

    def issue_reported(self, issue: IssueReported) -> None:
        """Journal a breaker issue with the next commit."""
        self._journal.note_issue(issue)

    # ------------------------------------------------------------------ recovery
    def recover(
        self, open_intents: Iterable[OrderIntent], *, rerun: bool = False
    ) -> dict[str, int]:
        """Report an unclean restart and settle every non-final intent before trading.

        rerun: bars follow (a session, not `tradeguard reconcile`); a replay's answered order
        placed at the restored moment is then left to the re-run's follow-up
        (OrderSettlement.settles_at_start).
        """
        outcome: Counter[str] = Counter()
        execution = self._execution
        # Answers the venue gave before the crash come first, as they did in the lost run.
        execution.replay_acknowledgements()
        if self._unclean:
            self._breaker.report_crash_recovery({"resumed_at": self._clock.now().isoformat()})
        if execution.held:
            # Intents journaled after the snapshot at a moment the clock has passed (a live
            # restart); a replay's re-run reaches the others (OrderSettlement.resume_held).
            execution.release_held(reached=True)
        for intent in open_intents:
            current = execution.open_intents.get(intent.client_order_id)
            if current is None:
                continue  # settled by sync_with_venue or by its replayed answer already
            if rerun and not execution.settles_at_start(current):
                outcome["followed_up_by_the_re_run"] += 1
                continue
            settled = execution.reconcile_intent(current, resend_missing=True)
            outcome[settled.status.value] += 1
        self._journal.flush_if_pending()
        return dict(outcome)

    def sync_with_venue(
        self, venue: VenueLedger, since: datetime | None = None
    ) -> VenueSyncResult:
        """Book what the venue has and the journal lacks, before any recovery or trading.

        The venue's record is read from `since` (a live venue's bound), by default from the
        store's oldest cursor (everything when there is none).
        """
        self._execution.replay_acknowledgements()  # before the fills that followed them
        if since is None and self.cursors:
            since = min(self.cursors.values())
        result = sync_with_venue(
            venue=venue,
            execution=self._execution,
            recorded=self._store.fill_recorded,
            lookup=self._broker.get_order,
            clock=self._clock,
            risk=self._risk,
            commit=self.commit,
            since=since,
        )
        self._journal.flush_if_pending()
        return result

    # ------------------------------------------------------------------ loop
    def run(
        self, items: Iterable[FeedItem], should_stop: Callable[[], str | None] | None = None
    ) -> SessionEnd:
        """Process bars until the stream ends, the breaker shuts down or should_stop says why.

        should_stop is asked after every item (a signal handler's flag): a non-empty reason
        ends the run cleanly after the current event, committed and marked as a clean stop.
        """
        if self._breaker.state is CircuitState.SHUTDOWN and not self._shadow:
            return self._finish(True, "breaker is in SHUTDOWN: run `tradeguard reset` first", None)
        bars = self._bars
        step = bars.step
        checkpoint_every = self._config.checkpoint_every_bars
        # The last bar traded on; its time is read once, at the end (a NamedTuple field read
        # per bar is not free).
        last: Bar | None = None
        since_checkpoint = 0
        tick = 0
        next_poll = self._config.command_poll_every_bars
        for item in items:
            if should_stop is not None and (stop := should_stop()):
                return self._finish(False, stop, last)
            tick += 1
            if tick >= next_poll:
                next_poll = tick + self._poll_commands()
            bar = step(item)
            if bar is None:
                continue
            last = bar
            if (stop := bars.stop) is not None:
                return self._finish(True, stop, last)
            since_checkpoint += 1
            if since_checkpoint >= checkpoint_every:
                since_checkpoint = 0
                self.commit(Batch())
        return self._finish(False, "end of data", last)

    # ------------------------------------------------------------------ commands
    def _poll_commands(self) -> int:
        """Apply the queued operator commands; return how many items pass before the next poll.

        Every command_poll_every_bars items, or a multiple of it when a paced store says the
        polls in between would find nothing new.
        """
        for command in self._store.pending_commands():
            self.apply_command(command)
        every = self._config.command_poll_every_bars
        paced = self._paced
        return every if paced is None else every * (1 + paced.skip)

    def drain_commands(self) -> int:
        """Apply every queued operator command outside a run; return how many were applied."""
        commands = self._store.pending_commands()
        for command in commands:
            self.apply_command(command)
        self.commit(Batch(), clean_shutdown=self.was_clean)
        return len(commands)

    def apply_command(self, command: OperatorCommand) -> None:
        """Apply one operator command and journal it (with the audit record) atomically."""
        action, reason, who = command.action, command.reason, command.who
        batch = Batch(commands_done=[command.command_id])
        if action == "halt":
            self._breaker.manual_override_enable(reason, who=who)
        elif action == "resume":
            self._breaker.manual_override_disable(reason, who=who)
        elif action == "recover":
            self._breaker.force_recovery(reason, who=who)
        elif action == "reset":
            self._breaker.reset(reason, who=who)
        elif action == "reset-daily":
            batch.daily_resets.append(self._risk.reset_daily(source=f"operator:{who}"))
            batch.operator_actions.append(
                OperatorActed(self._clock.now(), action, reason, who)
            )
        else:
            log.error("operator_command_unknown id=%s action=%s", command.command_id, action)
            batch.operator_actions.append(
                OperatorActed(self._clock.now(), f"rejected:{action}", "unknown action", who)
            )
        log.info("operator_command id=%s action=%s who=%s", command.command_id, action, who)
        self.commit(batch)

    def exposure(self, symbol: str) -> float:
        """Return the symbol's position plus the unfilled rest of its open orders."""
        return self._execution.exposure(symbol)

    @property
    def orders_open(self) -> int:
        """Return how many order intents are still open (no final answer from the venue)."""
        return len(self._execution.open_intents)

    def _finish(self, stopped: bool, reason: str, last: Bar | None) -> SessionEnd:
        # Orders the venue ended on the last bar are settled now, not left looking open; so
        # is an order a replay's recovery left to a re-run that found no bar to re-run.
        self._execution.follow_up()
        self._execution.report_open()
        if last is not None:
            # The closing equity point. A run that saw no bar (a finished replay run again)
            # would repeat the point its last run closed with, at the same instant.
            self._bars.record_equity()
        self.commit(Batch(), clean_shutdown=True)
        log.info("session_end stopped_by_breaker=%s reason=%s", stopped, reason)
        return SessionEnd(stopped, reason, None if last is None else last.ts)
