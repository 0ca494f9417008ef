"""Pure policy of the circuit breaker: which trigger fires at which level, what a level allows.

Every trigger is one named rule of `BreakerPolicy`, built once from `CircuitConfig` in
`BreakerPolicy.from_config`:

- `LevelRule`: an observed number against `Threshold`s, most severe first; the first threshold
  the value reaches fires (api_latency, slippage, data_feed, consecutive_failures,
  failure_window, loss).
- `FailureRateRule`: the share of failed orders in its window, once enough orders were seen.
- fixed escalations without a threshold: half_open_failure, critical_error, crash_recovery.

A rule that fires returns an `Escalation` (target level, trigger name, observed value, threshold,
reason); the state machine (engine/circuit_breaker.py) applies it only when it raises the level.

Adding a trigger: (1) add its settings to `CircuitConfig` in engine/breaker_config.py, each with
a description and bounds (and to `_levels_increase` if it has several levels); (2) add one rule
attribute to `BreakerPolicy` below and build it in `from_config`; (3) feed it: a trigger driven by
order failures goes into `BreakerPolicy.failure_escalation`; any other input gets a `report_*`
method on `CircuitBreaker` that records it in `BreakerMemory` (engine/breaker_memory.py) when it
must survive a restart and calls `_escalate(now, rule.fire(value))`.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.breaker_config import (
    BreakerDecision,
    CircuitConfig,
    CircuitState,
    ExecutionAction,
    IssueType,
)

_ALERT = CircuitState.ALERT
_THROTTLE = CircuitState.THROTTLE
_HALF_OPEN = CircuitState.HALF_OPEN
_HALT = CircuitState.HALT
_SHUTDOWN = CircuitState.SHUTDOWN


@dataclass(frozen=True, slots=True)
class Threshold:
    """A level and the value at or above which a trigger moves the breaker to it."""

    level: CircuitState
    value: float


@dataclass(frozen=True, slots=True)
class Escalation:
    """A fired trigger: the level it demands and why (observed value against threshold)."""

    level: CircuitState
    trigger: str
    observed: float | None
    threshold: float | None
    reason: str


@dataclass(frozen=True, slots=True)
class LevelRule:
    """A trigger with one or more thresholds, most severe first.

    reason is a str.format template over `observed`, `threshold` and `count` (observed as int).
    """

    name: str
    thresholds: tuple[Threshold, ...]
    reason: str

    def reached(self, observed: float) -> Threshold | None:
        """Return the most severe threshold observed reaches, None below all of them."""
        for threshold in self.thresholds:
            if observed >= threshold.value:
                return threshold
        return None

    def fire(self, observed: float) -> Escalation | None:
        """Return the escalation for observed, None when no threshold is reached."""
        threshold = self.reached(observed)
        if threshold is None:
            return None
        why = self.reason.format(observed=observed, threshold=threshold.value,
                                 count=int(observed))
        return Escalation(threshold.level, self.name, observed, threshold.value, why)


@dataclass(frozen=True, slots=True)
class FailureRateRule:
    """Failed share of the orders in the rate window; evaluated from min_calls orders on."""

    name: str
    threshold: Threshold
    min_calls: int

    def fire(self, failures: int, successes: int) -> Escalation | None:
        """Return the escalation when the failure rate reaches the threshold."""
        calls = failures + successes
        if calls < self.min_calls:
            return None
        rate = failures / calls
        if rate < self.threshold.value:
            return None
        return Escalation(self.threshold.level, self.name, rate, self.threshold.value,
                          f"failure rate {rate:.2f} over {calls} orders")


def _levels(cfg: CircuitConfig, setting: str) -> tuple[Threshold, ...]:
    """Return the thresholds of the settings halt_<setting>, throttle_<setting>, alert_<setting>."""
    return tuple(Threshold(level, float(getattr(cfg, f"{level.value.lower()}_{setting}")))
                 for level in (_HALT, _THROTTLE, _ALERT))


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """Every escalation rule of the breaker, built from one CircuitConfig."""

    api_latency: LevelRule
    slippage: LevelRule
    data_feed: LevelRule
    consecutive_failures: LevelRule
    failure_window: LevelRule
    failure_rate: FailureRateRule
    loss: LevelRule
    loss_unhealthy_from: float

    @classmethod
    def from_config(cls, cfg: CircuitConfig) -> BreakerPolicy:
        """Build the rules from the configured thresholds."""
        streak_levels = (Threshold(_SHUTDOWN, float(cfg.shutdown_consecutive_failures)),
                         *_levels(cfg, "consecutive_failures"))
        return cls(
            api_latency=LevelRule("api_latency", _levels(cfg, "api_latency_ms"),
                                  "api latency {observed:g} ms >= {threshold:g} ms"),
            slippage=LevelRule("slippage", _levels(cfg, "slippage_pct"),
                               "slippage {observed:.3f}% >= {threshold:g}%"),
            data_feed=LevelRule(
                "data_feed", _levels(cfg, "data_issues"),
                f"{{count}} data-feed issues within {cfg.data_issue_window_secs:g}s"),
            consecutive_failures=LevelRule("consecutive_failures", streak_levels,
                                           "{count} consecutive order failures"),
            failure_window=LevelRule(
                "failure_window", (Threshold(_HALT, float(cfg.failure_threshold)),),
                f"{{count}} order failures within {cfg.failure_window_secs:g}s"),
            failure_rate=FailureRateRule(
                "failure_rate", Threshold(_THROTTLE, cfg.failure_rate_threshold),
                cfg.failure_rate_min_calls),
            loss=LevelRule("loss", (Threshold(_HALT, cfg.halt_loss_pct),),
                           "loss {observed:.2%} of peak equity >= {threshold:.2%}"),
            # A loss of half the HALT loss is not yet a trigger but counts as unhealthy.
            loss_unhealthy_from=cfg.halt_loss_pct / 2.0,
        )

    def failure_escalation(
        self, streak: int, in_window: int, rate_failures: int, rate_successes: int, probing: bool
    ) -> Escalation | None:
        """Return the most severe escalation fired by an order failure just recorded."""
        found = (
            half_open_failure(streak) if probing else None,
            self.consecutive_failures.fire(float(streak)),
            self.failure_window.fire(float(in_window)),
            self.failure_rate.fire(rate_failures, rate_successes),
        )
        # The first of equal severity wins, so a lost HALF_OPEN probe is named as such.
        worst: Escalation | None = None
        for escalation in found:
            if escalation is not None and (
                worst is None or escalation.level.severity > worst.level.severity
            ):
                worst = escalation
        return worst


def half_open_failure(streak: int) -> Escalation:
    """Return the HALT demanded by an order failing while HALF_OPEN probes."""
    return Escalation(_HALT, "half_open_failure", float(streak), None,
                      "order failed while probing in HALF_OPEN")


def critical_error(issue_type: IssueType) -> Escalation:
    """Return SHUTDOWN for a critical issue type, HALT for any other."""
    target = _SHUTDOWN if issue_type.is_critical else _HALT
    return Escalation(target, "critical_error", None, None, f"critical error {issue_type.value}")


def crash_recovery() -> Escalation:
    """Return the ALERT that an unclean restart demands."""
    return Escalation(_ALERT, "crash_recovery", None, None, "resumed after an unclean shutdown")


def decide(
    state: CircuitState, action: ExecutionAction, cfg: CircuitConfig, why: str
) -> BreakerDecision:
    """Return the decision for an order in a non-CLOSED state; why explains the state."""
    if state is _SHUTDOWN:
        return BreakerDecision(False, f"shutdown: no trading until reset ({why})", state, 0.0,
                               0.0, True)
    if state is _HALT:
        if action.reduces_position:
            return BreakerDecision(True, f"halt: position-reducing order allowed ({why})", state,
                                   1.0, 0.0, True)
        return BreakerDecision(False, f"halt: only position-reducing orders ({why})", state,
                               0.0, 0.0, True)
    if state is _HALF_OPEN:
        if action.reduces_position:
            return BreakerDecision(True, "half_open: position-reducing order at full size",
                                   state, 1.0, 0.0, False)
        factor = cfg.half_open_size_factor
        return BreakerDecision(True, f"half_open: probe order at size x{factor:g}", state,
                               factor, 0.0, False)
    if state is _THROTTLE:
        return _throttled(action, cfg, why)
    return BreakerDecision(True, f"{state.value.lower()}: full size ({why})", state, 1.0, 0.0,
                           False)


def _throttled(action: ExecutionAction, cfg: CircuitConfig, why: str) -> BreakerDecision:
    floor = cfg.throttle_min_confidence
    if action.reduces_position:
        return BreakerDecision(True, "throttle: position-reducing order at full size",
                               _THROTTLE, 1.0, floor, False)
    if action.confidence > floor:
        factor = cfg.throttle_size_factor
        reason = f"throttle: confidence {action.confidence:.3f} > {floor:g}, size x{factor:g}"
        return BreakerDecision(True, reason, _THROTTLE, factor, floor, False)
    reason = f"throttle: confidence {action.confidence:.3f} <= {floor:g} ({why})"
    return BreakerDecision(False, reason, _THROTTLE, 0.0, floor, False)


def shadowed(decision: BreakerDecision) -> BreakerDecision:
    """Return the shadow-mode form: always allowed at full size, marking would-be denials."""
    if decision.allowed and decision.size_factor == 1.0:
        return decision
    if decision.allowed:
        reason = f"shadow: would size x{decision.size_factor:g}: {decision.reason}"
        return BreakerDecision(True, reason, decision.state, 1.0, 0.0, False)
    reason = f"shadow: would deny: {decision.reason}"
    return BreakerDecision(True, reason, decision.state, 1.0, 0.0, False, shadow_denied=True)
