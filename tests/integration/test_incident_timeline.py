"""The incident timeline finds the last HALT/SHUTDOWN and lists what led to it, in order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tradeguard import services
from tradeguard.bootstrap import bootstrap
from tradeguard.requests import DataSpec, ReplayRequest
from tradeguard.settings import load_settings

DAY = datetime(2022, 1, 21, tzinfo=UTC)


def test_last_incident_timeline_ends_in_shutdown_with_the_rejected_orders(
    tmp_path: Path, data_dir: Path
) -> None:
    plan = tmp_path / "faults.toml"
    plan.write_text(
        '[[fault]]\nstart = "2022-01-21T00:00:00Z"\nend = "2022-01-22T00:00:00Z"\n'
        "reject_rate = 1.0\n"
    )
    settings = load_settings(
        store={"state_dir": tmp_path / "s"},
        strategy={"pairs": [(2, 5), (3, 7)], "confidence_scale_pct": 0.0001},
    )
    request = ReplayRequest(
        data=(DataSpec(data_dir / "btc-perp_ftx_1m.csv.gz", "BTC-PERP"),),
        start=DAY, end=DAY + timedelta(days=1), faults=plan,
    )
    app = bootstrap(settings)
    services.run_session(app, request)
    timeline = services.incident_timeline(app, None, None).to_json()
    assert timeline["incident"]["to"] == "SHUTDOWN"
    assert timeline["incident"]["trigger"] == "consecutive_failures"
    times = [t["at"] for t in timeline["transitions"]]
    assert times == sorted(times)
    assert timeline["transitions"][-1]["to"] == "SHUTDOWN"
    assert timeline["intents"] and all(i["status"] == "REJECTED" for i in timeline["intents"])
    lines = timeline["markdown"].splitlines()
    assert lines[0].startswith("# Incident: SHUTDOWN")
    rows = [line for line in lines if line.startswith("| 2022")]
    assert len(rows) == len(timeline["transitions"]) + len(timeline["intents"])
    assert [r.split(" | ")[0] for r in rows] == sorted(r.split(" | ")[0] for r in rows)

    window = services.incident_timeline(app, DAY, DAY + timedelta(minutes=20)).to_json()
    assert window["incident"] is None
    assert all(t["at"] <= (DAY + timedelta(minutes=20)).isoformat()
               for t in window["transitions"])
