"""Property-based tests: random sequences of time, reports, operator commands and checks."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import astuple
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.circuit_breaker import (
    BreakerDecision,
    CircuitBreaker,
    CircuitConfig,
    CircuitState,
    ExecutionAction,
    IssueType,
)
from engine.clock import SimulatedClock
from engine.events import BreakerTransitioned, IssueReported, OperatorActed
from engine.model import Side

START = datetime(2024, 3, 4, 9, 30, tzinfo=UTC)
S = CircuitState
CONFIG = CircuitConfig()
CONFIRM = CircuitConfig(halt_recovery="confirm")
COOLDOWN = {
    "ALERT": CONFIG.alert_cooldown_seconds,
    "THROTTLE": CONFIG.throttle_cooldown_seconds,
    "HALT": CONFIG.halt_cooldown_seconds,
}
STEP_DOWN = {("THROTTLE", "ALERT"), ("ALERT", "CLOSED"), ("HALT", "HALF_OPEN")}
RECOVERY_TRIGGERS = {"cooldown", "half_open_success", "override_disabled", "force_recovery",
                     "reset"}

Op = tuple[Any, ...]

_advance = st.tuples(
    st.just("advance"),
    st.one_of(st.sampled_from([1.0, 30.0, 59.0, 60.0, 61.0, 299.0, 300.0, 301.0, 899.0, 900.0]),
              st.floats(0.0, 1200.0, allow_nan=False)),
)
_check = st.tuples(st.just("check"), st.sampled_from([0.0, 0.5, 0.7, 0.71, 1.0]), st.booleans())
_common = [
    _advance, _check, st.just(("success",)), st.just(("failure",)),
    st.tuples(st.just("latency"), st.sampled_from([100.0, 500.0, 850.0, 2000.0, 3500.0])),
    st.tuples(st.just("slippage"), st.sampled_from([0.05, 0.15, 0.35, 0.6])),
]
_rare = [
    st.tuples(st.just("loss"), st.sampled_from([0.01, 0.03, 0.05])),
    st.just(("data",)), st.just(("crash",)), st.just(("tick",)),
    st.just(("override_on",)), st.just(("override_off",)), st.just(("force",)),
    st.tuples(st.just("critical"), st.sampled_from(list(IssueType))),
    st.just(("reset",)),
]
# Common inputs are listed several times so that sequences linger in the graduated levels.
OPS = st.one_of(*(_common * 4), *_rare)
SEQUENCES = st.lists(OPS, min_size=5, max_size=100)


_INPUTS: dict[str, Callable[[CircuitBreaker, Op], object]] = {
    "success": lambda b, op: b.report_order_success(),
    "failure": lambda b, op: b.report_order_failure({"error": "rejected"}),
    "latency": lambda b, op: b.report_api_latency(op[1]),
    "slippage": lambda b, op: b.report_slippage(100.0, 100.0 + op[1]),
    "loss": lambda b, op: b.report_loss(op[1]),
    "data": lambda b, op: b.report_data_feed_issue({"kind": "gap"}),
    "crash": lambda b, op: b.report_crash_recovery(),
    "tick": lambda b, op: b.tick(),
    "override_on": lambda b, op: b.manual_override_enable("maintenance"),
    "override_off": lambda b, op: b.manual_override_disable("done"),
    "force": lambda b, op: b.force_recovery("checked"),
    "critical": lambda b, op: b.report_critical_error(op[1], {"source": "test"}),
    "reset": lambda b, op: b.reset("fixed"),
}


def apply(breaker: CircuitBreaker, clock: SimulatedClock, op: Op) -> BreakerDecision | None:
    """Apply one operation; return the decision when it was a check."""
    kind = op[0]
    if kind == "advance":
        clock.advance(op[1])
    elif kind == "check":
        action = ExecutionAction("BTCUSD", Side.BUY, 1.0, op[1], op[2])
        return breaker.check_execution_allowed(action)
    else:
        _INPUTS[kind](breaker, op)
    return None


class Stream:
    """A BreakerListener appending every event, in emission order, to one list."""

    def __init__(self, events: list[Any]) -> None:
        self.events = events

    def state_changed(self, event: BreakerTransitioned) -> None:
        self.events.append(event)

    def operator_acted(self, event: OperatorActed) -> None:
        self.events.append(event)

    def issue_reported(self, issue: IssueReported) -> None:
        self.events.append(issue)


def build(config: CircuitConfig = CONFIG) -> tuple[CircuitBreaker, SimulatedClock, list[Any]]:
    clock = SimulatedClock(START)
    breaker = CircuitBreaker(config, clock)
    stream: list[Any] = []
    breaker.add_listener(Stream(stream))
    return breaker, clock, stream


def transitions(stream: list[Any]) -> list[BreakerTransitioned]:
    return [e for e in stream if isinstance(e, BreakerTransitioned)]


@settings(max_examples=300, deadline=None)
@given(SEQUENCES)
def test_shutdown_is_absorbing_except_for_reset(ops: list[Op]) -> None:
    breaker, clock, stream = build()
    for op in ops:
        was_shutdown = breaker.state is S.SHUTDOWN
        apply(breaker, clock, op)
        breaker.tick()
        if was_shutdown and op[0] != "reset":
            assert breaker.state is S.SHUTDOWN
    for event in transitions(stream):
        if event.from_state == "SHUTDOWN":
            assert event.trigger == "reset"


@settings(max_examples=300, deadline=None)
@given(SEQUENCES)
def test_no_opening_order_is_allowed_in_halt_shutdown_or_override(ops: list[Op]) -> None:
    breaker, clock, _ = build()
    for op in ops:
        decision = apply(breaker, clock, op)
        if decision is None:
            continue
        assert not decision.shadow_denied
        if decision.state in (S.HALT, S.SHUTDOWN) or breaker.override_active:
            assert decision.allowed == (op[2] and decision.state is S.HALT)
        if decision.allowed and not op[2]:
            assert breaker.state in (S.CLOSED, S.ALERT, S.THROTTLE, S.HALF_OPEN)


@settings(max_examples=300, deadline=None)
@given(SEQUENCES)
def test_de_escalation_takes_one_step_exactly_when_its_cooldown_is_due(ops: list[Op]) -> None:
    breaker, clock, stream = build()
    for op in ops:
        apply(breaker, clock, op)
        breaker.tick()
        entered, unhealthy, state = START, None, "CLOSED"
        for event in stream:
            if isinstance(event, IssueReported):
                if event.issue_type != "CRASH_RECOVERY":
                    unhealthy = event.at
                continue
            if not isinstance(event, BreakerTransitioned):
                continue
            assert event.from_state == state
            if event.trigger == "cooldown":
                assert (event.from_state, event.to_state) in STEP_DOWN
                base = entered if unhealthy is None or unhealthy < entered else unhealthy
                assert event.at == base + timedelta(seconds=COOLDOWN[event.from_state])
                assert event.at - entered >= timedelta(seconds=COOLDOWN[event.from_state])
            if event.trigger in ("force_recovery", "reset"):
                unhealthy = None
            entered, state = event.at, event.to_state
        assert breaker.state.value == state
        if state in COOLDOWN and not breaker.override_active:
            base = entered if unhealthy is None or unhealthy < entered else unhealthy
            # Nothing overdue may be left pending after a tick.
            assert clock.now() < base + timedelta(seconds=COOLDOWN[state])


@settings(max_examples=300, deadline=None)
@given(SEQUENCES)
def test_escalations_raise_severity_and_recoveries_lower_it(ops: list[Op]) -> None:
    breaker, clock, stream = build()
    for op in ops:
        apply(breaker, clock, op)
    for event in transitions(stream):
        before, after = S(event.from_state).severity, S(event.to_state).severity
        if event.trigger in RECOVERY_TRIGGERS:
            assert after < before
        else:
            assert after > before


@settings(max_examples=300, deadline=None)
@given(SEQUENCES)
def test_counters_are_never_negative(ops: list[Op]) -> None:
    breaker, clock, _ = build()
    for op in ops:
        apply(breaker, clock, op)
        status = breaker.get_status()
        assert breaker.consecutive_failures >= 0
        assert status["half_open_successes"] >= 0
        assert status["failures_in_window"] >= 0
        assert min(status["window_counts"].values()) >= 0
        assert status["metrics"]["time_in_state_seconds"] >= 0.0
        assert 0.0 <= status["metrics"]["failure_rate"] <= 1.0


@settings(max_examples=200, deadline=None)
@given(SEQUENCES)
def test_shadow_mode_reports_identical_transitions_and_never_denies(ops: list[Op]) -> None:
    real, real_clock, real_stream = build()
    shadow, shadow_clock, shadow_stream = build(CircuitConfig(shadow_mode=True))
    for op in ops:
        expected = apply(real, real_clock, op)
        got = apply(shadow, shadow_clock, op)
        if expected is not None and got is not None:
            assert got.allowed and got.size_factor == 1.0
            assert got.shadow_denied == (not expected.allowed)
            assert got.state is expected.state
    assert shadow_stream == real_stream


@settings(max_examples=300, deadline=None)
@given(SEQUENCES, st.data())
def test_snapshot_restore_mid_sequence_continues_identically(ops: list[Op], data: Any) -> None:
    split = data.draw(st.integers(0, len(ops)))
    config = data.draw(st.sampled_from([CONFIG, CONFIRM]))
    original, clock, stream = build(config)
    for op in ops[:split]:
        apply(original, clock, op)
    saved = json.loads(json.dumps(original.snapshot()))
    twin_clock = SimulatedClock(clock.now())
    twin = CircuitBreaker.from_snapshot(config, twin_clock, saved)
    twin_stream: list[Any] = []
    twin.add_listener(Stream(twin_stream))
    del stream[:]
    assert twin.snapshot() == original.snapshot()
    for op in ops[split:]:
        assert apply(original, clock, op) == apply(twin, twin_clock, op)
        assert twin.state is original.state
        assert twin.get_status() == original.get_status()
    assert twin_stream == stream
    assert twin.snapshot() == original.snapshot()


_step = st.tuples(st.just("advance"), st.sampled_from([5.0, 30.0, 60.0, 120.0, 250.0]))
HEALTHY = st.lists(
    st.one_of(_step, _step, _advance, _check, st.just(("success",)), st.just(("tick",)),
              st.just(("latency", 100.0)), st.just(("slippage", 0.05))),
    min_size=4, max_size=20,
)


ESCALATIONS = st.sampled_from([("latency", 2000.0), ("latency", 3500.0), ("slippage", 0.35),
                               ("slippage", 0.6), ("failure",)])


@settings(max_examples=250, deadline=None)
@given(SEQUENCES, ESCALATIONS, HEALTHY, st.data())
def test_crash_recovery_report_never_changes_a_trading_decision(
    ops: list[Op], escalation: Op, healthy_tail: list[Op], data: Any
) -> None:
    # Any history, an escalation, then healthy operation with the crash somewhere inside it:
    # that is where a wrongly restarted cooldown would show.
    split = data.draw(st.integers(0, len(ops)))
    crash_at = split + 1 + data.draw(st.integers(0, len(healthy_tail)))
    sequence = [*ops[:split], escalation, *healthy_tail, *ops[split:], ("tick",)]
    plain, plain_clock, _ = build()
    crashed, crashed_clock, _ = build()
    for i, op in enumerate(sequence):
        if i == crash_at:
            crashed.report_crash_recovery({"resumed": True})
        apply(plain, plain_clock, op)
        apply(crashed, crashed_clock, op)
        # Probe after every step: a low-confidence opening order is the most state-sensitive.
        for confidence, reduces in ((0.5, False), (0.1, True)):
            probe: Op = ("check", confidence, reduces)
            expected = apply(plain, plain_clock, probe)
            got = apply(crashed, crashed_clock, probe)
            assert expected is not None and got is not None
            assert got.allowed == expected.allowed
            assert astuple(got)[3:] == astuple(expected)[3:]


@settings(max_examples=300, deadline=None)
@given(SEQUENCES)
def test_confirm_leaves_halt_only_by_an_operator(ops: list[Op]) -> None:
    breaker, clock, stream = build(CONFIRM)
    for op in ops:
        apply(breaker, clock, op)
        status = breaker.get_status()
        assert status["awaiting_confirmation"] is breaker.awaiting_confirmation
        if status["awaiting_confirmation"]:
            assert status["state"] == "HALT" and not status["override"]["active"]
            assert status["metrics"]["time_in_state_seconds"] >= CONFIRM.halt_cooldown_seconds
    left_halt = {e.trigger for e in transitions(stream) if e.from_state == "HALT"}
    assert left_halt <= {"force_recovery", "override_disabled", "reset", "critical_error",
                         "manual_override"}
    assert all(e.to_state != "CLOSED" for e in transitions(stream)
               if e.from_state == "HALT" and e.trigger == "force_recovery")
