"""Alert policy, rendering, routing and settings of the alerts group (pure, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from engine.errors import ConfigurationError
from engine.events import BreakerTransitioned, IssueReported
from engine.ports import Batch
from tradeguard.alerting.channels import Redactor, with_timeouts
from tradeguard.alerting.config import Priority
from tradeguard.alerting.model import OutboxAlert
from tradeguard.alerting.outbox import Route
from tradeguard.alerting.policy import AlertPolicy, EngineFacts, is_escalation
from tradeguard.alerting.render import render
from tradeguard.settings import load_settings

AT = datetime(2022, 1, 21, 9, 17, tzinfo=UTC)


def _t(src: str, dst: str) -> BreakerTransitioned:
    return BreakerTransitioned(AT, src, dst, "consecutive_failures", 3.0, 3.0, "3 failures")


@pytest.mark.parametrize(
    ("src", "dst", "priority", "escalation"),
    [
        ("CLOSED", "ALERT", Priority.WARNING, True),
        ("ALERT", "THROTTLE", Priority.CRITICAL, True),
        ("THROTTLE", "HALT", Priority.CRITICAL, True),
        ("HALT", "SHUTDOWN", Priority.EMERGENCY, True),
        ("HALT", "HALF_OPEN", Priority.INFO, False),
        ("HALF_OPEN", "CLOSED", Priority.INFO, False),
        ("THROTTLE", "ALERT", Priority.INFO, False),
    ],
)
def test_transition_priority_follows_seed_004(
    src: str, dst: str, priority: Priority, escalation: bool
) -> None:
    facts = AlertPolicy().transition(_t(src, dst))
    assert (facts.priority, facts.escalation, is_escalation(src, dst)) == (
        priority, escalation, escalation
    )
    assert facts.ack_required is (escalation and dst in ("HALT", "SHUTDOWN"))


def test_engine_action_quotes_the_configured_throttle_factor_and_flattening() -> None:
    policy = AlertPolicy(EngineFacts(throttle_size_factor=0.25, flatten_on_halt=False))
    assert "x0.25" in policy.transition(_t("ALERT", "THROTTLE")).engine_action
    halt = policy.transition(_t("THROTTLE", "HALT")).engine_action
    assert "new orders blocked" in halt and "kept" in halt


def test_only_alerting_issues_become_alerts_and_data_issues_carry_their_kind() -> None:
    batch = Batch(issues=[
        IssueReported(AT, "API_LATENCY", {"ms": 900}),
        IssueReported(AT, "DATA_FEED", {"kind": "gap", "seconds": 120}),
        IssueReported(AT, "DATABASE_CORRUPTION", {}),
    ])
    derived = AlertPolicy().derive(batch)
    assert [(a.condition, a.priority) for a in derived] == [
        ("issue:DATA_FEED:gap", Priority.WARNING),
        ("issue:DATABASE_CORRUPTION", Priority.EMERGENCY),
    ]


def test_render_shows_utc_and_local_time_ack_command_and_escalation() -> None:
    facts = AlertPolicy().transition(_t("THROTTLE", "HALT"))
    message = render(OutboxAlert(42, facts, AT), "America/New_York", escalated=True)
    assert message.title.startswith("[ESCALATED] [CRITICAL] tradeguard:")
    assert "2022-01-21T09:17:00+00:00 UTC / 2022-01-21 04:17:00 America/New_York" in message.text
    assert "tradeguard alerts ack 42" in message.text
    assert "`tradeguard recover`" in message.markdown
    assert message.priority is Priority.CRITICAL


def test_routes_admit_by_minimum_priority_then_tags_but_emergency_ignores_tags() -> None:
    data = Route("data", Priority.WARNING, ("data",))
    policy = AlertPolicy()
    gap = policy.issue(IssueReported(AT, "DATA_FEED", {"kind": "gap"}))
    assert gap is not None
    assert data.admits(gap)
    assert not data.admits(policy.transition(_t("ALERT", "THROTTLE")))
    assert data.admits(policy.transition(_t("HALT", "SHUTDOWN")))
    assert not Route("pager", Priority.CRITICAL).admits(policy.transition(_t("CLOSED", "ALERT")))


def test_timeouts_are_appended_only_when_the_url_does_not_set_them() -> None:
    assert with_timeouts("json://h/p", 1, 2) == "json://h/p?cto=1&rto=2"
    assert with_timeouts("json://h/p?rto=9", 1, 2) == "json://h/p?rto=9&cto=1"
    assert with_timeouts("json://h/p?cto=3&rto=9", 1, 2) == "json://h/p?cto=3&rto=9"


def test_redactor_removes_every_url_fragment() -> None:
    redact = Redactor([SecretStr("tgram://123456:AAHtok3n@bot/-100987?x=SeCrEt")])
    text = redact("failed tgram://123456:AAHtok3n@bot/-100987?x=SeCrEt and AAHtok3n, SeCrEt")
    for fragment in ("AAHtok3n", "SeCrEt", "123456", "-100987"):
        assert fragment not in text


def test_settings_validate_channels_and_mask_urls() -> None:
    settings = load_settings(None, alerts={
        "channels": [{"name": "tg", "url": "tgram://tok3n/42", "min_priority": "critical"}],
        "escalation_channels": ["tg"],
    })
    assert settings.model_dump_safe()["alerts"]["channels"][0]["url"] == "tgram://**********"
    with pytest.raises(ConfigurationError, match="unique"):
        load_settings(None, alerts={"channels": [{"name": "url1", "url": "json://a/b"}],
                                    "urls": ["json://c/d"]})
    with pytest.raises(ConfigurationError, match="unknown channels: nope"):
        load_settings(None, alerts={"escalation_channels": ["nope"]})
    with pytest.raises(ConfigurationError, match="not an Apprise URL"):
        load_settings(None, alerts={"channels": [{"name": "x", "url": "no-scheme"}]})
