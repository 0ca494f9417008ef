"""Pure policy of the circuit breaker and the memory it persists across restarts."""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.breaker_config import (
    SNAPSHOT_VERSION,
    BreakerDecision,
    CircuitConfig,
    CircuitState,
    ExecutionAction,
    Trigger,
)
from engine.clock import ensure_utc
from engine.errors import ConfigurationError, StateError


def threshold_level(
    value: float, alert: float, throttle: float, halt: float
) -> tuple[CircuitState, float] | None:
    """Return the highest level whose threshold value reaches, with that threshold."""
    if value >= halt:
        return CircuitState.HALT, float(halt)
    if value >= throttle:
        return CircuitState.THROTTLE, float(throttle)
    if value >= alert:
        return CircuitState.ALERT, float(alert)
    return None


def percentile(values: list[float], q: float) -> float:
    """Return the nearest-rank q-quantile of values, 0.0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def decide(
    state: CircuitState, action: ExecutionAction, cfg: CircuitConfig, why: str
) -> BreakerDecision:
    """Return the decision for an order in a non-CLOSED state; why explains the state."""
    if state is CircuitState.SHUTDOWN:
        return BreakerDecision(False, f"shutdown: no trading until reset ({why})", state, 0.0,
                               0.0, True)
    if state is CircuitState.HALT:
        if action.reduces_position:
            return BreakerDecision(True, f"halt: position-reducing order allowed ({why})", state,
                                   1.0, 0.0, True)
        return BreakerDecision(False, f"halt: only position-reducing orders ({why})", state,
                               0.0, 0.0, True)
    if state is CircuitState.HALF_OPEN:
        if action.reduces_position:
            return BreakerDecision(True, "half_open: position-reducing order at full size",
                                   state, 1.0, 0.0, False)
        factor = cfg.half_open_size_factor
        return BreakerDecision(True, f"half_open: probe order at size x{factor:g}", state,
                               factor, 0.0, False)
    if state is CircuitState.THROTTLE:
        floor = cfg.throttle_min_confidence
        if action.reduces_position:
            return BreakerDecision(True, "throttle: position-reducing order at full size",
                                   state, 1.0, floor, False)
        if action.confidence > floor:
            factor = cfg.throttle_size_factor
            reason = f"throttle: confidence {action.confidence:.3f} > {floor:g}, size x{factor:g}"
            return BreakerDecision(True, reason, state, factor, floor, False)
        reason = f"throttle: confidence {action.confidence:.3f} <= {floor:g} ({why})"
        return BreakerDecision(False, reason, state, 0.0, floor, False)
    return BreakerDecision(True, f"{state.value.lower()}: full size ({why})", state, 1.0, 0.0,
                           False)


def shadowed(decision: BreakerDecision) -> BreakerDecision:
    """Return the shadow-mode form: always allowed at full size, marking would-be denials."""
    if decision.allowed and decision.size_factor == 1.0:
        return decision
    if decision.allowed:
        reason = f"shadow: would size x{decision.size_factor:g}: {decision.reason}"
        return BreakerDecision(True, reason, decision.state, 1.0, 0.0, False)
    reason = f"shadow: would deny: {decision.reason}"
    return BreakerDecision(True, reason, decision.state, 1.0, 0.0, False, shadow_denied=True)


def failure_trigger(cfg: CircuitConfig, m: BreakerMemory, probing: bool) -> Trigger | None:
    """Return the most severe trigger fired by the failure just recorded in m, if any."""
    streak, in_window = m.consecutive_failures, len(m.failure_window)
    why = f"{streak} consecutive order failures"
    # max() keeps the first of equal severity, so a lost HALF_OPEN probe is named as such.
    found: list[Trigger] = []
    if probing:
        found.append((CircuitState.HALT, "half_open_failure", float(streak), None,
                      "order failed while probing in HALF_OPEN"))
    if streak >= cfg.shutdown_consecutive_failures:
        found.append((CircuitState.SHUTDOWN, "consecutive_failures", float(streak),
                      float(cfg.shutdown_consecutive_failures), why))
    level = threshold_level(streak, cfg.alert_consecutive_failures,
                            cfg.throttle_consecutive_failures, cfg.halt_consecutive_failures)
    if level is not None:
        found.append((level[0], "consecutive_failures", float(streak), level[1], why))
    if in_window >= cfg.failure_threshold:
        found.append((CircuitState.HALT, "failure_window", float(in_window),
                      float(cfg.failure_threshold),
                      f"{in_window} order failures within {cfg.failure_window_secs:g}s"))
    calls = len(m.rate_failures) + len(m.rate_successes)
    if calls >= cfg.failure_rate_min_calls:
        rate = len(m.rate_failures) / calls
        if rate >= cfg.failure_rate_threshold:
            found.append((CircuitState.THROTTLE, "failure_rate", rate,
                          cfg.failure_rate_threshold,
                          f"failure rate {rate:.2f} over {calls} orders"))
    return max(found, key=lambda t: t[0].severity) if found else None


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _time(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        message = f"{name} must be an ISO-8601 string (got {value!r})"
        raise TypeError(message)
    return ensure_utc(datetime.fromisoformat(value), name)


def _opt_time(value: Any, name: str) -> datetime | None:
    return None if value is None else _time(value, name)


def _times(values: Any, name: str) -> deque[datetime]:
    times = deque(_time(t, name) for t in values)
    if any(a > b for a, b in itertools.pairwise(times)):
        message = f"{name} must be in time order"
        raise ValueError(message)
    return times


def _non_negative(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        message = f"{name} must be a non-negative integer (got {value!r})"
        raise ValueError(message)
    return value


def _samples(value: Any, name: str, size: int) -> deque[float]:
    floats = [float(v) for v in value]
    if not all(math.isfinite(v) and v >= 0.0 for v in floats):
        message = f"{name} must hold finite non-negative numbers"
        raise ValueError(message)
    return deque(floats, maxlen=size)


@dataclass(slots=True)
class BreakerMemory:
    """Everything the breaker must persist to resume exactly; times are absolute UTC."""

    state: CircuitState
    entered_at: datetime
    samples: int
    last_unhealthy_at: datetime | None = None
    reason: str = "initial state"
    trigger: str = "initial"
    consecutive_failures: int = 0
    half_open_successes: int = 0
    failure_window: deque[datetime] = field(default_factory=deque)
    rate_failures: deque[datetime] = field(default_factory=deque)
    rate_successes: deque[datetime] = field(default_factory=deque)
    data_issues: deque[datetime] = field(default_factory=deque)
    latencies: deque[float] = field(default_factory=deque)
    slippages: deque[float] = field(default_factory=deque)
    override_active: bool = False
    override_reason: str = ""
    override_who: str = ""
    override_at: datetime | None = None

    def __post_init__(self) -> None:
        self.latencies = deque(self.latencies, maxlen=self.samples)
        self.slippages = deque(self.slippages, maxlen=self.samples)

    def windows(self) -> tuple[deque[datetime], ...]:
        """Return the time-stamped windows (failures, rate failures/successes, data issues)."""
        return (self.failure_window, self.rate_failures, self.rate_successes, self.data_issues)

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict (datetimes as ISO-8601 strings)."""
        return {
            "version": SNAPSHOT_VERSION,
            "state": self.state.value,
            "entered_at": self.entered_at.isoformat(),
            "last_unhealthy_at": _iso(self.last_unhealthy_at),
            "reason": self.reason,
            "trigger": self.trigger,
            "consecutive_failures": self.consecutive_failures,
            "half_open_successes": self.half_open_successes,
            "failure_window": [t.isoformat() for t in self.failure_window],
            "rate_failures": [t.isoformat() for t in self.rate_failures],
            "rate_successes": [t.isoformat() for t in self.rate_successes],
            "data_issues": [t.isoformat() for t in self.data_issues],
            "latency_samples": list(self.latencies),
            "slippage_samples": list(self.slippages),
            "override": {
                "active": self.override_active,
                "reason": self.override_reason,
                "who": self.override_who,
                "at": _iso(self.override_at),
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], samples: int) -> BreakerMemory:
        """Rebuild from to_json(); raise StateError naming the unreadable field."""
        try:
            if data.get("version") != SNAPSHOT_VERSION:
                message = f"version must be {SNAPSHOT_VERSION} (got {data.get('version')!r})"
                raise ValueError(message)
            override = data["override"]
            state, active = CircuitState(data["state"]), override["active"]
            if not isinstance(active, bool):
                message = f"override.active must be a boolean (got {active!r})"
                raise TypeError(message)
            if active and state not in (CircuitState.HALT, CircuitState.SHUTDOWN):
                message = f"override.active requires state HALT or SHUTDOWN (got {state.value})"
                raise ValueError(message)
            return cls(
                state=state,
                entered_at=_time(data["entered_at"], "entered_at"),
                samples=samples,
                last_unhealthy_at=_opt_time(data["last_unhealthy_at"], "last_unhealthy_at"),
                reason=str(data["reason"]),
                trigger=str(data["trigger"]),
                consecutive_failures=_non_negative(data["consecutive_failures"],
                                                   "consecutive_failures"),
                half_open_successes=_non_negative(data["half_open_successes"],
                                                  "half_open_successes"),
                latencies=_samples(data["latency_samples"], "latency_samples", samples),
                slippages=_samples(data["slippage_samples"], "slippage_samples", samples),
                failure_window=_times(data["failure_window"], "failure_window"),
                rate_failures=_times(data["rate_failures"], "rate_failures"),
                rate_successes=_times(data["rate_successes"], "rate_successes"),
                data_issues=_times(data["data_issues"], "data_issues"),
                override_active=active,
                override_reason=str(override["reason"]),
                override_who=str(override["who"]),
                override_at=_opt_time(override["at"], "override.at"),
            )
        except (KeyError, TypeError, ValueError, ConfigurationError) as e:
            message = f"breaker snapshot cannot be restored: {type(e).__name__}: {e}"
            raise StateError(message) from e


def check_finite(value: float, name: str, minimum: float | None = None,
                  strict: bool = False) -> None:
    """Raise ValueError naming `name` unless value is finite and within the bound."""
    low = minimum is not None and (value <= minimum if strict else value < minimum)
    if not math.isfinite(value) or low:
        bound = "" if minimum is None else f" {'>' if strict else '>='} {minimum}"
        message = f"{name} must be a finite number{bound} (got {value!r})"
        raise ValueError(message)


def prune(window: deque[datetime], cutoff: datetime) -> None:
    """Drop timestamps older than cutoff from the left of a time-ordered window."""
    while window and window[0] < cutoff:
        window.popleft()


def status_report(
    m: BreakerMemory, config: CircuitConfig, now: datetime, deadline: datetime | None
) -> dict[str, Any]:
    """Return the breaker's JSON-ready status from its memory at time now."""
    failures, successes = len(m.rate_failures), len(m.rate_successes)
    latencies, slippages = list(m.latencies), list(m.slippages)
    saved = m.to_json()
    return {
        **{key: saved[key] for key in ("state", "reason", "trigger", "entered_at",
                                       "consecutive_failures", "half_open_successes",
                                       "override")},
        "failures_in_window": len(m.failure_window),
        "window_counts": {"failures": failures, "successes": successes,
                          "data_issues": len(m.data_issues)},
        "metrics": {
            "avg_api_latency_ms": sum(latencies) / len(latencies) if latencies else 0.0,
            "p95_api_latency_ms": percentile(latencies, 0.95),
            "avg_slippage_pct": sum(slippages) / len(slippages) if slippages else 0.0,
            "failure_rate": failures / (failures + successes) if failures else 0.0,
            "time_in_state_seconds": (now - m.entered_at).total_seconds(),
        },
        "next_deadline": None if deadline is None else deadline.isoformat(),
        "shadow_mode": config.shadow_mode,
    }
