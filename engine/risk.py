"""Pre-trade risk limits and the daily risk state (P&L, executed trades, trading day).

`RiskManager.check` evaluates one order against the limits in a fixed order and returns the
first denial (or the shared allowed decision):

1. evaluation -- inputs that make a limit impossible to evaluate (missing/NaN/non-positive last
   price, NaN/non-positive quantity or price, NaN position, P&L or worst case) deny: fail closed.
2. price_collar -- only for orders with a limit price: |limit - last| / last in percent above
   `price_collar_pct` is a fat-finger denial.
3. max_order_notional -- quantity times the higher of reference and limit price.
4. max_position -- |position + signed quantity| above `max_position` denies, except orders that
   only reduce the position (see "reducing" below).
5. max_daily_trades -- once `daily_trades` reached the limit, opening orders are denied; reducing
   orders stay allowed so the bot can always get flat.
6. max_daily_loss -- the worst case of the order (its `worst_case_loss`, else
   quantity * price * worst_case_move_pct / 100) is added to today's realized P&L and to open
   losses (open gains are ignored); a projection below -max_daily_loss denies. Reducing orders
   have a worst case of 0 and are never blocked by this limit.
7. order_rate -- submissions (`record_submission`) inside the sliding 1 s and 60 s windows that
   end now; reaching either limit denies, reducing orders included (the throttle only delays).

An order counts as *reducing* only when it is flagged reduce_only, opposes the current position
and its quantity does not exceed that position: a reduce_only flag on an order that would open or
flip a position earns no exemption.

Only executed fills count as trades (`record_fill`); rejected or failed orders never do (seed 000:
51 failed orders must not trip a 50-trade limit). Limits compare with a relative tolerance of
1e-9 on quantities and notionals so 0.1 + 0.2 does not exceed a 0.3 limit through rounding.

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
from collections import deque
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from engine.clock import Clock, ensure_utc
from engine.errors import ConfigurationError, StateError
from engine.events import DailyStateReset
from engine.model import Side
from engine.risk_config import RiskConfig

__all__ = ["ALLOWED", "OrderRisk", "RiskConfig", "RiskDecision", "RiskManager"]

log = logging.getLogger(__name__)

_REL_TOL: Final = 1e-9
_SECOND: Final = timedelta(seconds=1)
_MINUTE: Final = timedelta(seconds=60)
_NOON: Final = time(12, 0)
_INF: Final = math.inf
_BUY: Final = Side.BUY


@dataclass(frozen=True, slots=True)
class OrderRisk:
    """What the risk gate needs to know about one order; price is the expected fill price."""

    symbol: str
    side: Side
    quantity: float
    price: float
    reduce_only: bool
    limit_price: float | None = None
    worst_case_loss: float | None = None


@dataclass(frozen=True, slots=True)
class RiskDecision:
    """Outcome of a risk check; check names the limit that decided."""

    allowed: bool
    check: str
    reason: str
    observed: float | None = None
    limit: float | None = None


ALLOWED: Final = RiskDecision(True, "all", "within all risk limits")


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _deny(check: str, reason: str, observed: float | None, limit: float | None) -> RiskDecision:
    return RiskDecision(False, check, reason, observed, limit)


class RiskManager:
    """Evaluate orders against the limits and keep the daily state (see module docstring)."""

    def __init__(
        self, config: RiskConfig, clock: Clock, state: dict[str, Any] | None = None
    ) -> None:
        self._config = config
        self._clock = clock
        # Plain attributes: the gate reads them on every order (pydantic access is slower).
        self._max_notional = config.max_order_notional * (1 + _REL_TOL)
        self._max_position = config.max_position * (1 + _REL_TOL)
        self._max_daily_trades = config.max_daily_trades
        self._worst_move = config.worst_case_move_pct / 100.0
        self._loss_floor = -config.max_daily_loss
        self._tz = ZoneInfo(config.day_timezone)
        hour, minute = config.day_boundary.split(":")
        self._boundary = time(int(hour), int(minute))
        self._names_next_date = self._boundary >= _NOON
        self._submissions: deque[datetime] = deque()
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

    # ------------------------------------------------------------------ checks
    def check(
        self, order: OrderRisk, position: float, last_price: float | None, unrealized_pnl: float
    ) -> RiskDecision:
        """Return the first limit the order breaks, or the shared allowed decision."""
        qty = order.quantity
        ref_price = order.price
        limit_price = order.limit_price
        worst = order.worst_case_loss
        daily_pnl = self._daily_pnl
        # One cheap test covers the usual case: a sum is finite only if every term is (inf - inf
        # and NaN are not 0), and comparisons with NaN are False. Anything unusual takes the
        # explaining path, which fails closed.
        if (
            last_price is None
            or limit_price is not None
            or worst is not None
            or not (last_price > 0.0 and qty > 0.0 and ref_price > 0.0)
        ):
            usable = self._unusable_inputs(order, position, last_price, unrealized_pnl) is None
        else:
            total = last_price + qty + ref_price + position + unrealized_pnl + daily_pnl
            usable = total - total == 0.0
        if not usable or last_price is None:
            unusable = self._unusable_inputs(order, position, last_price, unrealized_pnl)
            return _deny("evaluation", f"risk limits cannot be evaluated: {unusable}", None, None)
        if limit_price is not None:
            deviation = abs(limit_price - last_price) / last_price * 100.0
            if deviation > self._config.price_collar_pct * (1 + _REL_TOL):
                reason = (
                    f"fat finger: limit {limit_price} is {deviation:.4g}% from last price "
                    f"{last_price} (collar {self._config.price_collar_pct}%)"
                )
                return _deny("price_collar", reason, deviation, self._config.price_collar_pct)
        if limit_price is None or limit_price < ref_price:
            notional = qty * ref_price
        else:
            notional = qty * limit_price
        if notional > self._max_notional:
            reason = f"order notional {notional:.2f} exceeds {self._config.max_order_notional:.2f}"
            return _deny("max_order_notional", reason, notional, self._config.max_order_notional)
        signed = qty if order.side is _BUY else -qty
        reducing = (
            order.reduce_only and signed * position < 0 and qty <= abs(position) * (1 + _REL_TOL)
        )
        if not reducing:
            resulting = position + signed
            if resulting < 0.0:
                resulting = -resulting
            if resulting > self._max_position:
                reason = (
                    f"position would be {resulting:.8g} units of {order.symbol}, "
                    f"limit {self._config.max_position:.8g}"
                )
                return _deny("max_position", reason, resulting, self._config.max_position)
            if self._daily_trades >= self._max_daily_trades:
                reason = (
                    f"{self._daily_trades} trades executed today, "
                    f"limit {self._config.max_daily_trades}; only reducing orders allowed"
                )
                return _deny(
                    "max_daily_trades", reason, float(self._daily_trades),
                    float(self._config.max_daily_trades),
                )
            if worst is None:
                worst = qty * ref_price * self._worst_move
            open_loss = unrealized_pnl if unrealized_pnl < 0.0 else 0.0
            projected = daily_pnl + open_loss - worst
            if projected < self._loss_floor:
                reason = (
                    f"daily P&L {self._daily_pnl:.2f} with open loss "
                    f"{min(0.0, unrealized_pnl):.2f} and order worst case {worst:.2f} reaches "
                    f"{projected:.2f}, limit {-self._config.max_daily_loss:.2f}"
                )
                return _deny("max_daily_loss", reason, projected, -self._config.max_daily_loss)
        if not self._submissions:
            return ALLOWED
        return self._check_rate()

    def _unusable_inputs(
        self, order: OrderRisk, position: float, last_price: float | None, unrealized_pnl: float
    ) -> str | None:
        if last_price is None or not (math.isfinite(last_price) and last_price > 0):
            return f"no usable last price for {order.symbol} ({last_price})"
        positive = [("quantity", order.quantity), ("price", order.price)]
        if order.limit_price is not None:
            positive.append(("limit price", order.limit_price))
        for name, value in positive:
            if not (math.isfinite(value) and value > 0):
                return f"{name} {value} is not a positive number"
        worst = order.worst_case_loss
        if worst is not None and not (math.isfinite(worst) and worst >= 0):
            return f"worst case loss {worst} is not a non-negative number"
        finite = [("position", position), ("unrealized P&L", unrealized_pnl),
                  ("daily P&L", self._daily_pnl)]
        for name, value in finite:
            if not math.isfinite(value):
                return f"{name} {value} is not a number"
        return None

    def _check_rate(self) -> RiskDecision:
        cfg = self._config
        now = self._clock.now()
        self._prune(now)
        cutoff = now - _SECOND
        in_second = 0
        for stamp in reversed(self._submissions):
            if stamp <= cutoff:
                break
            in_second += 1
        if in_second >= cfg.max_orders_per_second:
            reason = f"{in_second} orders in the last second, limit {cfg.max_orders_per_second}"
            return _deny("order_rate", reason, float(in_second), float(cfg.max_orders_per_second))
        in_minute = len(self._submissions)
        if in_minute >= cfg.max_orders_per_minute:
            reason = f"{in_minute} orders in the last minute, limit {cfg.max_orders_per_minute}"
            return _deny("order_rate", reason, float(in_minute), float(cfg.max_orders_per_minute))
        return ALLOWED

    def _prune(self, now: datetime) -> None:
        cutoff = now - _MINUTE
        submissions = self._submissions
        while submissions and submissions[0] <= cutoff:
            submissions.popleft()

    # ------------------------------------------------------------------ recording
    def record_submission(self) -> None:
        """Note that an order was sent to the broker now (feeds the rate windows)."""
        now = self._clock.now()
        self._prune(now)
        self._submissions.append(now)

    def record_fill(self, realized_pnl: float) -> None:
        """Count one executed fill and add its realized P&L (fees included) to the day."""
        if not math.isfinite(realized_pnl):
            message = f"realized_pnl must be a finite number, got {realized_pnl}"
            raise ValueError(message)
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

    def roll_day_if_needed(self) -> DailyStateReset | None:
        """Reset the daily state when the clock passed the day boundary; O(1) otherwise."""
        if self._clock.now() < self._next_boundary:
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
            "submissions": [stamp.isoformat() for stamp in self._submissions],
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
        self._submissions.extend(stamps)
        return trading_day
