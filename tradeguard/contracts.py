"""Contracts the shell hands between use cases, CLI, Prefect tasks, flows and artifacts.

Each contract is defined once, here (`Transition` in tradeguard/transition.py, re-exported),
as a frozen type. `to_json()` is the one JSON rendering
(`replay --json` prints `SessionSummary.to_json()`); Markdown and text live in
`tradeguard.render`. Nobody parses these back from dicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.errors import TradeguardError
from engine.events import OperatorActed
from engine.model import OrderIntent
from tradeguard.transition import Transition as Transition  # its own module: see there

# Name of the gate a crashed validation run is reported under.
UNHANDLED_EXCEPTION_GATE = "no_unhandled_exception"


@dataclass(frozen=True)
class SessionSummary:
    """What one session run did: the object `replay --json` prints."""

    bars: int
    bad_bars: int
    bad_bar_reasons: Mapping[str, int]
    gaps: int
    signals: int
    signals_suppressed: int
    orders_submitted: int
    orders_filled: int
    orders_failed: int
    orders_denied: int
    orders_denied_by_reason: Mapping[str, int]
    trades_executed: int
    pnl: float
    fees: float
    positions: Mapping[str, float]
    daily_pnl: float
    daily_trades: int
    transitions: tuple[Transition, ...]
    final_state: str
    stopped_by_breaker: bool
    stop_reason: str
    last_bar: datetime | None
    reconciled_on_start: Mapping[str, int] = field(default_factory=dict)
    # Intents without a final answer from the venue when the run ended. With the fills and the
    # failures they add up to orders_submitted + orders_adopted.
    orders_open: int = 0
    # Orders the venue sync took over from the venue's record (sent by a run whose journal was
    # lost, e.g. after `state restore`); not counted in orders_submitted.
    orders_adopted: int = 0

    def to_json(self) -> dict[str, Any]:
        """Return the JSON object of `replay --json` (orders_open, orders_adopted included)."""
        return {
            "bars": self.bars,
            "bad_bars": self.bad_bars,
            "bad_bar_reasons": dict(self.bad_bar_reasons),
            "gaps": self.gaps,
            "signals": self.signals,
            "signals_suppressed": self.signals_suppressed,
            "orders_submitted": self.orders_submitted,
            "orders_adopted": self.orders_adopted,
            "orders_filled": self.orders_filled,
            "orders_failed": self.orders_failed,
            "orders_open": self.orders_open,
            "orders_denied": self.orders_denied,
            "orders_denied_by_reason": dict(self.orders_denied_by_reason),
            "trades_executed": self.trades_executed,
            "pnl": self.pnl,
            "fees": self.fees,
            "positions": dict(self.positions),
            "daily_pnl": self.daily_pnl,
            "daily_trades": self.daily_trades,
            "transitions": [t.to_json() for t in self.transitions],
            "final_state": self.final_state,
            "stopped_by_breaker": self.stopped_by_breaker,
            "stop_reason": self.stop_reason,
            "last_bar": self.last_bar.isoformat() if self.last_bar else None,
            "reconciled_on_start": dict(self.reconciled_on_start),
        }


@dataclass(frozen=True)
class SessionResult:
    """What a session run returns: its summary and where its state lives."""

    summary: SessionSummary
    state_dir: Path

    @property
    def stopped_by_breaker(self) -> bool:
        """Return True when the circuit breaker stopped the session."""
        return self.summary.stopped_by_breaker


@dataclass(frozen=True)
class Gate:
    """One validation gate: its verdict, what was observed and what was required."""

    name: str
    passed: bool
    observed: Any
    expected: str

    def to_json(self) -> dict[str, Any]:
        """Return the JSON object (name, passed, observed, expected)."""
        return {
            "name": self.name,
            "passed": self.passed,
            "observed": self.observed,
            "expected": self.expected,
        }


# Reported when a result carries no gate at all: a missing verdict never counts as a pass.
NO_GATES = Gate("gates_present", False, 0, ">= 1 gate evaluated")


@dataclass(frozen=True)
class ValidationResult:
    """The verdict of one validation run: every gate, and the session it judged."""

    gates: tuple[Gate, ...]
    summary: SessionSummary | None = None
    state_dir: Path | None = None
    start: datetime | None = None
    end: datetime | None = None
    faults: Path | None = None

    @property
    def failed(self) -> tuple[Gate, ...]:
        """Return the failing gates; no gate at all counts as one failure (fail closed)."""
        if not self.gates:
            return (NO_GATES,)
        return tuple(g for g in self.gates if not g.passed)

    @property
    def passed(self) -> bool:
        """Return True only when there are gates and every one passed."""
        return not self.failed

    @classmethod
    def crashed(cls, error: BaseException) -> ValidationResult:
        """Return a failed result recording that the validation run itself raised."""
        observed = f"{type(error).__name__}: {error}"
        return cls((Gate(UNHANDLED_EXCEPTION_GATE, False, observed, "no exception"),))

    def to_json(self) -> dict[str, Any]:
        """Return the JSON object of `validate --json`."""
        return {
            "passed": self.passed,
            "gates": [g.to_json() for g in self.gates],
            "summary": self.summary.to_json() if self.summary else None,
            "state_dir": str(self.state_dir) if self.state_dir else None,
            "window": {
                "start": self.start.isoformat() if self.start else None,
                "end": self.end.isoformat() if self.end else None,
            },
            "faults": str(self.faults) if self.faults else None,
        }


class ValidationFailedError(TradeguardError):
    """At least one validation gate failed: read the validation-result artifact before go-live."""

    def __init__(self, message: str, result: ValidationResult | None = None) -> None:
        super().__init__(message)
        self.result = result if result is not None else ValidationResult(())


@dataclass(frozen=True)
class TimelineOrder:
    """One order intent in an incident timeline."""

    created_at: datetime
    client_order_id: str
    symbol: str
    side: str
    quantity: float
    status: str
    reason: str

    @classmethod
    def of(cls, intent: OrderIntent) -> TimelineOrder:
        """Return the timeline view of a journaled intent."""
        request = intent.request
        return cls(
            request.created_at,
            intent.client_order_id,
            request.symbol,
            request.side.value,
            request.quantity,
            intent.status.value,
            intent.reason,
        )

    def to_json(self) -> dict[str, Any]:
        """Return the JSON object of one timeline order."""
        return {
            "created_at": self.created_at.isoformat(),
            "client_order_id": self.client_order_id,
            "symbol": self.symbol,
            "side": self.side,
            "quantity": self.quantity,
            "status": self.status,
            "reason": self.reason,
        }


def action_json(action: OperatorActed) -> dict[str, Any]:
    """Return the JSON object of one operator action."""
    return {"at": action.at.isoformat(), "action": action.action, "reason": action.reason,
            "who": action.who}


@dataclass(frozen=True)
class IncidentTimeline:
    """Breaker transitions, orders and operator actions of a window around an incident."""

    incident: Transition | None
    start: datetime | None
    end: datetime | None
    transitions: tuple[Transition, ...] = ()
    orders: tuple[TimelineOrder, ...] = ()
    operator_actions: tuple[OperatorActed, ...] = ()
    trigger_event: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the JSON object of `incident-report --json` (Markdown included)."""
        from tradeguard.render import timeline_markdown

        window = None
        if self.start is not None and self.end is not None:
            window = {"start": self.start.isoformat(), "end": self.end.isoformat()}
        data: dict[str, Any] = {
            "incident": self.incident.to_json() if self.incident else None,
            "window": window,
            "transitions": [t.to_json() for t in self.transitions],
            "intents": [o.to_json() for o in self.orders],
            "operator_actions": [action_json(a) for a in self.operator_actions],
            "markdown": timeline_markdown(self),
        }
        if self.trigger_event:
            data["trigger_event"] = self.trigger_event
        return data
