"""Past-tense event values the engine emits; listeners render, persist or alert on them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.model import Side


@dataclass(frozen=True, slots=True)
class BreakerTransitioned:
    """The circuit breaker moved from one state to another."""

    at: datetime
    from_state: str
    to_state: str
    trigger: str
    observed: float | None = None
    threshold: float | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class IssueReported:
    """An input to the breaker that was unhealthy (failure, latency, slippage, data, ...)."""

    at: datetime
    issue_type: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SignalRecorded:
    """A strategy signal and what became of it (ordered, suppressed, denied)."""

    at: datetime
    symbol: str
    side: Side
    confidence: float
    bar_time: datetime
    periods: tuple[int, int]
    outcome: str
    reason: str = ""
    client_order_id: str | None = None


@dataclass(frozen=True, slots=True)
class OrderDenied:
    """A pre-trade gate refused an order; check names the gate, reason says why."""

    at: datetime
    client_order_id: str
    symbol: str
    side: Side
    quantity: float
    check: str
    reason: str


@dataclass(frozen=True, slots=True)
class BarSkipped:
    """A bar failed validation and was not traded on; row is its data row in the file (from 1)."""

    at: datetime
    symbol: str
    bar_time: datetime | None
    reason: str
    row: int | None = None


@dataclass(frozen=True, slots=True)
class OperatorActed:
    """An operator command took effect (audit trail)."""

    at: datetime
    action: str
    reason: str
    who: str


@dataclass(frozen=True, slots=True)
class DailyStateReset:
    """Daily P&L and executed-trade count were cleared for a new trading day."""

    at: datetime
    trading_day: str
    previous_pnl: float
    previous_trades: int
    source: str
    applied: bool


EngineEvent = (
    BreakerTransitioned
    | IssueReported
    | SignalRecorded
    | OrderDenied
    | BarSkipped
    | OperatorActed
    | DailyStateReset
)
EventListener = Callable[[Any], None]
