"""24h validation flow: passes on the calm control, fails with the right gate otherwise."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from flows.validation_24h import validation_24h
from tests.flows.helpers import artifact_of, write_fault_plan
from tradeguard import bootstrap, services

CALM_DAY = "2016-10-07"


def gates_of(state: Any) -> dict[str, str]:
    """Return gate -> pass/FAIL as published in the validation-gates table artifact."""
    import json

    rows = json.loads(artifact_of(state, "validation-gates"))
    return {row["gate"]: row["result"] for row in rows}


def test_validation_passes_on_calm_coinbase_day(data_dir: Path, tmp_path: Path) -> None:
    state = validation_24h(
        data=[str(data_dir / "btc-usd_coinbase_1m.csv.gz")],
        day=CALM_DAY,
        state_dir=str(tmp_path),
        return_state=True,
    )

    assert state.is_completed(), state.message
    gates = gates_of(state)
    assert gates, "no gate was published"
    assert set(gates.values()) == {"pass"}
    assert "no_duplicate_client_order_ids" in gates
    assert "validation: PASSED" in artifact_of(state, "validation-result")


def test_undeclared_reject_storm_on_calm_day_fails_the_calm_stretch_gate(
    data_dir: Path, tmp_path: Path
) -> None:
    plan = write_fault_plan(
        tmp_path / "rejects.toml", f"{CALM_DAY}T00:00:00Z", "2016-10-08T00:00:00Z", reject_rate=1.0
    )
    state = validation_24h(
        data=[str(data_dir / "btc-usd_coinbase_1m.csv.gz")],
        day=CALM_DAY,
        faults=str(plan),
        declare_faults=False,
        state_dir=str(tmp_path),
        return_state=True,
    )

    assert state.is_failed()
    assert "calm_stretches_at_most_alert" in (state.message or "")
    gates = gates_of(state)
    assert gates["calm_stretches_at_most_alert"] == "FAIL"
    assert gates["no_duplicate_client_order_ids"] == "pass"
    assert "FAILED (" in artifact_of(state, "validation-result")


def test_declared_reject_storm_escalates_inside_its_window_and_passes(
    data_dir: Path, tmp_path: Path
) -> None:
    plan = write_fault_plan(
        tmp_path / "rejects.toml", f"{CALM_DAY}T00:00:00Z", "2016-10-08T00:00:00Z", reject_rate=1.0
    )
    state = validation_24h(
        data=[str(data_dir / "btc-usd_coinbase_1m.csv.gz")],
        day=CALM_DAY,
        faults=str(plan),
        state_dir=str(tmp_path),
        return_state=True,
    )

    assert state.is_completed(), state.message
    assert gates_of(state)["fault_windows_escalated"] == "pass"


def plant_duplicate(state_dir: Path) -> str:
    """Copy one ordered signal row so one client order id appears ordered twice."""
    with sqlite3.connect(bootstrap.store_path(state_dir)) as conn:
        row = conn.execute(
            "SELECT at, symbol, side, confidence, bar_time, fast, slow, outcome, reason,"
            " client_order_id FROM signals WHERE outcome = 'ordered' LIMIT 1"
        ).fetchone()
        assert row is not None, "the calm day produced no order to duplicate"
        conn.execute(
            "INSERT INTO signals (at, symbol, side, confidence, bar_time, fast, slow, outcome,"
            " reason, client_order_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            row,
        )
    return str(row[-1])


def test_planted_duplicate_order_fails_the_duplicate_gate(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = services.run_session
    planted: list[str] = []

    def run_then_plant(
        app: Any, request: Any, listeners: Sequence[Callable[[Any], None]] = ()
    ) -> Any:
        result = real(app, request, listeners)
        planted.append(plant_duplicate(app.workspace.location))
        return result

    monkeypatch.setattr(services, "run_session", run_then_plant)
    state = validation_24h(
        data=[str(data_dir / "btc-usd_coinbase_1m.csv.gz")],
        day=CALM_DAY,
        state_dir=str(tmp_path),
        return_state=True,
    )

    assert state.is_failed()
    gates = gates_of(state)
    assert gates["no_duplicate_client_order_ids"] == "FAIL"
    assert planted[0] in artifact_of(state, "validation-gates")
