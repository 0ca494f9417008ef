"""Real-time validation driven by a simulated clock: hours of wall-clock pacing, no sleeps."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from engine.clock import SimulatedClock
from tradeguard.bootstrap import bootstrap
from tradeguard.settings import load_settings
from tradeguard.validation_realtime import realtime_lines, realtime_validation

NOON = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _app(tmp_path: Path, data_dir: Path, clock: SimulatedClock, **groups: dict) -> object:
    settings = load_settings(
        None, store={"state_dir": tmp_path / "state"}, replay={"data_dir": data_dir}, **groups
    )
    return bootstrap(settings, clock=clock)


def test_three_paced_hours_with_two_restarts_pass_every_verdict(
    tmp_path: Path, data_dir: Path
) -> None:
    clock = SimulatedClock(NOON)
    app = _app(tmp_path, data_dir, clock)

    verdict = realtime_validation(app, 3.0, restarts=2, sleep=clock.advance)  # type: ignore[arg-type]

    by_name = {v.name: v for v in verdict.verdicts}
    assert verdict.passed, realtime_lines(verdict)
    assert (clock.now() - NOON).total_seconds() == 3 * 3600  # paced by the clock, not skipped
    assert by_name["restarts_survived"].observed.startswith("bar counts after each stretch [")
    assert set(by_name) == {"wall_clock_hours", "uptime", "restarts_survived",
                            "state_persisted_every_event", "no_false_escalation"}


def test_a_session_that_escalates_on_calm_data_fails_no_false_escalation(
    tmp_path: Path, data_dir: Path
) -> None:
    clock = SimulatedClock(NOON)
    # A slippage limit no real fill can meet: every trade escalates the breaker.
    app = _app(tmp_path, data_dir, clock, breaker={
        "alert_slippage_pct": 0.0001, "throttle_slippage_pct": 0.0002,
        "halt_slippage_pct": 0.0003})

    verdict = realtime_validation(app, 6.0, restarts=1, sleep=clock.advance)  # type: ignore[arg-type]

    by_name = {v.name: v for v in verdict.verdicts}
    assert not by_name["no_false_escalation"].passed, by_name["no_false_escalation"]
    assert "first" in by_name["no_false_escalation"].observed
    assert by_name["state_persisted_every_event"].passed  # every escalation was journaled
    assert not verdict.passed
