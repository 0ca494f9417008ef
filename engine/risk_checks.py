"""Pre-trade risk checks: one small class per limit, run in order by `RiskManager.check`.

Each check has a `name` (it appears in denials and replay output, so names never change) and
`check(order, state) -> RiskDecision | None`: None lets the order through to the next check, a
decision denies it and carries the check's name, the observed value and the limit. A check that
cannot evaluate its inputs denies (fail closed); `Evaluable` runs first so later checks see
usable numbers, but each check still denies rather than passes on input it cannot read.

The order (`default_checks`): evaluation, price_collar, max_order_notional, max_position,
max_daily_trades, max_daily_loss, order_rate. max_position, max_daily_trades and max_daily_loss
skip orders that only reduce the position (`RiskState.reducing`), so the bot can always get flat.

Adding a limit: (1) add its settings to `RiskConfig` (engine/risk_config.py) with a description
and bounds; (2) write one class here with `name` and `check`, taking what it needs from the
config in `__init__`; (3) insert it at its place in `default_checks`; (4) test it alone in
tests/unit/test_risk_checks.py. State the check needs beyond `RiskState` belongs to
`RiskManager` (engine/risk.py), which must then persist it in snapshot().
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, NamedTuple, Protocol

from engine.clock import Clock
from engine.model import Side
from engine.risk_config import RiskConfig

# Limits compare with a relative tolerance so 0.1 + 0.2 does not exceed a 0.3 limit by rounding.
REL_TOL: Final = 1e-9
_SECOND: Final = timedelta(seconds=1)
_MINUTE: Final = timedelta(seconds=60)
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


def deny(check: str, reason: str, observed: float | None, limit: float | None) -> RiskDecision:
    """Return a denial by check."""
    return RiskDecision(False, check, reason, observed, limit)


class SubmissionWindow:
    """Order submission instants of the last 60 s, for the sliding 1 s and 60 s rate limits."""

    __slots__ = ("_clock", "_stamps")

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._stamps: deque[datetime] = deque()

    def __bool__(self) -> bool:
        return bool(self._stamps)

    def stamps(self) -> list[datetime]:
        """Return the kept instants, oldest first."""
        return list(self._stamps)

    def restore(self, stamps: list[datetime]) -> None:
        """Append persisted instants (oldest first)."""
        self._stamps.extend(stamps)

    def record(self) -> None:
        """Note a submission now."""
        now = self._clock.now()
        self._prune(now)
        self._stamps.append(now)

    def counts(self) -> tuple[int, int]:
        """Return the submissions in the 1 s and the 60 s that end now."""
        now = self._clock.now()
        self._prune(now)
        cutoff = now - _SECOND
        in_second = 0
        for stamp in reversed(self._stamps):
            if stamp <= cutoff:
                break
            in_second += 1
        return in_second, len(self._stamps)

    def _prune(self, now: datetime) -> None:
        cutoff = now - _MINUTE
        stamps = self._stamps
        while stamps and stamps[0] <= cutoff:
            stamps.popleft()


class RiskState(NamedTuple):
    """What the checks see besides the order: market, position and the trading day so far."""

    position: float
    last_price: float | None
    unrealized_pnl: float
    daily_pnl: float
    daily_trades: int
    reducing: bool
    submissions: SubmissionWindow


def reduces(order: OrderRisk, position: float) -> bool:
    """Return True for a reduce_only order that opposes the position without exceeding it."""
    signed = order.quantity if order.side is _BUY else -order.quantity
    return (order.reduce_only and signed * position < 0
            and order.quantity <= abs(position) * (1 + REL_TOL))


class RiskCheck(Protocol):
    """One pre-trade limit."""

    @property
    def name(self) -> str:
        """Return the stable name that denials carry."""

    def check(self, order: OrderRisk, state: RiskState) -> RiskDecision | None:
        """Return a denial, or None when the order passes this limit."""


def _cannot(check: str, what: str) -> RiskDecision:
    return deny(check, f"risk limits cannot be evaluated: {what}", None, None)


def unusable_inputs(order: OrderRisk, state: RiskState) -> str | None:
    """Return why the inputs cannot be evaluated, None when every number is usable."""
    last_price = state.last_price
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
    finite = [("position", state.position), ("unrealized P&L", state.unrealized_pnl),
              ("daily P&L", state.daily_pnl)]
    for name, value in finite:
        if not math.isfinite(value):
            return f"{name} {value} is not a number"
    return None


class Evaluable:
    """Deny when a number the limits need is missing, NaN, infinite or not positive."""

    __slots__ = ()
    name: Final = "evaluation"

    def check(self, order: OrderRisk, state: RiskState) -> RiskDecision | None:
        """Return a denial naming the first unusable input."""
        last, qty, price = state.last_price, order.quantity, order.price
        # One cheap test covers the usual case: a sum is finite only if every term is (inf - inf
        # and NaN are not 0), and comparisons with NaN are False.
        if (last is not None and order.limit_price is None and order.worst_case_loss is None
                and last > 0.0 and qty > 0.0 and price > 0.0):
            total = last + qty + price + state.position + state.unrealized_pnl + state.daily_pnl
            if total - total == 0.0:
                return None
        problem = unusable_inputs(order, state)
        if problem is None and order.limit_price is None and order.worst_case_loss is None:
            # Every input is finite but their sum overflows: too large to evaluate.
            problem = "inputs too large to add up"
        return None if problem is None else _cannot(self.name, problem)


class PriceCollar:
    """Deny a limit price further than price_collar_pct from the last price (fat finger)."""

    __slots__ = ("_max", "_pct")
    name: Final = "price_collar"

    def __init__(self, config: RiskConfig) -> None:
        self._pct = config.price_collar_pct
        self._max = self._pct * (1 + REL_TOL)

    def check(self, order: OrderRisk, state: RiskState) -> RiskDecision | None:
        """Return a denial when the limit price is outside the collar."""
        limit_price, last = order.limit_price, state.last_price
        if limit_price is None:
            return None
        if last is None or not last > 0.0:
            return _cannot(self.name, f"no usable last price for {order.symbol} ({last})")
        deviation = abs(limit_price - last) / last * 100.0
        if deviation <= self._max:
            return None
        reason = (f"fat finger: limit {limit_price} is {deviation:.4g}% from last price "
                  f"{last} (collar {self._pct}%)")
        return deny(self.name, reason, deviation, self._pct)


class MaxOrderNotional:
    """Deny an order worth more than max_order_notional at the higher of its two prices."""

    __slots__ = ("_limit", "_max")
    name: Final = "max_order_notional"

    def __init__(self, config: RiskConfig) -> None:
        self._limit = config.max_order_notional
        self._max = self._limit * (1 + REL_TOL)

    def check(self, order: OrderRisk, state: RiskState) -> RiskDecision | None:
        """Return a denial when the notional exceeds the limit."""
        limit_price = order.limit_price
        price = order.price if limit_price is None or limit_price < order.price else limit_price
        notional = order.quantity * price
        if notional <= self._max:
            return None
        # NaN also lands here: a notional that cannot be computed denies.
        reason = f"order notional {notional:.2f} exceeds {self._limit:.2f}"
        return deny(self.name, reason, notional, self._limit)


class MaxPosition:
    """Deny an order leaving |position| above max_position, unless it only reduces."""

    __slots__ = ("_limit", "_max")
    name: Final = "max_position"

    def __init__(self, config: RiskConfig) -> None:
        self._limit = config.max_position
        self._max = self._limit * (1 + REL_TOL)

    def check(self, order: OrderRisk, state: RiskState) -> RiskDecision | None:
        """Return a denial when the resulting position exceeds the limit."""
        if state.reducing:
            return None
        signed = order.quantity if order.side is _BUY else -order.quantity
        resulting = abs(state.position + signed)
        if resulting <= self._max:
            return None
        reason = (f"position would be {resulting:.8g} units of {order.symbol}, "
                  f"limit {self._limit:.8g}")
        return deny(self.name, reason, resulting, self._limit)


class MaxDailyTrades:
    """Deny opening orders once max_daily_trades fills were executed today."""

    __slots__ = ("_limit",)
    name: Final = "max_daily_trades"

    def __init__(self, config: RiskConfig) -> None:
        self._limit = config.max_daily_trades

    def check(self, order: OrderRisk, state: RiskState) -> RiskDecision | None:
        """Return a denial when today's trades reached the limit."""
        trades = state.daily_trades
        if state.reducing or trades < self._limit:
            return None
        reason = (f"{trades} trades executed today, limit {self._limit}; "
                  "only reducing orders allowed")
        return deny(self.name, reason, float(trades), float(self._limit))


class MaxDailyLoss:
    """Deny an order whose worst case would take today's P&L below -max_daily_loss.

    The projection adds the order's worst case (its worst_case_loss, else quantity * price *
    worst_case_move_pct / 100) to today's realized P&L and open losses (open gains are ignored).
    """

    __slots__ = ("_floor", "_limit", "_move")
    name: Final = "max_daily_loss"

    def __init__(self, config: RiskConfig) -> None:
        self._limit = config.max_daily_loss
        self._floor = -self._limit
        self._move = config.worst_case_move_pct / 100.0

    def check(self, order: OrderRisk, state: RiskState) -> RiskDecision | None:
        """Return a denial when the projected daily P&L is below the floor."""
        if state.reducing:
            return None
        worst = order.worst_case_loss
        if worst is None:
            worst = order.quantity * order.price * self._move
        open_loss = state.unrealized_pnl if state.unrealized_pnl < 0.0 else 0.0
        projected = state.daily_pnl + open_loss - worst
        if projected >= self._floor:
            return None
        # NaN also lands here: a projection that cannot be computed denies.
        reason = (f"daily P&L {state.daily_pnl:.2f} with open loss {open_loss:.2f} and order "
                  f"worst case {worst:.2f} reaches {projected:.2f}, limit {self._floor:.2f}")
        return deny(self.name, reason, projected, self._floor)


class OrderRate:
    """Deny while the sliding 1 s or 60 s window holds its limit of submissions.

    Reducing orders are included: the throttle only delays them.
    """

    __slots__ = ("_per_minute", "_per_second")
    name: Final = "order_rate"

    def __init__(self, config: RiskConfig) -> None:
        self._per_second = config.max_orders_per_second
        self._per_minute = config.max_orders_per_minute

    def check(self, order: OrderRisk, state: RiskState) -> RiskDecision | None:
        """Return a denial when either window is full."""
        if not state.submissions:
            return None
        in_second, in_minute = state.submissions.counts()
        if in_second >= self._per_second:
            reason = f"{in_second} orders in the last second, limit {self._per_second}"
            return deny(self.name, reason, float(in_second), float(self._per_second))
        if in_minute >= self._per_minute:
            reason = f"{in_minute} orders in the last minute, limit {self._per_minute}"
            return deny(self.name, reason, float(in_minute), float(self._per_minute))
        return None


def default_checks(config: RiskConfig) -> tuple[RiskCheck, ...]:
    """Return the limits in the order they are evaluated; the first denial decides."""
    return (
        Evaluable(),
        PriceCollar(config),
        MaxOrderNotional(config),
        MaxPosition(config),
        MaxDailyTrades(config),
        MaxDailyLoss(config),
        OrderRate(config),
    )
