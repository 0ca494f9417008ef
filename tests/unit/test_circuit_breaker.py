"""Scenario tests of the graduated circuit breaker, driven by a simulated clock."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from engine.circuit_breaker import (
    BreakerDecision,
    CircuitBreaker,
    CircuitConfig,
    CircuitState,
    ExecutionAction,
    IssueType,
)
from engine.clock import SimulatedClock
from engine.errors import StateError
from engine.events import BreakerTransitioned, IssueReported, OperatorActed
from engine.model import Side

START = datetime(2024, 3, 4, 9, 30, tzinfo=UTC)
S = CircuitState


class Recorder:
    """A BreakerListener that keeps transitions and operator actions in events, issues apart."""

    def __init__(self, events: list[Any], issues: list[Any]) -> None:
        self.events = events
        self.issues = issues

    def state_changed(self, event: BreakerTransitioned) -> None:
        self.events.append(event)

    def operator_acted(self, event: OperatorActed) -> None:
        self.events.append(event)

    def issue_reported(self, issue: IssueReported) -> None:
        self.issues.append(issue)


class Rig:
    """A breaker on a simulated clock with every emitted event captured."""

    def __init__(self, **overrides: Any) -> None:
        self.clock = SimulatedClock(START)
        self.config = CircuitConfig(**overrides)
        self.breaker = CircuitBreaker(self.config, self.clock)
        self.events: list[Any] = []
        self.issues: list[IssueReported] = []
        self.breaker.add_listener(Recorder(self.events, self.issues))

    @property
    def transitions(self) -> list[BreakerTransitioned]:
        return [e for e in self.events if isinstance(e, BreakerTransitioned)]

    @property
    def operator_actions(self) -> list[OperatorActed]:
        return [e for e in self.events if isinstance(e, OperatorActed)]

    def at(self, seconds: float) -> None:
        """Move the clock to START + seconds and let the breaker apply due transitions."""
        self.clock.set(START + timedelta(seconds=seconds))
        self.breaker.tick()

    def check(self, confidence: float = 0.9, reduces: bool = False) -> BreakerDecision:
        action = ExecutionAction("BTCUSD", Side.BUY, 1.0, confidence, reduces)
        return self.breaker.check_execution_allowed(action)

    def halt(self) -> None:
        self.breaker.report_api_latency(self.config.halt_api_latency_ms)
        assert self.breaker.state is S.HALT


def opening(confidence: float = 0.9) -> ExecutionAction:
    return ExecutionAction("BTCUSD", Side.BUY, 2.0, confidence, False)


def reducing(confidence: float = 0.1) -> ExecutionAction:
    return ExecutionAction("BTCUSD", Side.SELL, 2.0, confidence, True)


# ---------------------------------------------------------------------- enums


def test_severity_orders_half_open_between_throttle_and_halt() -> None:
    ordered = sorted(CircuitState, key=lambda s: s.severity)
    assert [s.value for s in ordered] == [
        "CLOSED", "ALERT", "THROTTLE", "HALF_OPEN", "HALT", "SHUTDOWN"
    ]
    assert all(s.value == s.name for s in CircuitState)


def test_only_memory_db_security_and_system_issue_types_are_critical() -> None:
    critical = {t for t in IssueType if t.is_critical}
    assert critical == {
        IssueType.MEMORY_ERROR, IssueType.DATABASE_CORRUPTION,
        IssueType.SECURITY_BREACH, IssueType.CRITICAL_SYSTEM_ERROR,
    }


# ---------------------------------------------------------------------- escalation


@pytest.mark.parametrize(
    ("failures", "expected"),
    [(1, S.CLOSED), (2, S.ALERT), (3, S.THROTTLE), (4, S.THROTTLE), (5, S.HALT),
     (9, S.HALT), (10, S.SHUTDOWN)],
)
def test_consecutive_failures_escalate_to_the_configured_level(
    failures: int, expected: CircuitState
) -> None:
    rig = Rig()
    for i in range(failures):
        # 61 s apart: the 60 s failure window never holds more than one failure.
        rig.at(61 * i)
        rig.breaker.report_order_failure({"attempt": i})
    assert rig.breaker.state is expected
    assert rig.breaker.consecutive_failures == failures
    if expected is not S.CLOSED:
        assert rig.transitions[-1].trigger == "consecutive_failures"
        thresholds = {S.ALERT: 2, S.THROTTLE: 3, S.HALT: 5, S.SHUTDOWN: 10}
        assert rig.transitions[-1].threshold == thresholds[expected]


def test_success_resets_consecutive_failures() -> None:
    rig = Rig()
    rig.breaker.report_order_failure()
    rig.breaker.report_order_success()
    rig.breaker.report_order_failure()
    assert rig.breaker.consecutive_failures == 1
    assert rig.breaker.state is S.CLOSED


@pytest.mark.parametrize(
    ("latency_ms", "expected", "threshold"),
    [(400.0, S.CLOSED, None), (850.0, S.ALERT, 500.0), (2000.0, S.THROTTLE, 1000.0),
     (3500.0, S.HALT, 3000.0)],
)
def test_api_latency_escalates_to_the_level_of_its_threshold(
    latency_ms: float, expected: CircuitState, threshold: float | None
) -> None:
    rig = Rig()
    rig.breaker.report_api_latency(latency_ms)
    assert rig.breaker.state is expected
    if threshold is None:
        assert rig.transitions == [] and rig.issues == []
    else:
        (event,) = rig.transitions
        assert (event.from_state, event.to_state, event.trigger) == ("CLOSED", expected.value,
                                                                     "api_latency")
        assert (event.observed, event.threshold) == (latency_ms, threshold)
        assert rig.issues[-1].issue_type == "API_LATENCY"


@pytest.mark.parametrize(
    ("actual", "expected"),
    [(100.05, S.CLOSED), (100.2, S.ALERT), (99.6, S.THROTTLE), (100.6, S.HALT),
     (99.4, S.HALT)],
)
def test_absolute_slippage_percent_escalates_either_direction(
    actual: float, expected: CircuitState
) -> None:
    rig = Rig()
    rig.breaker.report_slippage(expected_price=100.0, actual_price=actual)
    assert rig.breaker.state is expected
    if expected is not S.CLOSED:
        assert rig.transitions[-1].trigger == "slippage"
        assert rig.transitions[-1].observed == pytest.approx(abs(actual - 100.0))


def test_five_failures_within_sixty_seconds_halt_despite_successes_between() -> None:
    rig = Rig()
    for i in range(5):
        rig.at(12 * i)
        rig.breaker.report_order_failure()
        rig.breaker.report_order_success()
    assert rig.breaker.state is S.HALT
    assert rig.transitions[-1].trigger == "failure_window"
    assert rig.breaker.consecutive_failures == 0


def test_same_five_failures_spread_over_six_minutes_do_not_halt() -> None:
    rig = Rig()
    for i in range(5):
        rig.at(90 * i)
        rig.breaker.report_order_failure()
        rig.at(90 * i + 45)
        rig.breaker.report_order_success()
    assert rig.breaker.state is S.CLOSED
    assert all(e.trigger != "failure_window" for e in rig.transitions)
    assert len(rig.breaker.failure_timestamps) <= 1


def test_failure_rate_is_ignored_below_min_calls() -> None:
    rig = Rig()
    # 3 failures in 9 orders (33 %), never two in a row.
    for i, ok in enumerate([True, True, False] * 3):
        rig.at(10 * i)
        if ok:
            rig.breaker.report_order_success()
        else:
            rig.breaker.report_order_failure()
    assert rig.breaker.state is S.CLOSED
    assert rig.breaker.get_status()["metrics"]["failure_rate"] == pytest.approx(1 / 3)


def test_failure_rate_of_thirty_percent_over_ten_orders_throttles() -> None:
    rig = Rig()
    for i, ok in enumerate([True] + [True, True, False] * 3):
        rig.at(10 * i)
        if ok:
            rig.breaker.report_order_success()
        else:
            rig.breaker.report_order_failure()
    assert rig.breaker.state is S.THROTTLE
    event = rig.transitions[-1]
    assert (event.trigger, event.observed, event.threshold) == ("failure_rate", 0.3, 0.3)


def test_failure_rate_window_forgets_orders_older_than_five_minutes() -> None:
    rig = Rig()
    for i in range(10):
        rig.at(i)
        rig.breaker.report_order_success()
    rig.at(400)
    for i in range(3):
        rig.at(400 + i)
        rig.breaker.report_order_failure()
        rig.breaker.report_order_success()
    # 3 of 6 recent orders failed, but six is below failure_rate_min_calls.
    assert all(e.trigger != "failure_rate" for e in rig.transitions)


def test_loss_at_halt_fraction_halts_and_half_of_it_is_only_unhealthy() -> None:
    rig = Rig()
    rig.breaker.report_loss(0.01)
    assert rig.issues == []
    rig.breaker.report_loss(0.03)
    assert rig.breaker.state is S.CLOSED
    assert [i.issue_type for i in rig.issues] == ["LOSS"]
    rig.breaker.report_loss(0.05)
    assert rig.breaker.state is S.HALT
    assert rig.transitions[-1].trigger == "loss"


def test_data_feed_issues_in_window_escalate_one_three_five() -> None:
    rig = Rig()
    seen = []
    for i in range(5):
        rig.at(10 * i)
        rig.breaker.report_data_feed_issue({"kind": "gap"})
        seen.append(rig.breaker.state)
    assert seen == [S.ALERT, S.ALERT, S.THROTTLE, S.THROTTLE, S.HALT]
    assert rig.issues[-1].details == {"kind": "gap", "issues_in_window": 5}


def test_data_feed_issues_outside_the_window_are_not_counted() -> None:
    rig = Rig()
    for i in range(5):
        rig.at(301 * i)
        rig.breaker.report_data_feed_issue()
    assert rig.breaker.get_status()["window_counts"]["data_issues"] == 1
    assert all(e.to_state != "THROTTLE" for e in rig.transitions)


@pytest.mark.parametrize("issue", [t for t in IssueType if t.is_critical])
def test_critical_errors_shut_down(issue: IssueType) -> None:
    rig = Rig()
    rig.breaker.report_critical_error(issue, {"available_mb": 10})
    assert rig.breaker.state is S.SHUTDOWN
    assert rig.transitions[-1].trigger == "critical_error"
    assert rig.issues[-1].issue_type == issue.value


def test_non_critical_issue_reported_as_critical_error_halts() -> None:
    rig = Rig()
    rig.breaker.report_critical_error(IssueType.MANUAL, {"note": "kill requested"})
    assert rig.breaker.state is S.HALT


def test_escalation_never_lowers_the_state() -> None:
    rig = Rig()
    rig.halt()
    rig.breaker.report_api_latency(850.0)
    rig.breaker.report_data_feed_issue()
    assert rig.breaker.state is S.HALT
    assert len(rig.transitions) == 1


def test_report_inputs_reject_non_finite_values() -> None:
    rig = Rig()
    with pytest.raises(ValueError, match="latency_ms"):
        rig.breaker.report_api_latency(float("nan"))
    with pytest.raises(ValueError, match="expected_price"):
        rig.breaker.report_slippage(0.0, 1.0)
    with pytest.raises(ValueError, match="loss_pct"):
        rig.breaker.report_loss(float("inf"))


# ---------------------------------------------------------------------- de-escalation


def test_throttle_steps_down_to_alert_then_closed_after_each_cooldown() -> None:
    rig = Rig()
    rig.breaker.report_api_latency(2000.0)
    rig.at(299.999)
    assert rig.breaker.state is S.THROTTLE
    rig.at(300)
    assert rig.breaker.state is S.ALERT
    rig.at(359.999)
    assert rig.breaker.state is S.ALERT
    rig.at(360)
    assert rig.breaker.state is S.CLOSED
    assert [(e.from_state, e.to_state, e.trigger) for e in rig.transitions[1:]] == [
        ("THROTTLE", "ALERT", "cooldown"), ("ALERT", "CLOSED", "cooldown")
    ]


def test_unhealthy_report_restarts_the_cooldown_wait() -> None:
    rig = Rig()
    rig.breaker.report_api_latency(2000.0)
    rig.at(200)
    rig.breaker.report_api_latency(600.0)
    rig.at(499)
    assert rig.breaker.state is S.THROTTLE
    rig.at(500)
    assert rig.breaker.state is S.ALERT


def test_late_tick_stamps_each_step_down_when_it_became_due() -> None:
    rig = Rig()
    rig.breaker.report_api_latency(2000.0)
    rig.at(5000)
    steps = rig.transitions[1:]
    assert [e.to_state for e in steps] == ["ALERT", "CLOSED"]
    assert [e.at for e in steps] == [START + timedelta(seconds=300),
                                     START + timedelta(seconds=360)]


def test_check_applies_due_transitions_without_a_tick() -> None:
    rig = Rig()
    rig.breaker.report_api_latency(2000.0)
    rig.clock.set(START + timedelta(seconds=300))
    decision = rig.check(confidence=0.1)
    assert decision.allowed and decision.state is S.ALERT


def test_halt_probes_in_half_open_and_closes_after_three_successes() -> None:
    rig = Rig()
    rig.halt()
    rig.at(899)
    assert rig.breaker.state is S.HALT
    rig.at(900)
    assert rig.breaker.state is S.HALF_OPEN
    probe = rig.check()
    assert probe.allowed and probe.size_factor == 0.5
    rig.breaker.report_order_success()
    rig.breaker.report_order_success()
    assert rig.breaker.state is S.HALF_OPEN
    rig.breaker.report_order_success()
    assert rig.breaker.state is S.CLOSED
    assert rig.transitions[-1].trigger == "half_open_success"


def test_failure_in_half_open_returns_to_halt_with_a_fresh_cooldown() -> None:
    rig = Rig()
    rig.halt()
    rig.at(900)
    rig.breaker.report_order_success()
    rig.at(910)
    rig.breaker.report_order_failure()
    assert rig.breaker.state is S.HALT
    assert rig.transitions[-1].trigger == "half_open_failure"
    rig.at(910 + 899)
    assert rig.breaker.state is S.HALT
    rig.at(910 + 900)
    assert rig.breaker.state is S.HALF_OPEN


def test_crash_recovery_alerts_without_restarting_a_higher_cooldown() -> None:
    rig = Rig()
    rig.breaker.report_crash_recovery({"resumed_at": "x"})
    assert rig.breaker.state is S.ALERT
    assert rig.issues[-1].issue_type == "CRASH_RECOVERY"
    other = Rig()
    for r in (other, rig):
        r.at(10)
        r.breaker.report_api_latency(2000.0)
        r.at(200)
    rig.breaker.report_crash_recovery()
    for r in (other, rig):
        r.at(310)
        assert r.breaker.state is S.ALERT
        assert r.check(confidence=0.1).allowed


# ---------------------------------------------------------------------- shutdown and operator


def test_shutdown_is_left_only_by_reset() -> None:
    rig = Rig()
    rig.breaker.report_critical_error(IssueType.SECURITY_BREACH)
    rig.at(10 * 86_400)
    for _ in range(5):
        rig.breaker.report_order_success()
    rig.breaker.manual_override_disable("try")
    assert rig.breaker.force_recovery("try", who="alice") is False
    assert rig.breaker.state is S.SHUTDOWN
    assert not rig.check(reduces=True).allowed
    assert rig.operator_actions[-1].action == "force_recovery_refused"
    rig.breaker.reset("root cause fixed", who="alice")
    assert rig.breaker.state is S.CLOSED
    event = rig.transitions[-1]
    assert (event.from_state, event.trigger) == ("SHUTDOWN", "reset")
    assert rig.operator_actions[-1] == OperatorActed(rig.clock.now(), "reset",
                                                     "root cause fixed", "alice")


def test_override_blocks_opening_orders_until_disabled_even_past_cooldowns() -> None:
    rig = Rig()
    rig.breaker.manual_override_enable("maintenance", who="bob")
    assert rig.breaker.state is S.HALT
    assert rig.transitions[-1].trigger == "manual_override"
    rig.at(100_000)
    assert rig.breaker.state is S.HALT
    denied = rig.check()
    assert not denied.allowed and "maintenance" in denied.reason
    allowed = rig.check(reduces=True)
    assert allowed.allowed and allowed.reduce_only
    status = rig.breaker.get_status()["override"]
    assert status == {"active": True, "reason": "maintenance", "who": "bob",
                      "at": START.isoformat()}
    rig.breaker.manual_override_disable("done", who="bob")
    assert rig.breaker.state is S.HALF_OPEN
    assert rig.transitions[-1].trigger == "override_disabled"
    assert [a.action for a in rig.operator_actions] == ["manual_override_enable",
                                                        "manual_override_disable"]


def test_override_still_lets_critical_errors_shut_down() -> None:
    rig = Rig()
    rig.breaker.manual_override_enable("maintenance")
    rig.breaker.report_api_latency(5000.0)
    assert rig.breaker.state is S.HALT
    rig.breaker.report_critical_error(IssueType.DATABASE_CORRUPTION)
    assert rig.breaker.state is S.SHUTDOWN


def test_force_recovery_closes_and_clears_counters() -> None:
    rig = Rig()
    for _ in range(5):
        rig.breaker.report_order_failure()
    rig.breaker.report_data_feed_issue()
    assert rig.breaker.force_recovery("verified", who="carol") is True
    status = rig.breaker.get_status()
    assert status["state"] == "CLOSED" and status["consecutive_failures"] == 0
    assert status["window_counts"] == {"failures": 0, "successes": 0, "data_issues": 0}
    assert rig.transitions[-1].trigger == "force_recovery"


def test_force_recovery_releases_an_active_override() -> None:
    rig = Rig()
    rig.breaker.manual_override_enable("maintenance")
    assert rig.breaker.force_recovery("verified") is True
    assert rig.breaker.state is S.CLOSED and not rig.breaker.override_active
    assert rig.check().allowed


def test_override_enabled_in_half_open_returns_to_halt_and_survives_cooldown() -> None:
    rig = Rig()
    rig.halt()
    rig.at(900)
    assert rig.breaker.state is S.HALF_OPEN
    rig.breaker.manual_override_enable("suspicious fills")
    rig.breaker.report_order_success()
    rig.at(900 + 10 * 900)
    assert rig.breaker.state is S.HALT
    assert rig.breaker.get_status()["next_deadline"] is None


# ---------------------------------------------------------------------- decisions


def test_closed_and_alert_allow_everything_at_full_size() -> None:
    rig = Rig()
    assert rig.check(confidence=0.0) == BreakerDecision(True, "closed: normal operation",
                                                        S.CLOSED, 1.0, 0.0, False)
    rig.breaker.report_api_latency(850.0)
    decision = rig.check(confidence=0.0)
    assert decision.allowed and decision.size_factor == 1.0 and decision.state is S.ALERT


def test_throttle_filters_confidence_and_halves_size_but_never_traps_a_position() -> None:
    rig = Rig()
    rig.breaker.report_api_latency(2000.0)
    low = rig.check(confidence=0.7)
    high = rig.check(confidence=0.71)
    exit_ = rig.check(confidence=0.1, reduces=True)
    assert not low.allowed and low.min_confidence == 0.7
    assert high.allowed and high.size_factor == 0.5
    assert exit_.allowed and exit_.size_factor == 1.0


def test_halt_allows_only_position_reducing_orders() -> None:
    rig = Rig()
    rig.halt()
    opening_decision = rig.check(confidence=1.0)
    closing_decision = rig.check(confidence=0.0, reduces=True)
    assert not opening_decision.allowed and opening_decision.reduce_only
    assert closing_decision.allowed and closing_decision.reduce_only
    assert closing_decision.size_factor == 1.0


def test_halt_denial_carries_state_and_the_failures_in_the_window() -> None:
    # What execution journals as an OrderDenied carrying the state.
    rig = Rig()
    for i in range(5):
        rig.at(i)
        rig.breaker.report_order_failure()
    assert rig.breaker.check_execution_allowed(reducing()).allowed
    denied = rig.breaker.check_execution_allowed(opening())
    assert not denied.allowed
    assert denied.state.value == "HALT"
    assert len(rig.breaker.failure_timestamps) == 5
    assert rig.breaker.failure_timestamps == tuple(START + timedelta(seconds=i)
                                                   for i in range(5))


def test_closed_check_does_not_read_the_clock() -> None:
    class CountingClock(SimulatedClock):
        reads = 0

        def now(self) -> datetime:
            CountingClock.reads += 1
            return super().now()

    breaker = CircuitBreaker(CircuitConfig(), CountingClock(START))
    before = CountingClock.reads
    for _ in range(100):
        breaker.check_execution_allowed(opening())
        breaker.tick()
    assert CountingClock.reads == before


# ---------------------------------------------------------------------- shadow mode


def _drive(rig: Rig) -> list[BreakerDecision]:
    decisions = []
    steps = [lambda: rig.breaker.report_api_latency(2000.0), lambda: None,
             lambda: rig.breaker.report_order_failure(), lambda: rig.halt(),
             lambda: rig.breaker.report_critical_error(IssueType.MEMORY_ERROR)]
    for i, step in enumerate(steps):
        rig.at(100 * i)
        step()
        decisions.append(rig.check(confidence=0.5))
    return decisions


def test_shadow_mode_never_blocks_but_reports_the_same_transitions() -> None:
    real, shadow = Rig(), Rig(shadow_mode=True)
    real_decisions, shadow_decisions = _drive(real), _drive(shadow)
    assert shadow.transitions == real.transitions
    assert any(not d.allowed for d in real_decisions)
    assert all(d.allowed and d.size_factor == 1.0 for d in shadow_decisions)
    for r, s in zip(real_decisions, shadow_decisions, strict=True):
        assert s.shadow_denied == (not r.allowed)
        if not r.allowed:
            assert s.reason == "shadow: would deny: " + r.reason


# ---------------------------------------------------------------------- observability


def test_status_reports_metrics_deadline_and_time_in_state() -> None:
    rig = Rig()
    for ms in [100.0] * 19 + [2000.0]:
        rig.breaker.report_api_latency(ms)
    rig.breaker.report_slippage(100.0, 100.2)
    rig.at(30)
    status = rig.breaker.get_status()
    assert status["state"] == "THROTTLE"
    assert status["metrics"]["avg_api_latency_ms"] == pytest.approx(195.0)
    assert status["metrics"]["p95_api_latency_ms"] == 100.0
    assert status["metrics"]["avg_slippage_pct"] == pytest.approx(0.2)
    assert status["metrics"]["time_in_state_seconds"] == 30.0
    assert status["next_deadline"] == (START + timedelta(seconds=300)).isoformat()
    json.dumps(status)


def test_recent_issues_are_filtered_by_age_and_memory_is_bounded() -> None:
    rig = Rig()
    for i in range(1500):
        rig.at(i)
        rig.breaker.report_api_latency(600.0)
    recent = rig.breaker.get_recent_issues(minutes=1)
    assert [i.at for i in recent] == [START + timedelta(seconds=s) for s in range(1439, 1500)]
    assert len(rig.breaker.get_recent_issues(minutes=10_000)) == 1000
    assert len(rig.issues) == 1500


def test_failing_listener_does_not_change_the_outcome(caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig()

    def down() -> None:
        message = "notifier down"
        raise RuntimeError(message)

    class Broken:
        def state_changed(self, _: BreakerTransitioned) -> None:
            down()

        def operator_acted(self, _: OperatorActed) -> None:
            down()

        def issue_reported(self, _: IssueReported) -> None:
            down()

    rig.breaker.add_listener(Broken())
    rig.halt()
    assert len(rig.transitions) == 1
    assert "breaker_listener_failed" in caplog.text


def test_each_transition_is_logged_once_with_stable_fields(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="engine.circuit_breaker")
    rig = Rig()
    rig.breaker.report_api_latency(2000.0)
    rig.at(400)
    lines = [r.getMessage() for r in caplog.records if "breaker_transition" in r.getMessage()]
    assert len(lines) == 3
    assert lines[0].startswith(
        "breaker_transition from=CLOSED to=THROTTLE trigger=api_latency observed=2000.0 "
        "threshold=1000.0"
    )


# ---------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"throttle_api_latency_ms": 400.0}, "throttle_api_latency_ms"),
        ({"halt_slippage_pct": 0.3}, "halt_slippage_pct"),
        ({"throttle_consecutive_failures": 2}, "throttle_consecutive_failures"),
        ({"shutdown_consecutive_failures": 5}, "shutdown_consecutive_failures"),
        ({"halt_data_issues": 3}, "halt_data_issues"),
        ({"halt_cooldown_seconds": 0.0}, "halt_cooldown_seconds"),
        ({"failure_window_secs": -1.0}, "failure_window_secs"),
        ({"throttle_size_factor": 1.5}, "throttle_size_factor"),
        ({"halt_loss_pct": 0.0}, "halt_loss_pct"),
        ({"failure_rate_threshold": 1.2}, "failure_rate_threshold"),
        ({"not_a_field": 1}, "not_a_field"),
    ],
)
def test_invalid_config_is_refused_naming_the_field(
    overrides: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValidationError, match=named):
        CircuitConfig(**overrides)


def test_config_defaults_follow_the_seeds_and_are_frozen() -> None:
    config = CircuitConfig()
    assert (config.alert_api_latency_ms, config.throttle_api_latency_ms,
            config.halt_api_latency_ms) == (500.0, 1000.0, 3000.0)
    assert (config.failure_threshold, config.failure_window_secs,
            config.half_open_max_tries) == (5, 60.0, 3)
    assert all(f.description for f in CircuitConfig.model_fields.values())
    with pytest.raises(ValidationError):
        config.shadow_mode = True  # type: ignore[misc]


# ---------------------------------------------------------------------- persistence


def test_restored_halt_cooldown_continues_from_the_persisted_deadline() -> None:
    rig = Rig()
    rig.halt()
    rig.at(600)
    data = json.loads(json.dumps(rig.breaker.snapshot()))
    clock = SimulatedClock(START + timedelta(seconds=600))
    restored = CircuitBreaker.from_snapshot(rig.config, clock, data)
    assert restored.state is S.HALT
    clock.set(START + timedelta(seconds=899))
    restored.tick()
    assert restored.state is S.HALT
    clock.set(START + timedelta(seconds=900))
    restored.tick()
    assert restored.state is S.HALF_OPEN
    assert restored.snapshot()["entered_at"] == (START + timedelta(seconds=900)).isoformat()


def test_snapshot_round_trip_restores_override_and_counters() -> None:
    rig = Rig()
    rig.breaker.report_order_failure()
    rig.breaker.report_data_feed_issue({"kind": "gap"})
    rig.breaker.manual_override_enable("audit", who="dora")
    data = rig.breaker.snapshot()
    restored = CircuitBreaker.from_snapshot(rig.config, rig.clock, data)
    assert restored.snapshot() == data
    assert restored.override_active and restored.consecutive_failures == 1


@pytest.mark.parametrize(
    ("mutate", "named"),
    [
        (lambda d: d.pop("entered_at"), "entered_at"),
        (lambda d: d.update(state="OPEN"), "OPEN"),
        (lambda d: d.update(consecutive_failures=-1), "consecutive_failures"),
        (lambda d: d.update(failure_window=["2024-03-04T09:30:00"]), "failure_window"),
        (lambda d: d.update(version=99), "version"),
    ],
)
def test_unreadable_snapshot_fails_closed_with_state_error(
    mutate: Any, named: str
) -> None:
    rig = Rig()
    data = rig.breaker.snapshot()
    mutate(data)
    with pytest.raises(StateError, match=named):
        CircuitBreaker.from_snapshot(rig.config, rig.clock, data)
