"""The incident-report flow publishes one report per episode, with its charts, as artifacts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from prefect.artifacts import Artifact

from flows.incident_report import incident_report
from tests.flows.helpers import artifact_of, write_fault_plan
from tradeguard import services
from tradeguard.bootstrap import bootstrap
from tradeguard.requests import DataSpec, ReplayRequest
from tradeguard.settings import load_settings

DAY = datetime(2022, 1, 21, tzinfo=UTC)


def test_two_halt_events_of_one_episode_publish_one_report_with_charts(
    data_dir: Path, tmp_path: Path
) -> None:
    plan = write_fault_plan(tmp_path / "storm.toml", "2022-01-21T14:00:00Z",
                            "2022-01-21T14:40:00Z", reject_rate=1.0)
    state_dir = tmp_path / "state"
    settings = load_settings(
        store={"state_dir": state_dir},
        breaker={"halt_loss_pct": 0.004},
        strategy={"order_quantity": 1.0, "pairs": [(2, 5)], "confidence_scale_pct": 0.0001},
        risk={"max_position": 1.0, "max_order_notional": 100_000, "max_daily_loss": 1e9,
              "max_daily_trades": 1000},
    )
    spec = DataSpec(data_dir / "btc-perp_ftx_1m.csv.gz", "BTC-PERP")
    services.run_session(bootstrap(settings), ReplayRequest(data=(spec,), start=DAY,
                                                 end=DAY + timedelta(hours=20), faults=plan))

    first = incident_report(state_dir=str(state_dir), trigger_event="halt", return_state=True)
    second = incident_report(state_dir=str(state_dir), trigger_event="halt", return_state=True)

    assert first.is_completed() and second.is_completed()
    keys = first.result()["reports"]
    assert len(keys) == 1 and keys[0].startswith("incident-state-")
    assert second.result()["reports"] == []
    assert "already exists" in next(iter(second.result()["reports_skipped"].values()))
    markdown = artifact_of(first, keys[0])
    assert markdown.startswith("# Incident: ")
    assert markdown.count("](data:image/png;base64,") == 2
    for chart in ("price-btc-perp", "equity"):
        image = Artifact.get(f"{keys[0]}-{chart}")
        assert image is not None and str(image.data).startswith("data:image/png;base64,")
