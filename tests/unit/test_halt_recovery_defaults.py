"""HALT recovery: confirm by default on a live venue, auto for replays; alerts say which."""

from __future__ import annotations

from datetime import UTC, datetime

from engine.events import BreakerTransitioned
from tradeguard.alerting.policy import AlertPolicy, EngineFacts
from tradeguard.settings import load_settings
from tradeguard.venues.live import with_live_defaults

AT = datetime(2022, 1, 21, 9, 18, tzinfo=UTC)


def test_a_live_venue_session_defaults_to_operator_confirmation() -> None:
    settings = load_settings()
    assert settings.breaker.halt_recovery == "auto"
    assert with_live_defaults(settings).breaker.halt_recovery == "confirm"


def test_an_explicit_choice_is_kept_for_live_venues() -> None:
    settings = load_settings(breaker={"halt_recovery": "auto"})
    assert with_live_defaults(settings).breaker.halt_recovery == "auto"


def halt_text(facts: EngineFacts) -> str:
    halt = BreakerTransitioned(AT, "THROTTLE", "HALT", "consecutive_failures", 5.0, 5.0, "x")
    return str(AlertPolicy(facts).transition(halt))


def test_the_halt_alert_says_which_recovery_applies_and_what_to_run() -> None:
    confirm = halt_text(EngineFacts(halt_recovery="confirm"))
    assert "halt_recovery = confirm" in confirm and "tradeguard recover" in confirm
    auto = halt_text(EngineFacts(halt_recovery="auto", halt_cooldown_seconds=900))
    assert "halt_recovery = auto" in auto and "900 s" in auto
