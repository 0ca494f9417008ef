"""Every use case runs on an in-memory workspace and simulated clocks: no SQLite, no state dir."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.clock import SimulatedClock
from engine.ports import Batch
from tradeguard import services
from tradeguard.app import App
from tradeguard.bootstrap import bootstrap
from tradeguard.contracts import SessionSummary, ValidationResult
from tradeguard.failpoints import Failpoint
from tradeguard.memory import MemoryJournal, MemoryWorkspace
from tradeguard.requests import DataSpec, ReplayRequest
from tradeguard.settings import load_settings

DAY = datetime(2022, 1, 21, tzinfo=UTC)
# The operator's wall clock, years after the replayed day.
WALL = datetime(2026, 11, 29, 9, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("TRADEGUARD_") and name != "TRADEGUARD_DATA_DIR":
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))


def memory_app(**groups: object) -> tuple[App, MemoryWorkspace, SimulatedClock]:
    """Return a runtime over a fresh in-memory workspace and a simulated wall clock."""
    workspace = MemoryWorkspace()
    wall = SimulatedClock(WALL)
    app = bootstrap(load_settings(None, **groups), clock=wall, workspace=workspace)
    return app, workspace, wall


def three_hours(data_dir: Path, faults: Path | None = None) -> ReplayRequest:
    """Return 19:00-22:00 of the 2022-01-21 FTX sell-off (180 bars)."""
    start = DAY + timedelta(hours=19)
    return ReplayRequest(
        data=(DataSpec(data_dir / "btc-perp_ftx_1m.csv.gz", "BTC-PERP"),),
        start=start,
        end=start + timedelta(hours=3),
        faults=faults,
    )


def reject_everything(tmp_path: Path) -> Path:
    plan = tmp_path / "rejects.toml"
    plan.write_text(
        '[[fault]]\nstart = "2022-01-21T19:00:00Z"\nend = "2022-01-21T22:00:00Z"\n'
        "reject_rate = 1.0\n",
        encoding="utf-8",
    )
    return plan


def test_run_session_in_memory_returns_a_typed_summary(data_dir: Path) -> None:
    app, workspace, _ = memory_app()
    result = services.run_session(app, three_hours(data_dir))
    assert isinstance(result.summary, SessionSummary)
    assert result.summary.bars == 180
    assert result.summary.last_bar == DAY + timedelta(hours=21, minutes=59)
    assert result.state_dir == workspace.location
    assert workspace.journal.batches, "the session committed nothing"
    assert not workspace.locked, "the lock must be released after the run"


def test_resumed_session_in_the_same_workspace_skips_bars_already_traded(data_dir: Path) -> None:
    app, _, _ = memory_app()
    first = services.run_session(app, three_hours(data_dir)).summary
    again = services.run_session(app, three_hours(data_dir)).summary
    assert again.bars == first.bars  # counters are resumed, not doubled
    assert again.orders_submitted == first.orders_submitted


def test_status_reports_the_breaker_of_the_stored_session(data_dir: Path, tmp_path: Path) -> None:
    app, _, _ = memory_app()
    summary = services.run_session(app, three_hours(data_dir, reject_everything(tmp_path))).summary
    shown = services.status(app)
    assert shown["breaker"]["state"] == summary.final_state
    assert shown["running"] is False
    assert shown["last_transition"]["to"] == summary.transitions[-1].to_state


def test_use_cases_refuse_a_workspace_without_state() -> None:
    app, _, _ = memory_app()
    for call in (
        lambda: services.status(app),
        lambda: services.reconcile(app),
        lambda: services.operator_command(app, "halt", "drill", "alice"),
        lambda: services.incident_timeline(app, None, None),
    ):
        with pytest.raises(Exception, match="holds no tradeguard state"):
            call()


def test_halt_on_a_stopped_replay_is_stamped_with_the_wall_clock(data_dir: Path) -> None:
    app, workspace, wall = memory_app()
    services.run_session(app, three_hours(data_dir))
    wall.advance(timedelta(minutes=7))

    receipt = services.operator_command(app, "halt", "maintenance", "alice")

    assert receipt.applied_directly is True
    assert receipt.detail["state"] == "HALT"
    actions = [a for a in workspace.journal.operator_actions if a.who == "alice"]
    assert actions, "the halt left no audit record"
    assert {a.at for a in actions} == {WALL + timedelta(minutes=7)}
    # The session itself still stands at simulated time: its clock is not the operator's.
    assert workspace.journal.state["clock"]["now"].startswith("2022-01-21T22:00")


def test_operator_command_is_queued_while_a_session_holds_the_workspace(data_dir: Path) -> None:
    app, workspace, _ = memory_app()
    services.run_session(app, three_hours(data_dir))
    with workspace.lock():
        receipt = services.operator_command(app, "halt", "drill", "bob")
    assert receipt.applied_directly is False
    assert [c.action for c in workspace.journal.pending_commands()] == ["halt"]
    assert workspace.journal.pending_commands()[0].requested_at == WALL


def test_unknown_operator_action_is_refused() -> None:
    app, _, _ = memory_app()
    with pytest.raises(Exception, match="unknown operator action"):
        services.operator_command(app, "explode", "why not", "eve")


def test_reset_daily_clears_the_day_and_is_idempotent(data_dir: Path) -> None:
    app, _, _ = memory_app()
    traded = services.run_session(app, three_hours(data_dir)).summary
    assert traded.daily_trades > 0, "the window must trade for the reset to mean anything"
    first = services.reset_daily(app, source="test")
    second = services.reset_daily(app, source="test")
    assert first["daily_trades"] == 0 and first["daily_pnl"] == 0
    assert second["daily_trades"] == 0


def test_reconcile_after_a_clean_run_has_nothing_open(data_dir: Path) -> None:
    app, _, _ = memory_app()
    services.run_session(app, three_hours(data_dir))
    assert services.reconcile(app)["reconciled"] == 0


# Fast SMA pairs trade often: enough rejected orders in three hours to reach HALT.
EAGER = {"strategy": {"pairs": [(2, 5), (3, 7)], "confidence_scale_pct": 0.0001}}


def test_incident_timeline_in_memory_finds_the_halt(data_dir: Path, tmp_path: Path) -> None:
    app, _, _ = memory_app(**EAGER)
    services.run_session(app, three_hours(data_dir, reject_everything(tmp_path)))
    timeline = services.incident_timeline(app, None, None)
    assert timeline.incident is not None
    assert timeline.incident.to_state in ("HALT", "SHUTDOWN")
    assert timeline.orders and all(o.status == "REJECTED" for o in timeline.orders)
    rendered = timeline.to_json()
    assert rendered["markdown"].startswith(f"# Incident: {timeline.incident.to_state}")


def test_incident_timeline_without_an_incident_says_so(data_dir: Path) -> None:
    app, _, _ = memory_app()
    services.run_session(app, three_hours(data_dir))
    timeline = services.incident_timeline(app, None, None)
    assert timeline.incident is None
    assert timeline.to_json()["window"] is None
    assert timeline.to_json()["markdown"] == "No HALT or SHUTDOWN on record."


def test_validate_24h_runs_in_a_fresh_child_workspace(data_dir: Path) -> None:
    app, workspace, _ = memory_app()
    result = services.validate_24h(app, three_hours(data_dir))
    assert isinstance(result, ValidationResult)
    assert result.passed, [g for g in result.gates if not g.passed]
    assert {g.name for g in result.gates} >= {"bars_processed", "no_duplicate_client_order_ids"}
    assert result.summary is not None and result.summary.bars == 180
    assert not workspace.exists(), "validation must not touch the parent workspace"
    (child,) = workspace.children.values()
    assert child.exists()
    assert WALL.strftime("%Y%m%dT%H%M%S") in child.name


def test_validate_24h_fails_the_calm_gate_on_undeclared_faults(
    data_dir: Path, tmp_path: Path
) -> None:
    app, _, _ = memory_app()
    request = three_hours(data_dir, reject_everything(tmp_path))
    result = services.validate_24h(app, request, declare_faults=False)
    assert not result.passed
    assert "calm_stretches_at_most_alert" in {g.name for g in result.failed}


def test_clean_state_judges_file_age_by_the_injected_clock(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    stale = state_dir / "leftover.tmp"
    stale.write_text("x", encoding="utf-8")
    app = bootstrap(load_settings(None, store={"state_dir": state_dir}),
                    clock=SimulatedClock(datetime.now(UTC)), workspace=MemoryWorkspace())
    assert services.clean_state(app, 600, dry_run=True).removed == ()
    later = bootstrap(app.settings, clock=SimulatedClock(datetime.now(UTC) + timedelta(hours=1)),
                      workspace=MemoryWorkspace())
    report = services.clean_state(later, 600, dry_run=False)
    assert report.removed == (stale,)
    assert not stale.exists()


def test_failpoint_is_a_setting_and_still_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert bootstrap(load_settings(None)).failpoint is None
    monkeypatch.setenv("TRADEGUARD_FAILPOINT", "before_broker:3")
    app = bootstrap(load_settings(None), workspace=MemoryWorkspace())
    assert app.failpoint == Failpoint("before_broker", 3)
    assert app.settings.store.failpoint == "before_broker:3"


def test_a_malformed_failpoint_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEGUARD_FAILPOINT", "somewhere:0")
    with pytest.raises(Exception, match="failpoint"):
        load_settings(None)


def test_validate_24h_in_memory_fails_the_duplicate_gate_on_a_replayed_order(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = services.run_session

    def run_then_replay_an_order(
        app: App, request: ReplayRequest, listeners: object = ()
    ) -> object:
        result = real(app, request)
        journal = app.workspace.open_journal()
        assert isinstance(journal, MemoryJournal)
        ordered = next(
            b for b in journal.batches if any(s.outcome == "ordered" for s in b.signals)
        )
        journal.commit(Batch(signals=[s for s in ordered.signals if s.outcome == "ordered"]))
        return result

    monkeypatch.setattr(services, "run_session", run_then_replay_an_order)
    app, _, _ = memory_app()
    result = services.validate_24h(app, three_hours(data_dir))
    assert [g.name for g in result.failed] == ["no_duplicate_client_order_ids"]
