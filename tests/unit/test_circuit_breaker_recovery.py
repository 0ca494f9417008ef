"""HALT recovery policies ("auto", "confirm") and the typed listener, on a simulated clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from engine.breaker_listener import BreakerListener
from engine.circuit_breaker import (
    BreakerDecision,
    CircuitBreaker,
    CircuitConfig,
    CircuitState,
    ExecutionAction,
)
from engine.clock import SimulatedClock
from engine.events import BreakerTransitioned, IssueReported, OperatorActed
from engine.model import Side

START = datetime(2024, 3, 4, 9, 30, tzinfo=UTC)
S = CircuitState
HALT_COOLDOWN = CircuitConfig().halt_cooldown_seconds


class Recorder:
    """A BreakerListener keeping every event in emission order."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def state_changed(self, event: BreakerTransitioned) -> None:
        self.events.append(event)

    def operator_acted(self, event: OperatorActed) -> None:
        self.events.append(event)

    def issue_reported(self, issue: IssueReported) -> None:
        self.events.append(issue)

    @property
    def transitions(self) -> list[tuple[str, str, str]]:
        return [(e.from_state, e.to_state, e.trigger) for e in self.events
                if isinstance(e, BreakerTransitioned)]


def halted(policy: str) -> tuple[CircuitBreaker, SimulatedClock, Recorder]:
    clock = SimulatedClock(START)
    breaker = CircuitBreaker(CircuitConfig(halt_recovery=policy), clock)
    recorder = Recorder()
    listener: BreakerListener = recorder
    breaker.add_listener(listener)
    breaker.report_api_latency(5000.0)
    assert breaker.state is S.HALT
    return breaker, clock, recorder


def check(breaker: CircuitBreaker, reduces: bool) -> BreakerDecision:
    return breaker.check_execution_allowed(ExecutionAction("BTCUSD", Side.BUY, 1.0, 1.0, reduces))


def test_default_policy_is_auto_and_unknown_policies_are_refused() -> None:
    assert CircuitConfig().halt_recovery == "auto"
    assert CircuitConfig.model_fields["halt_recovery"].description
    with pytest.raises(ValidationError, match="halt_recovery"):
        CircuitConfig(halt_recovery="manual")  # type: ignore[arg-type]


def test_auto_steps_down_to_half_open_after_the_cooldown() -> None:
    breaker, clock, recorder = halted("auto")
    clock.advance(HALT_COOLDOWN - 1)
    breaker.tick()
    assert breaker.state is S.HALT
    clock.advance(1)
    breaker.tick()
    assert breaker.state is S.HALF_OPEN
    assert recorder.transitions[-1] == ("HALT", "HALF_OPEN", "cooldown")
    status = breaker.get_status()
    assert status["halt_recovery"] == "auto"
    assert status["awaiting_confirmation"] is False


def test_auto_force_recovery_still_goes_straight_to_closed() -> None:
    breaker, _, recorder = halted("auto")
    assert breaker.force_recovery("checked", who="ops") is True
    assert breaker.state is S.CLOSED
    assert recorder.transitions[-1] == ("HALT", "CLOSED", "force_recovery")


def test_confirm_holds_halt_reduce_only_after_the_cooldown() -> None:
    breaker, clock, recorder = halted("confirm")
    assert breaker.get_status()["awaiting_confirmation"] is False
    clock.advance(HALT_COOLDOWN)
    breaker.tick()
    clock.advance(3 * HALT_COOLDOWN)
    breaker.tick()
    assert breaker.state is S.HALT
    assert recorder.transitions == [("CLOSED", "HALT", "api_latency")]
    opening, closing = check(breaker, reduces=False), check(breaker, reduces=True)
    assert not opening.allowed and opening.reduce_only
    assert "awaiting operator confirmation" in opening.reason
    assert closing.allowed and closing.size_factor == 1.0
    status = breaker.get_status()
    assert status["state"] == "HALT"
    assert status["halt_recovery"] == "confirm"
    assert status["awaiting_confirmation"] is True
    assert status["next_deadline"] is None


def test_confirm_operator_recovery_enters_half_open_then_probes_to_closed() -> None:
    breaker, clock, recorder = halted("confirm")
    clock.advance(HALT_COOLDOWN)
    breaker.tick()
    assert breaker.force_recovery("metrics reviewed", who="alice") is True
    assert breaker.state is S.HALF_OPEN
    assert recorder.transitions[-1] == ("HALT", "HALF_OPEN", "force_recovery")
    assert breaker.get_status()["awaiting_confirmation"] is False
    probe = check(breaker, reduces=False)
    assert probe.allowed and probe.size_factor == breaker.config.half_open_size_factor
    for _ in range(breaker.config.half_open_max_tries):
        breaker.report_order_success()
    assert breaker.state is S.CLOSED
    assert recorder.transitions[-1] == ("HALF_OPEN", "CLOSED", "half_open_success")


def test_confirm_new_trouble_in_halt_restarts_the_wait() -> None:
    breaker, clock, _ = halted("confirm")
    clock.advance(HALT_COOLDOWN)
    breaker.tick()
    assert breaker.awaiting_confirmation
    breaker.report_order_failure()
    assert not breaker.awaiting_confirmation
    clock.advance(HALT_COOLDOWN - 1)
    breaker.tick()
    assert not breaker.awaiting_confirmation
    clock.advance(1)
    breaker.tick()
    assert breaker.awaiting_confirmation and breaker.state is S.HALT


def test_confirm_does_not_hold_the_lower_levels_or_shutdown() -> None:
    clock = SimulatedClock(START)
    breaker = CircuitBreaker(CircuitConfig(halt_recovery="confirm"), clock)
    breaker.report_api_latency(1500.0)
    assert breaker.state is S.THROTTLE
    clock.advance(CircuitConfig().throttle_cooldown_seconds)
    breaker.tick()
    assert breaker.state is S.ALERT
    assert breaker.force_recovery("fine") is True
    assert breaker.state is S.CLOSED
    breaker.report_critical_error("SECURITY_BREACH")
    assert breaker.force_recovery("no") is False
    assert breaker.state is S.SHUTDOWN


def test_confirm_override_release_still_probes_without_waiting_for_confirmation() -> None:
    breaker, clock, _ = halted("confirm")
    breaker.manual_override_enable("maintenance", who="ops")
    clock.advance(2 * HALT_COOLDOWN)
    breaker.tick()
    assert not breaker.awaiting_confirmation
    breaker.manual_override_disable("done", who="ops")
    assert breaker.state is S.HALF_OPEN


def test_confirm_wait_survives_a_restart() -> None:
    breaker, clock, _ = halted("confirm")
    clock.advance(HALT_COOLDOWN + 5)
    breaker.tick()
    saved = json.loads(json.dumps(breaker.snapshot()))
    twin = CircuitBreaker.from_snapshot(breaker.config, SimulatedClock(clock.now()), saved)
    assert twin.snapshot() == breaker.snapshot()
    assert twin.state is S.HALT and twin.awaiting_confirmation
    assert twin.get_status()["awaiting_confirmation"] is True
    assert twin.force_recovery("after restart") is True
    assert twin.state is S.HALF_OPEN


def test_restart_before_the_cooldown_ends_waits_for_the_persisted_deadline() -> None:
    breaker, clock, _ = halted("confirm")
    clock.advance(HALT_COOLDOWN / 2)
    saved = json.loads(json.dumps(breaker.snapshot()))
    twin_clock = SimulatedClock(clock.now())
    twin = CircuitBreaker.from_snapshot(breaker.config, twin_clock, saved)
    assert not twin.awaiting_confirmation
    twin_clock.set(START + timedelta(seconds=HALT_COOLDOWN))
    twin.tick()
    assert twin.awaiting_confirmation and twin.state is S.HALT


def test_sample_windows_are_packed_exactly_and_old_float_lists_still_load() -> None:
    from collections import deque

    from engine.breaker_memory import _pack, _samples

    window = deque([0.1, 1e-9, 123.456789012345, 0.0], maxlen=8)
    packed = _pack(window)
    assert isinstance(packed, str)
    assert list(_samples(packed, "slippage_samples", 8)) == list(window)  # bit-exact
    assert list(_samples([0.5, 2], "latency_samples", 8)) == [0.5, 2.0]  # stores before
    with pytest.raises(ValueError, match="packed"):
        _samples("f64:not base64!", "latency_samples", 8)
