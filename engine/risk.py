"""Pre-trade risk gate and the daily risk state (P&L, executed trades, trading day).

`RiskManager.check` runs the ordered limits of engine/risk_checks.py (one small class per limit;
adding a limit is described there) and returns the first denial or the shared ALLOWED decision:
evaluation (fail closed on unusable inputs), price_collar, max_order_notional, max_position,
max_daily_trades, max_daily_loss, order_rate.

An order counts as *reducing* only when it is flagged reduce_only, opposes the current position
and its quantity does not exceed that position: a reduce_only flag on an order that would open or
flip a position earns no exemption from max_position, max_daily_trades and max_daily_loss.

Only executed fills count as trades (`record_fill`); rejected or failed orders never do (seed 000:
51 failed orders must not trip a 50-trade limit). Submissions (`record_submission`) feed the
sliding 1 s and 60 s order-rate windows.

Trading days: a day starts at `day_boundary` in `day_timezone` and is named by a date. A
boundary at or after 12:00 names the day after the calendar date it starts on (FX style: with
17:00 America/New_York the day starting Friday 2024-03-08 17:00 is 2024-03-09); an earlier
boundary names it by the date it starts on (00:00 UTC gives plain calendar days). Boundaries are
computed with zoneinfo, so a DST change moves them in UTC. The session calls
`roll_day_if_needed` on every bar (one comparison against the precomputed UTC boundary) before
any check or fill of that bar.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from engine.clock import Clock, ensure_utc
from engine.errors import ConfigurationError, StateError
from engine.events import DailyStateReset
from engine.risk_checks import (
    ALLOWED,
    OrderRisk,
    RiskCheck,
    RiskDecision,
    RiskState,
    SubmissionWindow,
    default_checks,
    reduces,
)
from engine.risk_config import RiskConfig

__all__ = ["ALLOWED", "OrderRisk", "RiskCheck", "RiskConfig", "RiskDecision", "RiskManager"]

log = logging.getLogger(__name__)

_NOON: Final = time(12, 0)
_new_state: Final = tuple.__new__


class RiskManager:
    """Evaluate orders against the limits and keep the daily state (see module docstring)."""

    def __init__(
        self, config: RiskConfig, clock: Clock, state: dict[str, Any] | None = None
    ) -> None:
        self._config = config
        self._clock = clock
        self._checks = default_checks(config)
        self._check_fns = tuple(limit.check for limit in self._checks)
        self._tz = ZoneInfo(config.day_timezone)
        hour, minute = config.day_boundary.split(":")
        self._boundary = time(int(hour), int(minute))
        self._names_next_date = self._boundary >= _NOON
        self._submissions = SubmissionWindow(clock)
        self._daily_pnl = 0.0
        self._daily_trades = 0
        self._last_reset_day: date | None = None
        if state is None:
            self._trading_day = self.trading_day_for(clock.now())
        else:
            self._trading_day = self._restore(state)
        self._next_boundary = self._end_of(self._trading_day)

    @classmethod
    def from_snapshot(
        cls, config: RiskConfig, clock: Clock, snapshot: dict[str, Any]
    ) -> RiskManager:
        """Rebuild a manager exactly from snapshot()."""
        return cls(config, clock, snapshot)

    @property
    def config(self) -> RiskConfig:
        """Return the limits in force."""
        return self._config

    @property
    def daily_pnl(self) -> float:
        """Return realized P&L (net of fees) of the current trading day."""
        return self._daily_pnl

    @property
    def daily_trades(self) -> int:
        """Return executed trades of the current trading day."""
        return self._daily_trades

    @property
    def trading_day(self) -> date:
        """Return the trading day the daily values belong to."""
        return self._trading_day

    @property
    def last_reset_day(self) -> date | None:
        """Return the trading day of the last applied reset, None before the first."""
        return self._last_reset_day

    @property
    def next_boundary(self) -> datetime:
        """Return the UTC instant at which the current trading day ends."""
        return self._next_boundary

    @property
    def checks(self) -> tuple[RiskCheck, ...]:
        """Return the limits in evaluation order."""
        return self._checks

    # ------------------------------------------------------------------ checks
    def check(
        self, order: OrderRisk, position: float, last_price: float | None, unrealized_pnl: float
    ) -> RiskDecision:
        """Return the first limit the order breaks, or the shared allowed decision."""
        # Same value as RiskState(...), built without NamedTuple's Python-level __new__: this
        # runs for every order (bench/bench_gate.py measures the gate).
        state = _new_state(RiskState, (position, last_price, unrealized_pnl, self._daily_pnl,
                                       self._daily_trades, reduces(order, position),
                                       self._submissions))
        for check in self._check_fns:
            decision = check(order, state)
            if decision is not None:
                return decision
        return ALLOWED

    # ------------------------------------------------------------------ recording
    def record_submission(self) -> None:
        """Note that an order was sent to the broker now (feeds the rate windows)."""
        self._submissions.record()

    def record_fill(
        self, realized_pnl: float, *, trade: bool = True, at: datetime | None = None
    ) -> None:
        """Add a fill's realized P&L (fees included) to the day; count a trade when `trade`.

        An order filled in several venue trades counts as one trade: execution passes
        trade=False for every fill but the one completing the order. A fill executed `at` a
        trading day before the current one (the venue sync booking past days' trades on a
        live clock) belongs to that day and changes none of today's counters.
        """
        if not math.isfinite(realized_pnl):
            message = f"realized_pnl must be a finite number, got {realized_pnl}"
            raise ValueError(message)
        if at is not None and self.trading_day_for(at) < self._trading_day:
            return
        if trade:
            self._daily_trades += 1
        self._daily_pnl += realized_pnl

    # ------------------------------------------------------------------ trading day
    def trading_day_for(self, now: datetime) -> date:
        """Return the trading day that contains the instant now."""
        now = ensure_utc(now, "now")
        local_date = now.astimezone(self._tz).date()
        start = local_date if now >= self._boundary_utc(local_date) else local_date - timedelta(1)
        return start + timedelta(1) if self._names_next_date else start

    def _boundary_utc(self, local_date: date) -> datetime:
        return datetime.combine(local_date, self._boundary, tzinfo=self._tz).astimezone(UTC)

    def _end_of(self, day: date) -> datetime:
        start = day - timedelta(1) if self._names_next_date else day
        return self._boundary_utc(start + timedelta(1))

    def roll_day_if_needed(self, now: datetime | None = None) -> DailyStateReset | None:
        """Reset the daily state when the clock passed the day boundary; O(1) otherwise.

        now is the clock's present moment when the caller has just read it (the bar path).
        """
        if (self._clock.now() if now is None else now) < self._next_boundary:
            return None
        return self.reset_daily("day_boundary")

    def reset_daily(self, source: str) -> DailyStateReset:
        """Clear daily P&L and trades once per trading day; a repeat returns applied=False."""
        now = self._clock.now()
        day = max(self.trading_day_for(now), self._trading_day)
        if now >= self._next_boundary:
            day = max(day, self._trading_day + timedelta(1))
        event = DailyStateReset(
            at=now,
            trading_day=day.isoformat(),
            previous_pnl=self._daily_pnl,
            previous_trades=self._daily_trades,
            source=source,
            applied=self._last_reset_day != day,
        )
        if event.applied:
            self._daily_pnl = 0.0
            self._daily_trades = 0
            self._trading_day = day
            self._last_reset_day = day
            self._next_boundary = self._end_of(day)
        log.info(
            "daily_state_reset trading_day=%s source=%s applied=%s previous_pnl=%.2f "
            "previous_trades=%d",
            event.trading_day, source, event.applied, event.previous_pnl, event.previous_trades,
        )
        return event

    # ------------------------------------------------------------------ persistence
    def snapshot(self) -> dict[str, Any]:
        """Return the daily state and rate windows, JSON-ready."""
        return {
            "daily_pnl": self._daily_pnl,
            "daily_trades": self._daily_trades,
            "trading_day": self._trading_day.isoformat(),
            "last_reset_day": (
                None if self._last_reset_day is None else self._last_reset_day.isoformat()
            ),
            "submissions": [stamp.isoformat() for stamp in self._submissions.stamps()],
        }

    def _restore(self, state: dict[str, Any]) -> date:
        try:
            pnl = state["daily_pnl"]
            trades = state["daily_trades"]
            if isinstance(pnl, bool) or not isinstance(pnl, int | float) or not math.isfinite(pnl):
                message = f"daily_pnl must be a finite number, got {pnl!r}"
                raise StateError(message)
            if isinstance(trades, bool) or not isinstance(trades, int) or trades < 0:
                message = f"daily_trades must be a non-negative integer, got {trades!r}"
                raise StateError(message)
            trading_day = date.fromisoformat(state["trading_day"])
            last = state["last_reset_day"]
            last_reset = None if last is None else date.fromisoformat(last)
            stamps = [ensure_utc(datetime.fromisoformat(s)) for s in state["submissions"]]
        except (KeyError, TypeError, ValueError, ConfigurationError) as e:
            message = f"risk snapshot is unreadable: {type(e).__name__}: {e}"
            raise StateError(message) from e
        self._daily_pnl = float(pnl)
        self._daily_trades = trades
        self._last_reset_day = last_reset
        self._submissions.restore(stamps)
        return trading_day
