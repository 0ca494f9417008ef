"""Values of the circuit breaker: states, issue types, configuration, gate inputs and decisions."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine.model import Side

SNAPSHOT_VERSION = 1

_DAY = 86_400.0
_WEEK = 7 * _DAY


class CircuitState(Enum):
    """Breaker level; HALF_OPEN is the probing phase on the way out of HALT."""

    CLOSED = "CLOSED"
    ALERT = "ALERT"
    THROTTLE = "THROTTLE"
    HALF_OPEN = "HALF_OPEN"
    HALT = "HALT"
    SHUTDOWN = "SHUTDOWN"

    @property
    def severity(self) -> int:
        """Return the rank: CLOSED < ALERT < THROTTLE < HALF_OPEN < HALT < SHUTDOWN."""
        return _SEVERITY[self]


_SEVERITY = {state: rank for rank, state in enumerate(CircuitState)}

HaltRecovery = Literal["auto", "confirm"]


class IssueType(StrEnum):
    """Kind of unhealthy input the breaker was told about."""

    API_LATENCY = "API_LATENCY"
    ORDER_FAILURE = "ORDER_FAILURE"
    SLIPPAGE = "SLIPPAGE"
    LOSS = "LOSS"
    DATA_FEED = "DATA_FEED"
    MEMORY_ERROR = "MEMORY_ERROR"
    DATABASE_CORRUPTION = "DATABASE_CORRUPTION"
    SECURITY_BREACH = "SECURITY_BREACH"
    CRITICAL_SYSTEM_ERROR = "CRITICAL_SYSTEM_ERROR"
    CRASH_RECOVERY = "CRASH_RECOVERY"
    MANUAL = "MANUAL"

    @property
    def is_critical(self) -> bool:
        """Return True for the issue types that shut the breaker down."""
        return self in _CRITICAL


_CRITICAL = frozenset(
    {
        IssueType.MEMORY_ERROR,
        IssueType.DATABASE_CORRUPTION,
        IssueType.SECURITY_BREACH,
        IssueType.CRITICAL_SYSTEM_ERROR,
    }
)


def _ms(default: float, what: str) -> float:
    return Field(default, description=what, gt=0.0, le=3_600_000.0)


def _slip(default: float, what: str) -> float:
    return Field(default, description=what + " (percent: 0.1 means 0.1 %)", gt=0.0, le=100.0)


def _n(default: int, what: str) -> int:
    return Field(default, description=what, ge=1, le=100_000)


def _secs(default: float, what: str) -> float:
    return Field(default, description=what + " (seconds)", gt=0.0, le=_WEEK)


def _fraction(default: float, what: str) -> float:
    return Field(default, description=what + " (fraction in (0, 1])", gt=0.0, le=1.0)


class CircuitConfig(BaseModel):
    """Thresholds, windows and cooldowns of the graduated breaker (seeds 001 and 004)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    alert_api_latency_ms: float = _ms(500.0, "API latency at or above which the breaker ALERTs")
    throttle_api_latency_ms: float = _ms(1000.0, "API latency at or above which it THROTTLEs")
    halt_api_latency_ms: float = _ms(3000.0, "API latency at or above which it HALTs")
    alert_slippage_pct: float = _slip(0.1, "absolute fill slippage that ALERTs")
    throttle_slippage_pct: float = _slip(0.3, "absolute fill slippage that THROTTLEs")
    halt_slippage_pct: float = _slip(0.5, "absolute fill slippage that HALTs")
    alert_consecutive_failures: int = _n(2, "consecutive order failures that ALERT")
    throttle_consecutive_failures: int = _n(3, "consecutive order failures that THROTTLE")
    halt_consecutive_failures: int = _n(5, "consecutive order failures that HALT")
    shutdown_consecutive_failures: int = _n(10, "consecutive order failures that SHUT DOWN")
    halt_loss_pct: float = _fraction(
        0.05,
        "loss as a fraction of peak equity within loss_window_seconds that HALTs; "
        "a loss of at least half of it counts as unhealthy",
    )
    loss_window_seconds: float = _secs(
        3600.0, "window over which the session measures loss from peak equity for report_loss"
    )
    alert_cooldown_seconds: float = _secs(60.0, "healthy time before ALERT steps down to CLOSED")
    throttle_cooldown_seconds: float = _secs(
        300.0, "healthy time before THROTTLE steps down to ALERT"
    )
    halt_cooldown_seconds: float = _secs(900.0, "healthy time before HALT steps to HALF_OPEN")
    halt_recovery: HaltRecovery = Field(
        "auto",
        description=(
            "how HALT ends after halt_cooldown_seconds healthy: 'auto' steps to HALF_OPEN by "
            "itself; 'confirm' stays in HALT (position-reducing orders only) until an operator "
            "confirms with force_recovery (the recover command), which then enters HALF_OPEN "
            "probing rather than CLOSED (seed 004: operator confirmation in production). "
            "Default: auto for replays and paper sessions; a live venue session uses confirm "
            "unless this is set explicitly"
        ),
    )
    failure_threshold: int = _n(5, "order failures within failure_window_secs that HALT")
    failure_window_secs: float = _secs(60.0, "window for failure_threshold")
    half_open_max_tries: int = _n(3, "successful orders in HALF_OPEN that close the breaker")
    failure_rate_threshold: float = _fraction(
        0.30, "share of failed orders within failure_rate_window_secs that THROTTLEs"
    )
    failure_rate_window_secs: float = _secs(300.0, "window for failure_rate_threshold")
    failure_rate_min_calls: int = _n(
        10, "orders (successes + failures) needed in the window before the rate is evaluated"
    )
    data_issue_window_secs: float = _secs(300.0, "window over which data-feed issues are counted")
    alert_data_issues: int = _n(1, "data-feed issues within the window that ALERT")
    throttle_data_issues: int = _n(3, "data-feed issues within the window that THROTTLE")
    halt_data_issues: int = _n(5, "data-feed issues within the window that HALT")
    throttle_min_confidence: float = Field(
        0.7,
        description="THROTTLE allows opening orders only with confidence strictly above this",
        ge=0.0,
        lt=1.0,
    )
    throttle_size_factor: float = _fraction(0.5, "size multiplier for orders allowed in THROTTLE")
    half_open_size_factor: float = _fraction(0.5, "size multiplier for HALF_OPEN probe orders")
    metrics_window_size: int = Field(
        100, description="latency and slippage samples kept for avg/p95", ge=1, le=100_000
    )
    shadow_mode: bool = Field(
        False, description="evaluate and report everything but never block an order"
    )

    @model_validator(mode="after")
    def _levels_increase(self) -> CircuitConfig:
        chains: tuple[tuple[str, ...], ...] = (
            ("alert_api_latency_ms", "throttle_api_latency_ms", "halt_api_latency_ms"),
            ("alert_slippage_pct", "throttle_slippage_pct", "halt_slippage_pct"),
            (
                "alert_consecutive_failures",
                "throttle_consecutive_failures",
                "halt_consecutive_failures",
                "shutdown_consecutive_failures",
            ),
            ("alert_data_issues", "throttle_data_issues", "halt_data_issues"),
        )
        for names in chains:
            values = [getattr(self, name) for name in names]
            if any(low >= high for low, high in itertools.pairwise(values)):
                shown = ", ".join(f"{n}={v}" for n, v in zip(names, values, strict=True))
                message = f"{' < '.join(names)} must be strictly increasing (got {shown})"
                raise ValueError(message)
        return self


@dataclass(frozen=True, slots=True)
class ExecutionAction:
    """An order about to be sent, as the breaker needs to see it."""

    symbol: str
    side: Side
    quantity: float
    confidence: float
    reduces_position: bool


@dataclass(frozen=True, slots=True)
class BreakerDecision:
    """The breaker's verdict on one ExecutionAction.

    size_factor multiplies the order quantity; min_confidence is the confidence an opening
    order had to exceed; reduce_only says new exposure is forbidden in this state (HALT and
    SHUTDOWN); shadow_denied marks a shadow-mode decision that would have been a denial.
    """

    allowed: bool
    reason: str
    state: CircuitState
    size_factor: float
    min_confidence: float
    reduce_only: bool
    shadow_denied: bool = False
