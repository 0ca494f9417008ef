"""Graduated circuit breaker state machine: CLOSED, ALERT, THROTTLE, HALT, HALF_OPEN, SHUTDOWN.

Values live in engine/breaker_config.py, the trigger rules and what each level allows in
engine/breaker_policy.py (a new trigger goes there: see its docstring), the persisted state in
engine/breaker_memory.py (`BreakerMemory`, the one source of truth for the state) and the typed
listener protocol in engine/breaker_listener.py; this module holds the transitions.

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

HALT recovery follows `halt_recovery`: "auto" steps HALT down to HALF_OPEN after the cooldown;
"confirm" keeps HALT (position-reducing orders only) after the cooldown until an operator calls
force_recovery, which then enters HALF_OPEN probing instead of CLOSED.

Operator choices: manual_override_enable forces HALT until disabled; disabling releases into
HALF_OPEN so recovery is probed. force_recovery goes to CLOSED (HALF_OPEN from HALT or HALF_OPEN
under "confirm") but refuses to leave SHUTDOWN; reset() is the only exit from SHUTDOWN. Orders
that reduce a position pass at full size in THROTTLE, HALF_OPEN and HALT so that a position is
never trapped; SHUTDOWN allows nothing.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from engine.breaker_config import (
    BreakerDecision,
    CircuitConfig,
    CircuitState,
    ExecutionAction,
    IssueType,
)
from engine.breaker_listener import BreakerListener, ListenerSet
from engine.breaker_memory import BreakerMemory, check_finite, prune, status_report
from engine.breaker_policy import (
    BreakerPolicy,
    Escalation,
    crash_recovery,
    critical_error,
    decide,
    shadowed,
)
from engine.breaker_samples import SampleRecord
from engine.clock import Clock
from engine.events import BreakerTransitioned, IssueReported, OperatorActed

__all__ = ["BreakerDecision", "BreakerListener", "CircuitBreaker", "CircuitConfig",
           "CircuitState", "ExecutionAction", "IssueType"]

log = logging.getLogger(__name__)

_CLOSED = CircuitState.CLOSED
_ALERT = CircuitState.ALERT
_THROTTLE = CircuitState.THROTTLE
_HALF_OPEN = CircuitState.HALF_OPEN
_HALT = CircuitState.HALT
_SHUTDOWN = CircuitState.SHUTDOWN
_STEP_DOWN = {_THROTTLE: _ALERT, _ALERT: _CLOSED, _HALT: _HALF_OPEN}
_MAX_ISSUES = 1000


class CircuitBreaker:
    """Graduated breaker fed by execution outcomes; gate orders with check_execution_allowed."""

    def __init__(self, config: CircuitConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._policy = BreakerPolicy.from_config(config)
        self._m = BreakerMemory(_CLOSED, clock.now(), config.metrics_window_size)
        # Derived from self._m on every change: the next instant a cooldown falls due, and
        # closed: whether the state is CLOSED (no cooldown to wait for; the bar path reads it).
        self._next_deadline: datetime | None = None
        self.closed = True
        self._issues: deque[IssueReported] = deque(maxlen=_MAX_ISSUES)
        self._listeners = ListenerSet()
        self._cooldowns = {_ALERT: timedelta(seconds=config.alert_cooldown_seconds),
                           _THROTTLE: timedelta(seconds=config.throttle_cooldown_seconds),
                           _HALT: timedelta(seconds=config.halt_cooldown_seconds)}
        self._confirm_halt = config.halt_recovery == "confirm"
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
        return self._m.state

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

    @property
    def awaiting_confirmation(self) -> bool:
        """Return True when HALT's cooldown is over and only an operator can end it."""
        return self._awaits_confirmation(self._clock.now())

    def add_listener(self, listener: BreakerListener) -> None:
        """Send listener every transition, issue and operator action from now on."""
        self._listeners.add(listener)

    def get_recent_issues(self, minutes: float) -> list[IssueReported]:
        """Return the issues reported within the last minutes, oldest first."""
        cutoff = self._clock.now() - timedelta(minutes=minutes)
        return [issue for issue in self._issues if issue.at >= cutoff]

    def get_status(self) -> dict[str, Any]:
        """Return a JSON-ready status: state, reason, counters, override, metrics, recovery."""
        now = self._begin()
        self._prune_windows(now)
        return status_report(self._m, self._config, now, self._next_deadline,
                             self._awaits_confirmation(now))

    def _awaits_confirmation(self, now: datetime) -> bool:
        m = self._m
        return (self._confirm_halt and m.state is _HALT and not m.override_active
                and now >= m.quiet_since() + self._cooldowns[_HALT])

    # ------------------------------------------------------------------ time
    def tick(self) -> None:
        """Apply due cooldown transitions; O(1) when nothing is due (never when closed)."""
        deadline = self._next_deadline
        if deadline is not None and (now := self._clock.now()) >= deadline:
            self._advance(now)

    def _begin(self) -> datetime:
        now = self._clock.now()
        if (deadline := self._next_deadline) is not None and now >= deadline:
            self._advance(now)
        return now

    def _advance(self, now: datetime) -> None:
        while (due := self._next_deadline) is not None and now >= due:
            current = self._m.state
            cooldown = self._cooldowns[current].total_seconds()
            in_state = (due - self._m.entered_at).total_seconds()
            self._transition(_STEP_DOWN[current], "cooldown", due, in_state, cooldown,
                             f"{current.value} healthy for {cooldown:g}s")

    def _recompute_deadline(self) -> None:
        m = self._m
        self.closed = m.state is _CLOSED
        cooldown = self._cooldowns.get(m.state)
        # Under "confirm" HALT has nothing to do when its cooldown ends: only an operator
        # leaves it; _awaits_confirmation tells from the same instants whether the wait is over.
        if cooldown is None or m.override_active or (m.state is _HALT and self._confirm_halt):
            self._next_deadline = None
            return
        self._next_deadline = m.quiet_since() + cooldown

    def _prune_windows(self, now: datetime) -> None:
        self._m.prune_windows(now, self._fail_span, self._rate_span, self._data_span)

    # ------------------------------------------------------------------ inputs
    def report_api_latency(self, latency_ms: float) -> None:
        """Record one API round-trip latency in milliseconds."""
        check_finite(latency_ms, "latency_ms", 0.0)
        latency_ms = float(latency_ms)
        now = self._begin()
        self._m.add_latency(latency_ms)
        escalation = self._policy.api_latency.fire(latency_ms)
        if escalation is not None:
            self._unhealthy(now, IssueType.API_LATENCY, {"latency_ms": latency_ms})
            self._escalate(now, escalation)

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
        m = self._m
        m.consecutive_failures += 1
        m.failure_window.append(now)
        m.rate_failures.append(now)
        self._prune_windows(now)
        self._unhealthy(now, IssueType.ORDER_FAILURE,
                        {**(details or {}), "consecutive_failures": m.consecutive_failures})
        self._escalate(now, self._policy.failure_escalation(
            m.consecutive_failures, len(m.failure_window), len(m.rate_failures),
            len(m.rate_successes), probing=m.state is _HALF_OPEN))

    def report_slippage(self, expected_price: float, actual_price: float) -> None:
        """Record a fill's absolute slippage |actual - expected| / expected, in percent."""
        check_finite(expected_price, "expected_price", 0.0, strict=True)
        check_finite(actual_price, "actual_price", 0.0)
        now = self._begin()
        pct = abs(actual_price - expected_price) / expected_price * 100.0
        self._m.add_slippage(pct)
        escalation = self._policy.slippage.fire(pct)
        if escalation is not None:
            self._unhealthy(now, IssueType.SLIPPAGE, {"expected_price": expected_price,
                                                      "actual_price": actual_price,
                                                      "slippage_pct": pct})
            self._escalate(now, escalation)

    def report_loss(self, loss_pct: float) -> None:
        """Record the loss from peak equity over loss_window_seconds, as a fraction."""
        check_finite(loss_pct, "loss_pct")
        loss_pct = float(loss_pct)
        now = self._begin()
        if loss_pct < self._policy.loss_unhealthy_from:
            return
        self._unhealthy(now, IssueType.LOSS, {"loss_pct": loss_pct})
        self._escalate(now, self._policy.loss.fire(loss_pct))

    def report_data_feed_issue(self, details: Mapping[str, Any] | None = None) -> None:
        """Record a data-feed problem (gap, invalid bar, stale feed)."""
        now = self._begin()
        issues = self._m.data_issues
        issues.append(now)
        prune(issues, now - self._data_span)
        count = len(issues)
        self._unhealthy(now, IssueType.DATA_FEED, {**(details or {}), "issues_in_window": count})
        self._escalate(now, self._policy.data_feed.fire(float(count)))

    def report_critical_error(
        self, issue_type: IssueType | str, details: Mapping[str, Any] | None = None
    ) -> None:
        """Record a critical error: critical types SHUT DOWN, any other type HALTs."""
        issue_type = IssueType(issue_type)
        now = self._begin()
        self._unhealthy(now, issue_type, dict(details or {}))
        self._escalate(now, critical_error(issue_type))

    def report_crash_recovery(self, details: Mapping[str, Any] | None = None) -> None:
        """Record an unclean restart: at least ALERT, without restarting any cooldown."""
        now = self._begin()
        self._record_issue(now, IssueType.CRASH_RECOVERY, dict(details or {}))
        self._escalate(now, crash_recovery())

    def _unhealthy(self, now: datetime, kind: IssueType, details: dict[str, Any]) -> None:
        self._m.last_unhealthy_at = now
        self._recompute_deadline()
        self._record_issue(now, kind, details)

    def _record_issue(self, now: datetime, kind: IssueType, details: dict[str, Any]) -> None:
        issue = IssueReported(now, kind.value, details)
        self._issues.append(issue)
        log.debug("breaker_issue type=%s details=%s", kind.value, details)
        self._listeners.issue_reported(issue)

    def _escalate(self, now: datetime, escalation: Escalation | None) -> None:
        # An active override holds HALT or SHUTDOWN, so only SHUTDOWN can still escalate it.
        if escalation is None or escalation.level.severity <= self._m.state.severity:
            return
        self._transition(escalation.level, escalation.trigger, now, escalation.observed,
                         escalation.threshold, escalation.reason)

    def _transition(self, target: CircuitState, trigger: str, at: datetime,
                    observed: float | None, threshold: float | None, reason: str) -> None:
        m = self._m
        source = m.state
        m.state = target
        m.entered_at, m.reason, m.trigger = at, reason, trigger
        m.half_open_successes = 0
        self._recompute_deadline()
        level = logging.WARNING if target.severity > source.severity else logging.INFO
        log.log(level, 'breaker_transition from=%s to=%s trigger=%s observed=%s threshold=%s '
                'reason="%s"', source.value, target.value, trigger, observed, threshold, reason)
        self._listeners.state_changed(BreakerTransitioned(
            at, source.value, target.value, trigger, observed, threshold, reason))

    # ------------------------------------------------------------------ gate
    def check_execution_allowed(self, action: ExecutionAction) -> BreakerDecision:
        """Return whether the breaker lets this order through, and at what size."""
        m = self._m
        if m.state is _CLOSED:
            return self._closed_decision
        deadline = self._next_deadline
        if deadline is not None:
            now = self._clock.now()
            if now >= deadline:
                self._advance(now)
                if m.state is _CLOSED:
                    return self._closed_decision
        if m.state is _ALERT:
            return self._alert_decision
        why = (f"manual override by {m.override_who}: {m.override_reason}"
               if m.override_active else m.reason)
        if self._confirm_halt and self._awaits_confirmation(self._clock.now()):
            why = f"{why}; cooldown over, awaiting operator confirmation (recover)"
        decision = decide(m.state, action, self._config, why)
        return shadowed(decision) if self._config.shadow_mode else decision

    # ------------------------------------------------------------------ operator
    def manual_override_enable(self, reason: str, who: str = "operator") -> None:
        """Force HALT (reducing orders only) until manual_override_disable; cooldowns wait."""
        now = self._begin()
        self._set_override(True, reason, who, now)
        self._operator(now, "manual_override_enable", reason, who)
        if self._m.state.severity < _HALT.severity:
            self._transition(_HALT, "manual_override", now, None, None,
                             f"manual override by {who}: {reason}")
        self._recompute_deadline()

    def manual_override_disable(self, reason: str = "", who: str = "operator") -> None:
        """Release the override into HALF_OPEN so that recovery is probed."""
        now = self._begin()
        was_active = self._m.override_active
        self._set_override(False, reason, who, now)
        self._operator(now, "manual_override_disable", reason, who)
        if was_active and self._m.state is _HALT:
            self._transition(_HALF_OPEN, "override_disabled", now, None, None,
                             f"override released by {who}: {reason}")
        self._recompute_deadline()

    def force_recovery(self, reason: str = "", who: str = "operator") -> bool:
        """Clear counters and override, then go to CLOSED; refused in SHUTDOWN (use reset).

        Under halt_recovery "confirm" this is the operator's confirmation: from HALT or
        HALF_OPEN it enters HALF_OPEN, so recovery is still probed before CLOSED.
        """
        now = self._begin()
        state = self._m.state
        if state is _SHUTDOWN:
            log.warning("breaker_force_recovery_refused who=%s reason=%s", who, reason)
            self._operator(now, "force_recovery_refused", reason, who)
            return False
        self._operator(now, "force_recovery", reason, who)
        probe = self._confirm_halt and state in (_HALT, _HALF_OPEN)
        self._clear(now, "force_recovery", who, reason, _HALF_OPEN if probe else _CLOSED)
        return True

    def reset(self, reason: str = "", who: str = "operator") -> None:
        """Go to CLOSED from any state, SHUTDOWN included, clearing counters and override."""
        now = self._begin()
        self._operator(now, "reset", reason, who)
        self._clear(now, "reset", who, reason, _CLOSED)

    def _set_override(self, active: bool, reason: str, who: str, now: datetime) -> None:
        m = self._m
        m.override_active, m.override_reason, m.override_who, m.override_at = (
            active, reason, who, now)

    def _clear(
        self, now: datetime, trigger: str, who: str, reason: str, target: CircuitState
    ) -> None:
        m = self._m
        if m.override_active:
            self._set_override(False, reason, who, now)
        m.consecutive_failures = m.half_open_successes = 0
        m.last_unhealthy_at = None
        for window in m.windows():
            window.clear()
        if m.state is not target:
            self._transition(target, trigger, now, None, None, f"{trigger} by {who}: {reason}")
        self._recompute_deadline()

    def _operator(self, now: datetime, action: str, reason: str, who: str) -> None:
        log.warning("breaker_operator action=%s who=%s reason=%s", action, who, reason)
        self._listeners.operator_acted(OperatorActed(now, action, reason, who))

    # ------------------------------------------------------------------ persistence
    def snapshot(self, windows: bool = True) -> dict[str, Any]:
        """Return a JSON-ready snapshot from which from_snapshot resumes exactly.

        windows=False: without the sample windows (the journal keeps them as rows).
        """
        data = self._m.to_json(windows)
        deadline = self._next_deadline
        data["next_deadline"] = None if deadline is None else deadline.isoformat()
        return data

    def pending_samples(self) -> list[SampleRecord]:
        """Return the latency/slippage samples not yet committed as journal rows."""
        return self._m.pending_samples()

    def samples_written(self, samples: Sequence[SampleRecord]) -> None:
        """Note that the journal committed these samples."""
        self._m.samples_written(samples)

    @classmethod
    def from_snapshot(
        cls, config: CircuitConfig, clock: Clock, data: Mapping[str, Any]
    ) -> CircuitBreaker:
        """Rebuild a breaker from snapshot(); deadlines continue from the persisted times."""
        breaker = cls(config, clock)
        breaker._m = BreakerMemory.from_json(data, config.metrics_window_size)
        # The deadline is derived from absolute persisted times, never from restart time.
        breaker._recompute_deadline()
        return breaker
