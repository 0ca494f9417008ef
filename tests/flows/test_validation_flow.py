"""Validation flow: the scenario matrix as one flow, one task per scenario, report artifacts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from flows.validation_24h import progress_hook, validation_24h
from tests.flows.helpers import artifact_of, run_id
from tradeguard.scenarios.runner import MatrixResult

REPO = Path(__file__).resolve().parents[2]
FAST = ("01-calm-control.toml", "03-reject-storm.toml")


def _scenarios(tmp_path: Path, names: tuple[str, ...] = FAST) -> Path:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    for name in names:
        shutil.copy(REPO / "scenarios" / name, folder / name)
    return folder


def _task_names(flow_run_id: str) -> list[str]:
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    return sorted(r.name for r in runs)


def test_matrix_flow_runs_one_task_per_scenario_and_publishes_the_report(
    data_dir: Path, tmp_path: Path
) -> None:
    seen: list[tuple[str, int, int]] = []
    token = progress_hook.set(lambda name, done, total: seen.append((name, done, total)))
    try:
        state = validation_24h(
            scenarios_dir=str(_scenarios(tmp_path)), gx_audit="first",
            state_dir=str(tmp_path / "state"), return_state=True,
        )
    finally:
        progress_hook.reset(token)

    assert state.is_completed(), state.message
    result = state.result()
    assert isinstance(result, MatrixResult)
    assert [s.name for s in result.scenarios] == ["calm-control", "reject-storm"]
    assert result.passed
    calm = {v.name: v for v in result.scenarios[0].verdicts}
    assert calm["gx_journal_audit"].passed, calm["gx_journal_audit"].observed
    assert calm["no_duplicate_client_order_ids"].passed

    names = _task_names(run_id(state))
    assert [n for n in names if n.startswith("scenario-")] == [
        "scenario-calm-control", "scenario-reject-storm"]
    assert seen[-1] == ("reject-storm", 2, 2)

    report = artifact_of(state, "validation-result")
    assert "reject-storm: PASS" in report
    # "> 0" must stay literal: a bare ">" would open a blockquote in the UI.
    assert "| trades_executed | &gt; 0 |" in report
    table = artifact_of(state, "validation-gates")
    assert "| calm-control | PASS |" in table

    run_dir = result.run_dir
    assert run_dir.parent == tmp_path / "state" / "validation"
    data = json.loads((run_dir / "validation.json").read_text())
    assert data["passed"] is True
    assert {g["name"] for g in data["gates"]} >= {"reject-storm: highest_level"}
    assert Path(data["state_dir"]) == run_dir / "calm-control" / "state"
    assert (run_dir / "report.html").read_text().startswith("<!doctype html>")
    assert (run_dir / "calm-control" / "scenario.log").exists()


def test_a_failing_scenario_ends_the_run_failed_with_the_verdict(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Deliberately wrong: HALT only after 50 consecutive failures.
    monkeypatch.setenv("TRADEGUARD_BREAKER__HALT_CONSECUTIVE_FAILURES", "50")
    monkeypatch.setenv("TRADEGUARD_BREAKER__SHUTDOWN_CONSECUTIVE_FAILURES", "60")
    state = validation_24h(
        scenarios_dir=str(_scenarios(tmp_path, ("03-reject-storm.toml",))), gx_audit="none",
        state_dir=str(tmp_path / "state"), return_state=True,
    )

    assert state.is_failed()
    assert "reject-storm" in (state.message or "")
    result = state.result(raise_on_failure=False)
    assert isinstance(result, MatrixResult)
    failed = {v.name: v for v in result.scenarios[0].verdicts if not v.passed}
    assert failed["highest_level"].observed == "THROTTLE"
    assert "no transition to HALT" in failed["transition_at"].observed
    assert "FAIL" in artifact_of(state, "validation-gates")
