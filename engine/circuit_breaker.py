"""Graduated circuit breaker: CLOSED, ALERT, THROTTLE, HALT, HALF_OPEN, SHUTDOWN.

Escalation is immediate to the highest level whose trigger fires and never lowers the state.
De-escalation goes one level at a time: a level L steps down once
max(entered_L_at, last_unhealthy_at) + cooldown(L) has passed. Unhealthy inputs are order
failures, latency or slippage at or above the ALERT threshold, data-feed issues, losses of at
least half of halt_loss_pct, and critical errors. A crash recovery is recorded and lifts the
state to at least ALERT (which trades like CLOSED) but is not unhealthy, so a restarted process
trades exactly as an uninterrupted one would.

Cooldown transitions are stamped with the instant they became due, not the instant tick()
noticed them, so the outcome does not depend on how often tick() runs. The failure rate is
evaluated when a failure arrives (a success can only lower it). Recent issues are not part of
the snapshot: the store journals them.

Operator choices: manual_override_enable forces HALT until disabled; disabling releases into
HALF_OPEN so recovery is probed. force_recovery goes to CLOSED but refuses to leave SHUTDOWN;
reset() is the only exit from SHUTDOWN. Orders that reduce a position pass at full size in
THROTTLE, HALF_OPEN and HALT so that a position is never trapped; SHUTDOWN allows nothing.
Listener and alert-callback errors are logged and swallowed: a failing notifier must never
change what the breaker decides.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from engine.breaker_config import (
    BreakerDecision,
    CircuitConfig,
    CircuitState,
    ExecutionAction,
    IssueType,
    Trigger,
)
from engine.breaker_memory import (
    BreakerMemory,
    check_finite,
    decide,
    failure_trigger,
    prune,
    shadowed,
    status_report,
    threshold_level,
)
from engine.clock import Clock
from engine.errors import CircuitBreakerOpenException
from engine.events import BreakerTransitioned, IssueReported, OperatorActed

__all__ = ["BreakerDecision", "CircuitBreaker", "CircuitConfig", "CircuitState",
           "ExecutionAction", "IssueType"]

log = logging.getLogger(__name__)

_CLOSED = CircuitState.CLOSED
_ALERT = CircuitState.ALERT
_THROTTLE = CircuitState.THROTTLE
_HALF_OPEN = CircuitState.HALF_OPEN
_HALT = CircuitState.HALT
_SHUTDOWN = CircuitState.SHUTDOWN
_STEP_DOWN = {_THROTTLE: _ALERT, _ALERT: _CLOSED, _HALT: _HALF_OPEN}
_MAX_ISSUES = 1000

AlertCallback = Callable[[IssueReported], None]
Listener = Callable[[BreakerTransitioned | OperatorActed], None]


class CircuitBreaker:
    """Graduated breaker fed by execution outcomes; gate orders with check_execution_allowed."""

    def __init__(self, config: CircuitConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._m = BreakerMemory(_CLOSED, clock.now(), config.metrics_window_size)
        self._state = _CLOSED  # mirror of self._m.state for the hot path
        self._next_deadline: datetime | None = None
        self._issues: deque[IssueReported] = deque(maxlen=_MAX_ISSUES)
        self._alert_callbacks: list[AlertCallback] = []
        self._listeners: list[Listener] = []
        self._cooldowns = {_ALERT: timedelta(seconds=config.alert_cooldown_seconds),
                           _THROTTLE: timedelta(seconds=config.throttle_cooldown_seconds),
                           _HALT: timedelta(seconds=config.halt_cooldown_seconds)}
        self._fail_span = timedelta(seconds=config.failure_window_secs)
        self._rate_span = timedelta(seconds=config.failure_rate_window_secs)
        self._data_span = timedelta(seconds=config.data_issue_window_secs)
        self._closed_decision = BreakerDecision(True, "closed: normal operation", _CLOSED,
                                                1.0, 0.0, False)
        self._alert_decision = BreakerDecision(True, "alert: degraded, full size", _ALERT,
                                               1.0, 0.0, False)

    # ------------------------------------------------------------------ observation
    @property
    def state(self) -> CircuitState:
        """Return the current state (time-based transitions apply on tick/report/check)."""
        return self._state

    @property
    def config(self) -> CircuitConfig:
        """Return the configuration."""
        return self._config

    @property
    def consecutive_failures(self) -> int:
        """Return order failures since the last success."""
        return self._m.consecutive_failures

    @property
    def failure_timestamps(self) -> tuple[datetime, ...]:
        """Return the failures inside failure_window_secs, oldest first."""
        cutoff = self._clock.now() - self._fail_span
        return tuple(t for t in self._m.failure_window if t >= cutoff)

    @property
    def override_active(self) -> bool:
        """Return True while the operator's manual override holds the breaker in HALT."""
        return self._m.override_active

    def register_alert_callback(self, fn: AlertCallback) -> None:
        """Call fn with every IssueReported."""
        self._alert_callbacks.append(fn)

    def add_listener(self, fn: Listener) -> None:
        """Call fn with every BreakerTransitioned and OperatorActed."""
        self._listeners.append(fn)

    def get_recent_issues(self, minutes: float) -> list[IssueReported]:
        """Return the issues reported within the last minutes, oldest first."""
        cutoff = self._clock.now() - timedelta(minutes=minutes)
        return [issue for issue in self._issues if issue.at >= cutoff]

    def get_status(self) -> dict[str, Any]:
        """Return a JSON-ready status: state, reason, counters, override and metrics."""
        now = self._begin()
        self._prune_windows(now)
        return status_report(self._m, self._config, now, self._next_deadline)

    # ------------------------------------------------------------------ time
    def tick(self) -> None:
        """Apply due cooldown transitions; O(1) when nothing is due."""
        deadline = self._next_deadline
        if deadline is not None:
            now = self._clock.now()
            if now >= deadline:
                self._advance(now)

    def _begin(self) -> datetime:
        now = self._clock.now()
        deadline = self._next_deadline
        if deadline is not None and now >= deadline:
            self._advance(now)
        return now

    def _advance(self, now: datetime) -> None:
        while (due := self._next_deadline) is not None and now >= due:
            current = self._state
            cooldown = self._cooldowns[current].total_seconds()
            in_state = (due - self._m.entered_at).total_seconds()
            self._transition(_STEP_DOWN[current], "cooldown", due, in_state, cooldown,
                             f"{current.value} healthy for {cooldown:g}s")

    def _recompute_deadline(self) -> None:
        m = self._m
        cooldown = self._cooldowns.get(m.state)
        if cooldown is None or m.override_active:
            self._next_deadline = None
            return
        base = m.entered_at
        if m.last_unhealthy_at is not None and m.last_unhealthy_at > base:
            base = m.last_unhealthy_at
        self._next_deadline = base + cooldown

    def _prune_windows(self, now: datetime) -> None:
        m = self._m
        prune(m.failure_window, now - self._fail_span)
        prune(m.rate_failures, now - self._rate_span)
        prune(m.rate_successes, now - self._rate_span)
        prune(m.data_issues, now - self._data_span)

    # ------------------------------------------------------------------ inputs
    def report_api_latency(self, latency_ms: float) -> None:
        """Record one API round-trip latency in milliseconds."""
        check_finite(latency_ms, "latency_ms", 0.0)
        latency_ms = float(latency_ms)
        now = self._begin()
        self._m.latencies.append(latency_ms)
        cfg = self._config
        level = threshold_level(latency_ms, cfg.alert_api_latency_ms,
                                cfg.throttle_api_latency_ms, cfg.halt_api_latency_ms)
        if level is not None:
            self._unhealthy(now, IssueType.API_LATENCY, {"latency_ms": latency_ms})
            self._escalate(now, (level[0], "api_latency", latency_ms, level[1],
                                 f"api latency {latency_ms:g} ms >= {level[1]:g} ms"))

    def report_order_success(self) -> None:
        """Record a successful order; resets consecutive failures, counts HALF_OPEN probes."""
        now = self._begin()
        m = self._m
        m.consecutive_failures = 0
        m.rate_successes.append(now)
        self._prune_windows(now)
        if m.state is _HALF_OPEN:
            m.half_open_successes += 1
            done, needed = m.half_open_successes, self._config.half_open_max_tries
            if done >= needed:
                self._transition(_CLOSED, "half_open_success", now, float(done), float(needed),
                                 f"{done} successful probe orders in HALF_OPEN")

    def report_order_failure(self, details: Mapping[str, Any] | None = None) -> None:
        """Record a failed or rejected order."""
        now = self._begin()
        m, cfg = self._m, self._config
        m.consecutive_failures += 1
        m.failure_window.append(now)
        m.rate_failures.append(now)
        self._prune_windows(now)
        self._unhealthy(now, IssueType.ORDER_FAILURE,
                        {**(details or {}), "consecutive_failures": m.consecutive_failures})
        trigger = failure_trigger(cfg, m, probing=m.state is _HALF_OPEN)
        if trigger is not None:
            self._escalate(now, trigger)

    def report_slippage(self, expected_price: float, actual_price: float) -> None:
        """Record a fill's absolute slippage |actual - expected| / expected, in percent."""
        check_finite(expected_price, "expected_price", 0.0, strict=True)
        check_finite(actual_price, "actual_price", 0.0)
        now = self._begin()
        pct = abs(actual_price - expected_price) / expected_price * 100.0
        self._m.slippages.append(pct)
        cfg = self._config
        level = threshold_level(pct, cfg.alert_slippage_pct, cfg.throttle_slippage_pct,
                                cfg.halt_slippage_pct)
        if level is not None:
            self._unhealthy(now, IssueType.SLIPPAGE, {"expected_price": expected_price,
                                                      "actual_price": actual_price,
                                                      "slippage_pct": pct})
            self._escalate(now, (level[0], "slippage", pct, level[1],
                                 f"slippage {pct:.3f}% >= {level[1]:g}%"))

    def report_loss(self, loss_pct: float) -> None:
        """Record the loss from peak equity over loss_window_seconds, as a fraction."""
        check_finite(loss_pct, "loss_pct")
        loss_pct = float(loss_pct)
        halt = self._config.halt_loss_pct
        now = self._begin()
        if loss_pct < halt / 2.0:
            return
        self._unhealthy(now, IssueType.LOSS, {"loss_pct": loss_pct})
        if loss_pct >= halt:
            self._escalate(now, (_HALT, "loss", loss_pct, halt,
                                 f"loss {loss_pct:.2%} of peak equity >= {halt:.2%}"))

    def report_data_feed_issue(self, details: Mapping[str, Any] | None = None) -> None:
        """Record a data-feed problem (gap, invalid bar, stale feed)."""
        now = self._begin()
        issues, cfg = self._m.data_issues, self._config
        issues.append(now)
        prune(issues, now - self._data_span)
        count = len(issues)
        self._unhealthy(now, IssueType.DATA_FEED, {**(details or {}), "issues_in_window": count})
        level = threshold_level(count, cfg.alert_data_issues, cfg.throttle_data_issues,
                                cfg.halt_data_issues)
        if level is not None:
            why = f"{count} data-feed issues within {cfg.data_issue_window_secs:g}s"
            self._escalate(now, (level[0], "data_feed", float(count), level[1], why))

    def report_critical_error(
        self, issue_type: IssueType | str, details: Mapping[str, Any] | None = None
    ) -> None:
        """Record a critical error: critical types SHUT DOWN, any other type HALTs."""
        issue_type = IssueType(issue_type)
        now = self._begin()
        self._unhealthy(now, issue_type, dict(details or {}))
        target = _SHUTDOWN if issue_type.is_critical else _HALT
        self._escalate(now, (target, "critical_error", None, None,
                             f"critical error {issue_type.value}"))

    def report_crash_recovery(self, details: Mapping[str, Any] | None = None) -> None:
        """Record an unclean restart: at least ALERT, without restarting any cooldown."""
        now = self._begin()
        self._record_issue(now, IssueType.CRASH_RECOVERY, dict(details or {}))
        self._escalate(now, (_ALERT, "crash_recovery", None, None,
                             "resumed after an unclean shutdown"))

    def _unhealthy(self, now: datetime, kind: IssueType, details: dict[str, Any]) -> None:
        self._m.last_unhealthy_at = now
        self._recompute_deadline()
        self._record_issue(now, kind, details)

    def _record_issue(self, now: datetime, kind: IssueType, details: dict[str, Any]) -> None:
        issue = IssueReported(now, kind.value, details)
        self._issues.append(issue)
        log.debug("breaker_issue type=%s details=%s", kind.value, details)
        for fn in list(self._alert_callbacks):
            try:
                fn(issue)
            except Exception:
                log.exception("breaker_alert_callback_failed type=%s", kind.value)

    def _escalate(self, now: datetime, trigger: Trigger) -> None:
        target, name, observed, threshold, reason = trigger
        # An active override holds HALT or SHUTDOWN, so only SHUTDOWN can still escalate it.
        if target.severity <= self._state.severity:
            return
        self._transition(target, name, now, observed, threshold, reason)

    def _transition(self, target: CircuitState, trigger: str, at: datetime,
                    observed: float | None, threshold: float | None, reason: str) -> None:
        m = self._m
        source = m.state
        m.state = self._state = target
        m.entered_at, m.reason, m.trigger = at, reason, trigger
        m.half_open_successes = 0
        self._recompute_deadline()
        level = logging.WARNING if target.severity > source.severity else logging.INFO
        log.log(level, 'breaker_transition from=%s to=%s trigger=%s observed=%s threshold=%s '
                'reason="%s"', source.value, target.value, trigger, observed, threshold, reason)
        self._emit(BreakerTransitioned(at, source.value, target.value, trigger, observed,
                                       threshold, reason))

    def _emit(self, event: BreakerTransitioned | OperatorActed) -> None:
        for fn in list(self._listeners):
            try:
                fn(event)
            except Exception:
                log.exception("breaker_listener_failed event=%s", type(event).__name__)

    # ------------------------------------------------------------------ gate
    def check_execution_allowed(self, action: ExecutionAction) -> BreakerDecision:
        """Return whether the breaker lets this order through, and at what size."""
        if self._state is _CLOSED:
            return self._closed_decision
        deadline = self._next_deadline
        if deadline is not None:
            now = self._clock.now()
            if now >= deadline:
                self._advance(now)
                if self._state is _CLOSED:
                    return self._closed_decision
        if self._state is _ALERT:
            return self._alert_decision
        m = self._m
        why = (f"manual override by {m.override_who}: {m.override_reason}"
               if m.override_active else m.reason)
        decision = decide(m.state, action, self._config, why)
        return shadowed(decision) if self._config.shadow_mode else decision

    def ensure_allowed(self, action: ExecutionAction) -> BreakerDecision:
        """Return the decision, or raise CircuitBreakerOpenException when it denies."""
        decision = self.check_execution_allowed(action)
        if not decision.allowed:
            stamps = self.failure_timestamps
            raise CircuitBreakerOpenException(decision.reason, decision.state.value,
                                              len(stamps), stamps)
        return decision

    # ------------------------------------------------------------------ operator
    def manual_override_enable(self, reason: str, who: str = "operator") -> None:
        """Force HALT (reducing orders only) until manual_override_disable; cooldowns wait."""
        now = self._begin()
        self._set_override(True, reason, who, now)
        self._operator(now, "manual_override_enable", reason, who)
        if self._state.severity < _HALT.severity:
            self._transition(_HALT, "manual_override", now, None, None,
                             f"manual override by {who}: {reason}")
        self._recompute_deadline()

    def manual_override_disable(self, reason: str = "", who: str = "operator") -> None:
        """Release the override into HALF_OPEN so that recovery is probed."""
        now = self._begin()
        was_active = self._m.override_active
        self._set_override(False, reason, who, now)
        self._operator(now, "manual_override_disable", reason, who)
        if was_active and self._state is _HALT:
            self._transition(_HALF_OPEN, "override_disabled", now, None, None,
                             f"override released by {who}: {reason}")
        self._recompute_deadline()

    def force_recovery(self, reason: str = "", who: str = "operator") -> bool:
        """Go to CLOSED, clearing counters and override; refused in SHUTDOWN (use reset)."""
        now = self._begin()
        if self._state is _SHUTDOWN:
            log.warning("breaker_force_recovery_refused who=%s reason=%s", who, reason)
            self._operator(now, "force_recovery_refused", reason, who)
            return False
        self._operator(now, "force_recovery", reason, who)
        self._clear(now, "force_recovery", who, reason)
        return True

    def reset(self, reason: str = "", who: str = "operator") -> None:
        """Go to CLOSED from any state, SHUTDOWN included, clearing counters and override."""
        now = self._begin()
        self._operator(now, "reset", reason, who)
        self._clear(now, "reset", who, reason)

    def _set_override(self, active: bool, reason: str, who: str, now: datetime) -> None:
        m = self._m
        m.override_active, m.override_reason, m.override_who, m.override_at = (
            active, reason, who, now)

    def _clear(self, now: datetime, trigger: str, who: str, reason: str) -> None:
        m = self._m
        if m.override_active:
            self._set_override(False, reason, who, now)
        m.consecutive_failures = m.half_open_successes = 0
        m.last_unhealthy_at = None
        for window in m.windows():
            window.clear()
        if self._state is not _CLOSED:
            self._transition(_CLOSED, trigger, now, None, None, f"{trigger} by {who}: {reason}")
        self._recompute_deadline()

    def _operator(self, now: datetime, action: str, reason: str, who: str) -> None:
        log.warning("breaker_operator action=%s who=%s reason=%s", action, who, reason)
        self._emit(OperatorActed(now, action, reason, who))

    # ------------------------------------------------------------------ persistence
    def snapshot(self) -> dict[str, Any]:
        """Return a JSON-ready snapshot from which from_snapshot resumes exactly."""
        data = self._m.to_json()
        deadline = self._next_deadline
        data["next_deadline"] = None if deadline is None else deadline.isoformat()
        return data

    @classmethod
    def from_snapshot(
        cls, config: CircuitConfig, clock: Clock, data: Mapping[str, Any]
    ) -> CircuitBreaker:
        """Rebuild a breaker from snapshot(); deadlines continue from the persisted times."""
        breaker = cls(config, clock)
        memory = BreakerMemory.from_json(data, config.metrics_window_size)
        breaker._m = memory
        breaker._state = memory.state
        # The deadline is derived from absolute persisted times, never from restart time.
        breaker._recompute_deadline()
        return breaker
