"""Trading session flow on real data: summary, crash-retry resume, HALT and incident report."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.events import SignalRecorded
from flows.incident_report import incident_report
from flows.trading_session import trading_session
from tests.flows.helpers import artifact_of, count_bars, duplicates_in, write_fault_plan
from tradeguard import services

DAY = datetime(2022, 1, 21, tzinfo=UTC)


def test_session_flow_on_one_ftx_day_processes_every_bar_and_publishes_summary(
    data_dir: Path, tmp_path: Path
) -> None:
    ftx = data_dir / "btc-perp_ftx_1m.csv.gz"
    state = trading_session(
        data=[str(ftx)],
        start=DAY,
        duration_minutes=24 * 60,
        state_dir=str(tmp_path / "state"),
        return_state=True,
    )

    assert state.is_completed()
    summary = state.result()["summary"]
    expected_bars = count_bars(ftx, DAY, datetime(2022, 1, 22, tzinfo=UTC))
    assert summary["bars"] == expected_bars
    assert summary["reconciled_before_start"]["skipped"] == "fresh state dir"
    markdown = artifact_of(state, "session-summary")
    assert f"| bars | {expected_bars} |" in markdown
    table = artifact_of(state, "session-summary-table")
    assert "bars" in table and "transitions" not in table
    assert "## Breaker transitions" in markdown
    assert duplicates_in(tmp_path / "state") == []


class CrashOnce:
    """Wrap services.run_session: the first attempt dies on the Nth ordered signal."""

    def __init__(self, real: Callable[..., Any], crash_on_order: int) -> None:
        self.real = real
        self.crash_on_order = crash_on_order
        self.attempts = 0
        self.orders_before_crash = 0

    def __call__(
        self, app: Any, request: Any, listeners: Sequence[Callable[[Any], None]] = (),
        **options: Any,
    ) -> Any:
        self.attempts += 1
        if self.attempts > 1:
            return self.real(app, request, listeners, **options)

        def crash(event: Any) -> None:
            if isinstance(event, SignalRecorded) and event.outcome == "ordered":
                self.orders_before_crash += 1
                if self.orders_before_crash == self.crash_on_order:
                    raise RuntimeError("simulated process crash mid-session")

        return self.real(app, request, [*listeners, crash], **options)


def test_session_crash_mid_run_is_retried_and_resumes_without_duplicate_orders(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crasher = CrashOnce(services.run_session, crash_on_order=3)
    monkeypatch.setattr(services, "run_session", crasher)
    state_dir = tmp_path / "state"

    state = trading_session(
        data=[str(data_dir / "btc-perp_ftx_1m.csv.gz")],
        start=DAY,
        duration_minutes=24 * 60,
        state_dir=str(state_dir),
        return_state=True,
    )

    assert state.is_completed()
    assert crasher.attempts == 2, "the crash must have happened and been retried once"
    assert crasher.orders_before_crash == 3
    summary = state.result()["summary"]
    assert summary["last_bar"] is not None
    assert summary["last_bar"].startswith("2022-01-21T23:59")
    assert duplicates_in(state_dir) == []


def test_full_reject_fault_plan_halts_session_and_incident_report_shows_the_halt(
    data_dir: Path, tmp_path: Path
) -> None:
    plan = write_fault_plan(
        tmp_path / "rejects.toml", "2022-01-21T00:00:00Z", "2022-01-22T00:00:00Z", reject_rate=1.0
    )
    state_dir = tmp_path / "state"
    session = trading_session(
        data=[str(data_dir / "btc-perp_ftx_1m.csv.gz")],
        start=DAY,
        duration_minutes=24 * 60,
        faults=str(plan),
        state_dir=str(state_dir),
        return_state=True,
    )
    assert session.is_completed()
    reached = {t["to"] for t in session.result()["summary"]["transitions"]}
    assert reached & {"HALT", "SHUTDOWN"}, f"breaker only reached {reached}"

    report = incident_report(state_dir=str(state_dir), return_state=True)

    assert report.is_completed()
    timeline = report.result()
    assert timeline["incident"]["to"] in ("HALT", "SHUTDOWN")
    markdown = artifact_of(report, "incident-report")
    assert f"-> {timeline['incident']['to']}" in markdown
