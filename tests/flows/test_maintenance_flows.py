"""Daily reset, operator commands and failure alerts through the flows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import flows._common as common
from flows.daily_reset import daily_reset
from flows.operator import halt, resume
from flows.validation_24h import validation_24h
from tradeguard import services
from tradeguard.alerts import Alert, Severity
from tradeguard.bootstrap import bootstrap
from tradeguard.requests import DataSpec, ReplayRequest
from tradeguard.settings import load_settings

START = datetime(2022, 1, 21, tzinfo=UTC)


@pytest.fixture
def traded_state(data_dir: Path, tmp_path: Path) -> Path:
    """Return a state dir after six hours of the 2022-01-21 sell-off were traded."""
    state_dir = tmp_path / "state"
    settings = load_settings(None, store={"state_dir": state_dir})
    request = ReplayRequest(
        data=(DataSpec(data_dir / "btc-perp_ftx_1m.csv.gz", "BTC-PERP"),),
        start=START,
        end=START + timedelta(hours=6),
    )
    services.run_session(bootstrap(settings), request)
    return state_dir


def daily(state_dir: Path) -> dict[str, object]:
    settings = load_settings(None, store={"state_dir": state_dir})
    return services.status(bootstrap(settings))["daily"]


def test_daily_reset_clears_counters_and_a_second_run_changes_nothing(traded_state: Path) -> None:
    first = daily_reset(state_dir=str(traded_state), return_state=True)
    after_first = daily(traded_state)
    second = daily_reset(state_dir=str(traded_state), return_state=True)
    after_second = daily(traded_state)

    assert first.is_completed() and second.is_completed()
    assert after_first["daily_trades"] == 0
    assert after_first["daily_pnl"] == 0
    assert after_second == after_first


def test_halt_flow_halts_an_idle_session_and_resume_lifts_it(traded_state: Path) -> None:
    halted = halt(reason="test drill", state_dir=str(traded_state), return_state=True)
    settings = load_settings(None, store={"state_dir": traded_state})
    state_after_halt = services.status(bootstrap(settings))["breaker"]["state"]
    resumed = resume(reason="drill over", state_dir=str(traded_state), return_state=True)

    assert halted.is_completed() and resumed.is_completed()
    assert halted.result()["applied_directly"] is True
    # No `who` given: the audit trail names the run (its creator when Prefect knows one).
    assert halted.result()["who"].startswith("prefect:")
    assert halted.result()["who"] != resumed.result()["who"]
    assert state_after_halt == "HALT"
    assert services.status(bootstrap(settings))["breaker"]["state"] != "HALT"


class Recording:
    """Notifier that keeps what it was asked to send."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def notify(self, alert: Alert) -> bool:
        self.alerts.append(alert)
        return True


def test_failed_flow_run_sends_a_critical_alert(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notifier = Recording()
    monkeypatch.setattr(common, "build_notifier", lambda settings: notifier)

    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    (scenarios / "missing.toml").write_text(
        'start = 2016-10-07T00:00:00Z\nend = 2016-10-08T00:00:00Z\n'
        '[[data]]\nfile = "missing_1m.csv.gz"\n[expect]\ntrades = "positive"\n',
        encoding="utf-8",
    )
    state = validation_24h(
        scenarios_dir=str(scenarios), gx_audit="none", state_dir=str(tmp_path),
        return_state=True,
    )

    assert state.is_failed()
    assert [a.event for a in notifier.alerts] == ["flow_failed"]
    assert notifier.alerts[0].severity is Severity.CRITICAL
    assert "validation-24h" in notifier.alerts[0].title
