"""The breaker's pure escalation rules, without a breaker."""

from __future__ import annotations

from engine.breaker_config import CircuitConfig, CircuitState, IssueType
from engine.breaker_policy import (
    BreakerPolicy,
    Escalation,
    LevelRule,
    Threshold,
    crash_recovery,
    critical_error,
)

S = CircuitState
POLICY = BreakerPolicy.from_config(CircuitConfig())


def test_level_rule_fires_the_most_severe_threshold_reached() -> None:
    rule = LevelRule("demo", (Threshold(S.HALT, 30.0), Threshold(S.ALERT, 10.0)),
                     "{observed:g} >= {threshold:g}")
    assert rule.fire(9.99) is None
    assert rule.fire(10.0) == Escalation(S.ALERT, "demo", 10.0, 10.0, "10 >= 10")
    assert rule.fire(29.0) == Escalation(S.ALERT, "demo", 29.0, 10.0, "29 >= 10")
    assert rule.fire(31.0) == Escalation(S.HALT, "demo", 31.0, 30.0, "31 >= 30")


def test_thresholds_come_from_the_config_in_severity_order() -> None:
    cfg = CircuitConfig(alert_api_latency_ms=100.0, throttle_api_latency_ms=200.0,
                        halt_api_latency_ms=300.0)
    rule = BreakerPolicy.from_config(cfg).api_latency
    assert rule.thresholds == (Threshold(S.HALT, 300.0), Threshold(S.THROTTLE, 200.0),
                               Threshold(S.ALERT, 100.0))
    assert POLICY.consecutive_failures.thresholds[0] == Threshold(S.SHUTDOWN, 10.0)


def test_reasons_name_the_observation_and_threshold() -> None:
    latency = POLICY.api_latency.fire(1200.0)
    assert latency is not None
    assert latency.reason == "api latency 1200 ms >= 1000 ms"
    data = POLICY.data_feed.fire(3.0)
    assert data is not None
    assert data.reason == "3 data-feed issues within 300s"
    loss = POLICY.loss.fire(0.06)
    assert loss is not None
    assert (loss.level, loss.reason) == (S.HALT, "loss 6.00% of peak equity >= 5.00%")


def test_failure_escalation_picks_the_worst_and_names_a_lost_probe() -> None:
    assert POLICY.failure_escalation(1, 1, 1, 0, probing=False) is None
    streak = POLICY.failure_escalation(3, 3, 3, 0, probing=False)
    assert streak is not None
    assert (streak.level, streak.trigger) == (S.THROTTLE, "consecutive_failures")
    window = POLICY.failure_escalation(1, 5, 5, 20, probing=False)
    assert window is not None
    assert (window.level, window.trigger) == (S.HALT, "failure_window")
    probe = POLICY.failure_escalation(5, 5, 5, 0, probing=True)
    assert probe is not None
    assert (probe.level, probe.trigger) == (S.HALT, "half_open_failure")
    worst = POLICY.failure_escalation(10, 10, 10, 0, probing=True)
    assert worst is not None
    assert (worst.level, worst.trigger) == (S.SHUTDOWN, "consecutive_failures")


def test_failure_rate_needs_enough_orders() -> None:
    assert POLICY.failure_rate.fire(3, 6) is None
    rate = POLICY.failure_rate.fire(3, 7)
    assert rate is not None
    assert (rate.level, rate.observed, rate.reason) == (
        S.THROTTLE, 0.3, "failure rate 0.30 over 10 orders")


def test_fixed_escalations() -> None:
    assert critical_error(IssueType.SECURITY_BREACH).level is S.SHUTDOWN
    assert critical_error(IssueType.MANUAL).level is S.HALT
    assert crash_recovery().level is S.ALERT
