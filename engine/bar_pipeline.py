"""One bar through the trading session: admit it, settle fills, mark, gate, trade, record.

`TradingSession.run` drives the stream; `BarPipeline` holds what a bar touches (validator,
cold symbols, loss window, cursors) and runs the steps. This is the per-bar hot path of a
replay: a bar without signals or breaker events makes no commit and formats no time; what it
records (cursor, counters, equity points) rides along with the session's next checkpoint.
While the venue says it is quiet (`QuietVenue`: no resting order, no fill waiting to be
polled) the bar skips settlement, which would fill, poll and book nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from engine.broker import Broker
from engine.circuit_breaker import CircuitBreaker, CircuitState
from engine.clock import Clock
from engine.errors import BrokerError
from engine.events import BarSkipped
from engine.execution import OrderExecutionEngine
from engine.feed import (
    GOOD,
    PRICE_BAND,
    UNPARSABLE,
    BarCheck,
    BarValidator,
    FeedConfig,
    FeedItem,
)
from engine.journal import EngineJournal
from engine.model import Bar, Signal
from engine.portfolio import Portfolio
from engine.ports import Batch, EngineStore, EquityPoint, InMemoryLastSignals
from engine.risk import RiskManager
from engine.session_state import (
    MarketSimulator,
    SessionConfig,
    SessionProgress,
    WarmupSized,
)
from engine.strategy import NO_OUTPUT, Strategy, StrategyOutput

log = logging.getLogger(__name__)


@runtime_checkable
class QuietVenue(Protocol):
    """A venue that can tell cheaply that a bar and a fill poll would bring it nothing."""

    @property
    def quiet(self) -> bool:
        """Return True when no order rests and no fill waits to be polled."""
        ...


class BarPipeline:
    """The steps one bar goes through; `stop` says why the session must end, when it must."""

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
        self._store = store
        self._journal = journal
        self._breaker = breaker
        self._risk = risk
        self._portfolio = portfolio
        self._strategy = strategy
        self._execution = execution
        self._broker = broker
        self._simulator = broker if isinstance(broker, MarketSimulator) else None
        # Only a venue that says so is skipped on quiet bars; any other is asked every bar.
        self._quiet_venue = broker if isinstance(broker, QuietVenue) else None
        self.counters = progress.counters
        self.cursors: dict[str, datetime] = progress.cursors
        self._loss_window = progress.loss_window
        # The newest level's equity (the window's last point; only _track_loss adds points):
        # compared on every bar without indexing the deque.
        self._level = self._loss_window[-1][1] if self._loss_window else None
        # Bars at or before these cursors were fully processed by an earlier run: warm-up only.
        self._resume_cursors = dict(self.cursors)
        # A live clock bounds a symbol's first bar; in a replay the stream's own time does.
        self._validator = BarValidator(feed, now=None if clock.simulated else clock.now)
        self._bar_delta = timedelta(seconds=feed.bar_seconds)
        # The calls every bar makes, bound once (saves a lookup per call on the hot path).
        self._observe = self._validator.observe
        self._advance_to = clock.advance_to
        self._tick = breaker.tick
        self._now = clock.now
        self._roll_day = risk.roll_day_if_needed
        # A lower bound of the risk day's end (it only moves later): before it, no roll.
        self._day_ends = risk.next_boundary
        self._revalue = portfolio.revalue
        # Swapped for _update_cold while a symbol re-warms after a gap (no per-bar test).
        self._update: Callable[[Bar], StrategyOutput] = strategy.update
        self._flush = journal.flush_if_pending
        # Bars each symbol still needs after a gap before its strategy may trade again.
        self._cold: dict[str, int] = {}
        self._warmup = strategy.warmup_bars if isinstance(strategy, WarmupSized) else None
        self._loss_span = timedelta(seconds=breaker.config.loss_window_seconds)
        # Read on every bar: plain attributes are cheaper than pydantic field access.
        self._dry_run = config.dry_run
        self._equity_every = config.equity_every_bars
        self._shadow = bool(breaker.config.shadow_mode)
        self._flatten_on_halt = config.flatten_on_halt and not self._shadow
        self.stop: str | None = None

    # ------------------------------------------------------------------ one item
    def step(self, item: FeedItem) -> Bar | None:
        """Admit one item and handle it at its close; return the bar when it was traded on.

        The per-bar hot path, its steps inlined in order rather than one call each: the clock
        moves to the bar's close, then (_before_mark, on a bar where one has work) the breaker
        applies the cooldowns due by then, fills settle, the risk day rolls, open orders are
        followed up; then mark to market, apply the breaker state, trade, close the bar
        (cursor, equity point) and commit the breaker events or intents noted. A bad or
        warm-up item returns None (skipped, or replayed into the indicators).
        """
        bar = item.bar
        if (bar is None or self._resume_cursors) and (self._held_back(item) or bar is None):
            return None
        # Bar fields are read once: a NamedTuple's attribute read is not a cheap one.
        symbol, ts = bar.symbol, bar.ts
        verdict = self._observe(bar)
        # GOOD (by identity) is the validator's verdict on a good bar without a gap.
        if verdict is not GOOD and verdict.reason is not None:
            self._skip(item, ts, verdict.kind or UNPARSABLE, verdict.reason)
            return None
        self._advance_to(ts + self._bar_delta)
        # On the usual bar (no gap, breaker CLOSED, nothing held or open, a quiet venue) the
        # steps of _before_mark would do nothing but read the clock and maybe roll the day.
        breaker = self._breaker
        execution = self._execution
        venue = self._quiet_venue
        if (verdict is not GOOD or not breaker.closed or execution.held
                or execution.open_intents or venue is None or not venue.quiet):
            now = self._before_mark(bar, verdict)
        elif (now := self._now()) >= self._day_ends:
            self._new_day(now)
        # Mark to market and track the loss window.
        equity = self._revalue(symbol, bar.close)
        if equity == self._level:
            # Same level as the newest point: keep it fresh so a long plateau (e.g. flat
            # between trades) stays in the window as the peak it is.
            self._loss_window[-1] = (now, equity)
        else:
            self._track_loss(equity, now)
        # Gate on the breaker state (SHUTDOWN: no trade, no cursor), then trade.
        if breaker.closed or self._may_trade():
            # strategy.update, or _update_cold while a symbol re-warms after a gap.
            output = self._update(bar)
            if output is not NO_OUTPUT:  # the shared "nothing fired" (cheaper than unpacking)
                self._act(bar, output)
            # Close the bar: cursor, equity point when due.
            counters = self.counters
            counters.bars += 1
            self.cursors[symbol] = ts
            if counters.bars % self._equity_every == 0:
                self.record_equity()
        if self._journal.flush_due:  # breaker events or an intent noted (journal.note_*)
            self._flush()
        return bar

    # ------------------------------------------------------------------ admission
    def _held_back(self, item: FeedItem) -> bool:
        """Warm on an item at or before its symbol's resume cursor, skip an unparsable row."""
        if self._resume_cursors:
            resume = self._resume_cursors.get(item.symbol)
            if resume is not None and item.ts <= resume:
                self._warm(item.bar)
                return True
        if item.bar is None:
            self._skip(item, None, UNPARSABLE, item.reason or "unparsable row")
            return True
        return False

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

    def report_gap(self, bar: Bar, gap: float) -> None:
        """Count a gap before bar, re-warm its symbol and tell the breaker (clock at bar close)."""
        self.counters.gaps += 1
        self._go_cold(bar.symbol)
        self._breaker.report_data_feed_issue(
            {"symbol": bar.symbol, "kind": "gap", "seconds": gap, "bar_time": bar.ts.isoformat()}
        )

    def _go_cold(self, symbol: str) -> None:
        """Make the symbol's strategy rebuild its indicators on fresh bars after a gap."""
        if self._warmup is not None:
            self._cold[symbol] = self._warmup(symbol)
            self._update = self._update_cold

    def _still_cold(self, symbol: str) -> bool:
        """Count one fresh bar of a cold symbol; return True while it may not trade."""
        left = self._cold.get(symbol)
        if not left:
            return False
        if left == 1:
            del self._cold[symbol]
            if not self._cold:
                self._update = self._strategy.update  # no symbol is cold: the direct call
        else:
            self._cold[symbol] = left - 1
        return True

    def _update_cold(self, bar: Bar) -> StrategyOutput:
        """Feed the strategy while some symbol is cold: a cold symbol's bars only warm it."""
        if self._still_cold(bar.symbol):
            self._strategy.warm(bar)  # indicators from before a gap are not traded on
            return NO_OUTPUT
        return self._strategy.update(bar)

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
        self._journal.commit(Batch(skipped_bars=[skipped]))

    # ------------------------------------------------------------------ one good bar
    def _before_mark(self, bar: Bar, verdict: BarCheck) -> datetime:
        """Report a gap, apply due cooldowns, release held intents, settle, roll the day,
        follow up open orders (each when it has work); return the clock read after settling.
        """
        if verdict.gap_seconds is not None:
            self.report_gap(bar, verdict.gap_seconds)
        if not self._breaker.closed:  # CLOSED has no cooldown: tick() would find nothing due
            self._tick()
        execution = self._execution
        if execution.held:
            execution.release_held()
        # Settle. A quiet venue would fill nothing on this bar and report no fill: skipped.
        venue = self._quiet_venue
        if venue is None or not venue.quiet:
            self._settle_fills(bar)
        # Roll the risk day: fills of this bar executed at its open, before a boundary at its
        # close.
        now = self._now()
        if now >= self._day_ends:
            self._new_day(now)
        if execution.open_intents:
            execution.follow_up(placed_before=now)
        return now

    def _new_day(self, now: datetime) -> None:
        """Roll the risk day if its end has come (and commit the reset at once)."""
        reset = self._roll_day(now)
        self._day_ends = self._risk.next_boundary
        if reset is not None:
            self._journal.commit(Batch(daily_resets=[reset]))

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
        # An order filled in several venue trades arrives with all of them: booked per trade,
        # completed (counted) once.
        self._execution.apply_fills(fills, self._store.fill_recorded)

    def _may_trade(self) -> bool:
        """Apply a breaker state other than CLOSED: stop on SHUTDOWN, flatten in HALT."""
        breaker = self._breaker
        state = breaker.state
        if state is CircuitState.SHUTDOWN and not self._shadow:
            # step() commits the waiting breaker events right after this bar.
            self.stop = "breaker SHUTDOWN: " + breaker.get_status().get("reason", "")
            return False
        if state is CircuitState.HALT and self._flatten_on_halt:
            self._flatten_all()
        return True

    def _act(self, bar: Bar, output: StrategyOutput) -> None:
        """Journal the suppressed duplicates, then journal (dry run) or order each signal."""
        signals, suppressed = output
        execution = self._execution
        pending = self._journal.pending
        for duplicate in suppressed:
            if execution.ordered_before(duplicate):
                continue  # handled and journaled by the run a crash ended: not a repeat
            self.counters.signals_suppressed += 1
            pending.signals.append(execution.suppressed_record(duplicate))
        if self._dry_run:
            for signal in signals:
                self.counters.signals += 1
                pending.signals.append(execution.dry_run_record(signal))
            return
        in_flight = self._journal.signals_in_flight
        in_flight.update(_signal_key(signal) for signal in signals)
        try:
            for signal in signals:
                self.counters.signals += 1
                # Handled from here on: a commit its handling makes records its outcome.
                in_flight.discard(_signal_key(signal))
                execution.handle_signal(signal, bar.close)
        finally:
            in_flight.clear()

    def _flatten_all(self) -> None:
        for symbol, position in self._portfolio.positions().items():
            if position.quantity != 0.0:
                price = self._portfolio.last_price(symbol)
                if price is not None:
                    self._execution.flatten(symbol, price)

    def _track_loss(self, equity: float, now: datetime) -> None:
        """Add a new equity level to the loss window; report the drawdown from its peak."""
        window = self._loss_window
        while window and window[-1][1] <= equity:
            window.pop()
        window.append((now, equity))
        self._level = equity
        horizon = now - self._loss_span
        while window[0][0] < horizon:
            window.popleft()
        peak = window[0][1]
        if peak > 0 and equity < peak:
            self._breaker.report_loss((peak - equity) / peak)

    def record_equity(self) -> None:
        """Note an equity point; it rides along with the next commit (not worth its own)."""
        point = EquityPoint(
            at=self._clock.now(),
            equity=self._portfolio.equity(),
            cash=self._portfolio.cash,
            daily_pnl=self._risk.daily_pnl,
        )
        self._journal.pending.equity.append(point)


def _signal_key(signal: Signal) -> str:
    """Return the signal's key in the strategy's last_signals section."""
    fast, slow = signal.periods
    return InMemoryLastSignals.key(signal.symbol, fast, slow)
