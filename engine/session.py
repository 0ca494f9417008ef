"""The trading loop: bars in, gated and journaled orders out, every state change committed."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from engine.broker import Broker
from engine.circuit_breaker import CircuitBreaker, CircuitState
from engine.clock import Clock
from engine.errors import BrokerError
from engine.events import BarSkipped, BreakerTransitioned, IssueReported, OperatorActed
from engine.execution import OrderExecutionEngine
from engine.feed import PRICE_BAND, UNPARSABLE, BarValidator, FeedConfig, FeedItem
from engine.journal import EngineJournal
from engine.model import Bar, OrderIntent
from engine.portfolio import Portfolio
from engine.ports import Batch, EngineStore, EquityPoint, OperatorCommand
from engine.risk import RiskManager
from engine.session_state import (
    MarketSimulator,
    SessionConfig,
    SessionCounters,
    SessionEnd,
    SessionProgress,
    WarmupSized,
)
from engine.strategy import Strategy
from engine.venue_sync import VenueLedger, VenueSyncResult, sync_with_venue

__all__ = ["SessionConfig", "SessionCounters", "SessionEnd", "TradingSession"]

log = logging.getLogger(__name__)


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
        self._feed = feed
        self._store = store
        self._journal = journal
        self._breaker = breaker
        self._risk = risk
        self._portfolio = portfolio
        self._strategy = strategy
        self._execution = execution
        self._broker = broker
        self._simulator = broker if isinstance(broker, MarketSimulator) else None
        self.counters = progress.counters
        self.cursors: dict[str, datetime] = progress.cursors
        self._loss_window = progress.loss_window
        # Bars at or before these cursors were fully processed by an earlier run: warm-up only.
        self._resume_cursors = dict(self.cursors)
        self._unclean = progress.unclean
        # A live clock bounds a symbol's first bar; in a replay the stream's own time does.
        self._validator = BarValidator(feed, now=None if clock.simulated else clock.now)
        # Bars each symbol still needs after a gap before its strategy may trade again.
        self._cold: dict[str, int] = {}
        self._warmup = strategy.warmup_bars if isinstance(strategy, WarmupSized) else None
        self._loss_span = timedelta(seconds=breaker.config.loss_window_seconds)
        # Read on every bar: plain attributes are cheaper than pydantic field access.
        self._dry_run = config.dry_run
        self._equity_every = config.equity_every_bars
        self._flatten_on_halt = config.flatten_on_halt and not breaker.config.shadow_mode
        self.transitions: list[BreakerTransitioned] = []
        self._stop: str | None = None
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
        self._journal.pending.transitions.append(event)
        self.transitions.append(event)

    def operator_acted(self, event: OperatorActed) -> None:
        """Journal a breaker operator action with the next commit."""
        self._journal.pending.operator_actions.append(event)

    def issue_reported(self, issue: IssueReported) -> None:
        """Journal a breaker issue with the next commit."""
        self._journal.pending.issues.append(issue)

    # ------------------------------------------------------------------ recovery
    def recover(self, open_intents: Iterable[OrderIntent]) -> dict[str, int]:
        """Report an unclean restart and settle every non-final intent before trading."""
        outcome: Counter[str] = Counter()
        execution = self._execution
        # Answers the venue gave before the crash come first, as they did in the lost run.
        execution.replay_acknowledgements()
        if self._unclean:
            self._breaker.report_crash_recovery({"resumed_at": self._clock.now().isoformat()})
        for intent in open_intents:
            current = execution.open_intents.get(intent.client_order_id)
            if current is None:
                continue  # settled by sync_with_venue or by its replayed answer already
            settled = execution.reconcile_intent(current, resend_missing=True)
            outcome[settled.status.value] += 1
        self._journal.flush_if_pending()
        return dict(outcome)

    def sync_with_venue(self, venue: VenueLedger) -> VenueSyncResult:
        """Book what the venue has and the journal lacks, before any recovery or trading."""
        self._execution.replay_acknowledgements()  # before the fills that followed them
        result = sync_with_venue(
            venue=venue,
            execution=self._execution,
            recorded=self._store.fill_recorded,
            lookup=self._broker.get_order,
            clock=self._clock,
            risk=self._risk,
            commit=self.commit,
            since=min(self.cursors.values()) if self.cursors else None,
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
        bar_delta = timedelta(seconds=self._feed.bar_seconds)
        checkpoint_every = self._config.checkpoint_every_bars
        poll_every = self._config.command_poll_every_bars
        advance_to = self._clock.advance_to
        last: datetime | None = None
        since_checkpoint = 0
        tick = 0
        for item in items:
            if should_stop is not None and (stop := should_stop()):
                return self._finish(False, stop, last)
            tick += 1
            if tick % poll_every == 0:
                self._apply_commands()
            admitted = self._admit(item)
            if admitted is None:
                continue
            bar, gap = admitted
            advance_to(bar.ts + bar_delta)
            if gap is not None:
                self._report_gap(bar, gap)
            self._on_bar(bar)
            last = bar.ts
            if self._stop is not None:
                return self._finish(True, self._stop, last)
            since_checkpoint += 1
            if since_checkpoint >= checkpoint_every:
                since_checkpoint = 0
                self.commit(Batch())
        return self._finish(False, "end of data", last)

    def _admit(self, item: FeedItem) -> tuple[Bar, float | None] | None:
        """Return (bar, gap seconds or None) to trade on; warm on or skip the item otherwise."""
        symbol = item.symbol
        resume = self._resume_cursors.get(symbol)
        if resume is not None and item.ts <= resume:
            self._warm(item.bar)
            return None
        bar = item.bar
        if bar is None:
            self._skip(item, None, UNPARSABLE, item.reason or "unparsable row")
            return None
        verdict = self._validator.observe(bar)
        if verdict.reason is not None:
            self._skip(item, bar.ts, verdict.kind or UNPARSABLE, verdict.reason)
            return None
        return bar, verdict.gap_seconds

    @property
    def _shadow(self) -> bool:
        return bool(self._breaker.config.shadow_mode)

    def _warm(self, bar: Bar | None) -> None:
        # Replays what an earlier run already processed: rebuild indicators, count nothing.
        # Gaps re-warm here too, so a restarted process trades exactly when the first did.
        if bar is None:
            return
        verdict = self._validator.observe(bar)
        if verdict.reason is None:
            if verdict.gap_seconds is not None:
                self._go_cold(bar.symbol)
            self._still_cold(bar.symbol)
            self._strategy.warm(bar)
            self._portfolio.mark(bar.symbol, bar.close)

    def _report_gap(self, bar: Bar, gap: float) -> None:
        self.counters.gaps += 1
        self._go_cold(bar.symbol)
        self._breaker.report_data_feed_issue(
            {"symbol": bar.symbol, "kind": "gap", "seconds": gap, "bar_time": bar.ts.isoformat()}
        )

    def _go_cold(self, symbol: str) -> None:
        """Make the symbol's strategy rebuild its indicators on fresh bars after a gap."""
        if self._warmup is not None:
            self._cold[symbol] = self._warmup(symbol)

    def _still_cold(self, symbol: str) -> bool:
        """Count one fresh bar of a cold symbol; return True while it may not trade."""
        left = self._cold.get(symbol)
        if not left:
            return False
        if left == 1:
            del self._cold[symbol]
        else:
            self._cold[symbol] = left - 1
        return True

    def _skip(self, item: FeedItem, bar_time: datetime | None, kind: str, reason: str) -> None:
        symbol = item.symbol
        self.counters.bad_bars += 1
        self.counters.bad_bar_reasons[kind] += 1
        details: dict[str, Any] = {
            "kind": "price_band" if kind == PRICE_BAND else "invalid_bar",
            "reason_kind": kind,
            "reason": reason,
            "symbol": symbol,
            "row": item.row,
        }
        if bar_time is not None:
            details["bar_time"] = bar_time.isoformat()
        self._breaker.report_data_feed_issue(details)
        log.warning("bar_skipped symbol=%s row=%s bar_time=%s kind=%s reason=%s", symbol,
                    item.row, bar_time, kind, reason)
        skipped = BarSkipped(self._clock.now(), symbol, bar_time, reason, item.row)
        self.commit(Batch(skipped_bars=[skipped]))

    # ------------------------------------------------------------------ one bar
    def _on_bar(self, bar: Bar) -> None:
        """Handle one good bar, the clock at its close: settle, mark, gate, trade, record."""
        self._breaker.tick()
        self._settle_fills(bar)
        self._roll_day()
        self._execution.follow_up()
        self._mark(bar)
        if not self._may_trade():
            return
        self._trade(bar)
        self._close_bar(bar)

    def _settle_fills(self, bar: Bar) -> None:
        """Let the venue see the bar, then book every fill it reports."""
        if self._simulator is not None:
            self._simulator.on_bar(bar)
        try:
            fills = self._broker.poll_fills()
        except BrokerError as e:
            # The venue is unreachable: fills stay queued there; repeated, this escalates.
            fills = []
            self._breaker.report_data_feed_issue(
                {"kind": "broker_unreachable", "call": "poll_fills", "error": str(e)}
            )
        execution = self._execution
        for fill in fills:
            execution.apply_fill(fill, self._store.fill_recorded)

    def _roll_day(self) -> None:
        # Fills of this bar executed at its open, before a day boundary at its close.
        reset = self._risk.roll_day_if_needed()
        if reset is not None:
            self.commit(Batch(daily_resets=[reset]))

    def _mark(self, bar: Bar) -> None:
        self._portfolio.mark(bar.symbol, bar.close)
        self._track_loss()

    def _may_trade(self) -> bool:
        """Apply the breaker's state: stop on SHUTDOWN, flatten in HALT; False means stop."""
        breaker = self._breaker
        state = breaker.state
        if state is CircuitState.CLOSED:
            return True
        if state is CircuitState.SHUTDOWN and not self._shadow:
            self._stop = "breaker SHUTDOWN: " + breaker.get_status().get("reason", "")
            self._journal.flush_if_pending()
            return False
        if state is CircuitState.HALT and self._flatten_on_halt:
            self._flatten_all()
        return True

    def _trade(self, bar: Bar) -> None:
        """Run the strategy on the bar; journal its duplicates, gate and order its signals."""
        if self._cold and self._still_cold(bar.symbol):
            self._strategy.warm(bar)  # indicators from before a gap are not traded on
            return
        signals, suppressed = self._strategy.update(bar)
        execution = self._execution
        pending = self._journal.pending
        for duplicate in suppressed:
            self.counters.signals_suppressed += 1
            pending.signals.append(execution.suppressed_record(duplicate))
        for signal in signals:
            self.counters.signals += 1
            if self._dry_run:
                self._journal.pending.signals.append(execution.dry_run_record(signal))
            else:
                execution.handle_signal(signal, bar.close)

    def _close_bar(self, bar: Bar) -> None:
        """Advance the symbol's cursor, record equity when due, commit waiting breaker events."""
        counters = self.counters
        counters.bars += 1
        self.cursors[bar.symbol] = bar.ts
        if counters.bars % self._equity_every == 0:
            self._record_equity()
        self._journal.flush_if_pending()

    def _flatten_all(self) -> None:
        for symbol, position in self._portfolio.positions().items():
            if position.quantity != 0.0:
                price = self._portfolio.last_price(symbol)
                if price is not None:
                    self._execution.flatten(symbol, price)

    def _track_loss(self) -> None:
        portfolio = self._portfolio
        equity = portfolio.equity()
        window = self._loss_window
        now = self._clock.now()
        if window and window[-1][1] == equity:
            # Same level as the newest point: keep it fresh so a long plateau (e.g. flat
            # between trades) stays in the window as the peak it is.
            window[-1] = (now, equity)
            return
        while window and window[-1][1] <= equity:
            window.pop()
        window.append((now, equity))
        horizon = now - self._loss_span
        while window[0][0] < horizon:
            window.popleft()
        peak = window[0][1]
        if peak > 0 and equity < peak:
            self._breaker.report_loss((peak - equity) / peak)

    def _record_equity(self) -> None:
        # Rides along with the next commit: an equity point alone is not worth a transaction.
        point = EquityPoint(
            at=self._clock.now(),
            equity=self._portfolio.equity(),
            cash=self._portfolio.cash,
            daily_pnl=self._risk.daily_pnl,
        )
        self._journal.pending.equity.append(point)

    # ------------------------------------------------------------------ commands
    def _apply_commands(self) -> None:
        commands = self._store.pending_commands()
        if commands:
            for command in commands:
                self.apply_command(command)

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

    @property
    def orders_open(self) -> int:
        """Return how many order intents are still open (no final answer from the venue)."""
        return len(self._execution.open_intents)

    def _finish(self, stopped: bool, reason: str, last: datetime | None) -> SessionEnd:
        if last is not None:
            # Orders the venue ended on the last bar are settled now, not left looking open.
            self._execution.follow_up()
        self._execution.report_open()
        self._record_equity()
        self.commit(Batch(), clean_shutdown=True)
        log.info("session_end stopped_by_breaker=%s reason=%s", stopped, reason)
        return SessionEnd(stopped, reason, last)
