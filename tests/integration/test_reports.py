"""Incident, session and validation reports on a replay of the FTX 2022-01-21 sell-off."""

from __future__ import annotations

import io
import json
import re
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from matplotlib import image as mpimg

from tradeguard import bootstrap, services
from tradeguard.reports import incident_reports, session_report, validation_report
from tradeguard.requests import DataSpec, ReplayRequest
from tradeguard.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
DAY = datetime(2022, 1, 21, tzinfo=UTC)
# A reject storm in the afternoon escalates to ALERT and THROTTLE; long cooldowns keep the
# breaker out of CLOSED until the sell-off's loss HALTs it, so the episode's first escalation
# comes hours before its HALT.
STORM = (
    '[[fault]]\nstart = "2022-01-21T14:00:00Z"\nend = "2022-01-21T14:40:00Z"\nreject_rate = 1.0\n'
)


@pytest.fixture(scope="module")
def sell_off(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """Replay 2022-01-21 into HALT with a tight loss limit and a reject storm; return the store."""
    root = tmp_path_factory.mktemp("sell-off")
    plan = root / "storm.toml"
    plan.write_text(STORM)
    settings = load_settings(
        store={"state_dir": root / "bot"},
        breaker={"halt_loss_pct": 0.004, "alert_cooldown_seconds": 3600,
                 "throttle_cooldown_seconds": 3600},
        strategy={"order_quantity": 1.0, "pairs": [(2, 5)], "confidence_scale_pct": 0.0001},
        risk={"max_position": 1.0, "max_order_notional": 100_000, "max_daily_loss": 1e9,
              "max_daily_trades": 1000},
    )
    spec = DataSpec(data_dir / "btc-perp_ftx_1m.csv.gz", "BTC-PERP")
    services.run_session(bootstrap.bootstrap(settings), ReplayRequest(data=(spec,), start=DAY,
                                                 end=DAY + timedelta(days=1), faults=plan, seed=11))
    return bootstrap.store_path(root / "bot")


def journal(store: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"{store.as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def storm_episode(store: Path) -> dict[str, Any]:
    """Find, in the journal, the first HALT after the storm and the escalation that began it."""
    events = journal(store, "SELECT id, at, from_state, to_state, trigger, observed, threshold "
                            "FROM breaker_events ORDER BY id")
    halt = next(e for e in events if e[1] >= "2022-01-21T14:00" and e[3] in ("HALT", "SHUTDOWN"))
    start = [e for e in events if e[0] <= halt[0] and e[2] == "CLOSED"][-1]
    end = next((e for e in events if e[0] > halt[0] and e[3] == "CLOSED"), None)
    return {"halt": halt, "start": start, "end": end}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def check_png(png: bytes, name: str) -> None:
    """Assert the bytes are a PNG that decodes to a real picture; keep a copy to look at."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = mpimg.imread(io.BytesIO(png), format="png")
    assert pixels.shape[0] > 150 and pixels.shape[1] > 500
    assert pixels.std() > 0.01  # not a blank canvas
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / name).write_bytes(png)


def test_incident_report_starts_at_the_first_escalation_and_names_the_halt(
    sell_off: Path, tmp_path: Path, data_dir: Path
) -> None:
    ep = storm_episode(sell_off)
    _, halt_at, _, to_state, trigger, observed, threshold = ep["halt"]
    start_at = at(ep["start"][1])
    assert at(halt_at) - start_at > timedelta(hours=1)  # a fixed one-hour lead-up would miss it

    outcomes = incident_reports(sell_off, since=at(halt_at), until=at(halt_at),
                                out_dir=tmp_path, data_dir=data_dir)

    assert len(outcomes) == 1 and outcomes[0].report is not None
    report, written = outcomes[0].report, outcomes[0].written
    assert written is not None
    meta = report.meta
    assert meta["start_at"] == start_at and meta["halt_at"] == at(halt_at)
    assert (meta["trigger"], meta["observed"], meta["threshold"]) == (trigger, observed,
                                                                      threshold)
    facts = dict(report.facts)
    assert facts["What"] == f"{to_state} on {trigger} (observed {observed:.6g} vs threshold " \
                            f"{threshold:.6g})"
    assert facts["First escalation"].startswith(start_at.strftime("%Y-%m-%d %H:%M:%S"))
    markdown = written.markdown.read_text()
    timeline = markdown.split("## Timeline from the first escalation")[1]
    first_row = next(line for line in timeline.splitlines() if line.startswith("| 2022"))
    assert first_row.startswith(f"| {start_at:%Y-%m-%d %H:%M:%S} | breaker | CLOSED -> ")

    until = ep["end"][1] if ep["end"] else "9999"
    blocked = [r[0] for r in journal(
        sell_off, "SELECT client_order_id FROM denials WHERE check_name = 'breaker' "
                  "AND at BETWEEN ? AND ? ORDER BY id", (ep["start"][1], until))]
    assert blocked and meta["blocked_orders"] == blocked
    orders = markdown.split("**Blocked or denied**")[1].split("**Failed at the venue**")[0]
    assert all(cid in orders for cid in blocked)

    names = sorted(p.name for p in written.charts)
    assert names == ["equity.png", "price-btc-perp.png"]
    for chart in report.charts:
        check_png(chart.png, f"incident-{chart.name}")
    page = written.html.read_text()
    sources = re.findall(r'src="([^"]{0,30})', page)
    assert len(sources) == 2 and all(s.startswith("data:image/png;base64,") for s in sources)


def test_one_report_per_episode_however_many_halts_fire(sell_off: Path, tmp_path: Path) -> None:
    ep = storm_episode(sell_off)
    end = ep["end"][1] if ep["end"] else "9999"
    halts = [r[0] for r in journal(
        sell_off, "SELECT at FROM breaker_events WHERE to_state IN ('HALT', 'SHUTDOWN') "
                  "AND at BETWEEN ? AND ? ORDER BY id", (ep["start"][1], end))]
    assert len(halts) >= 2  # the episode re-HALTs from HALF_OPEN
    written = []
    for halt in [*halts, *halts]:  # every HALT event starts one flow run, some twice
        for outcome in incident_reports(sell_off, since=at(halt), until=at(halt),
                                        out_dir=tmp_path, only_new=True):
            if outcome.written is not None:
                written.append(outcome.slug)
    assert len(written) == 1
    assert [p.name for p in tmp_path.iterdir()] == written


def test_last_incident_is_the_latest_halt_of_the_journal(sell_off: Path, tmp_path: Path) -> None:
    last_halt = journal(sell_off, "SELECT at, trigger FROM breaker_events WHERE to_state IN "
                                  "('HALT', 'SHUTDOWN') ORDER BY id DESC LIMIT 1")[0]
    outcomes = incident_reports(sell_off, last=True, out_dir=tmp_path)
    assert len(outcomes) == 1 and outcomes[0].report is not None
    meta = outcomes[0].report.meta
    halted = at(last_halt[0])
    assert meta["start_at"] <= meta["halt_at"] <= halted
    assert meta["end_at"] is None or halted <= meta["end_at"]
    between = journal(sell_off, "SELECT COUNT(*) FROM breaker_events WHERE to_state = 'CLOSED' "
                                "AND at > ? AND at < ?", (meta["start_at"].isoformat(),
                                                          last_halt[0]))
    assert between[0][0] == 0  # the episode reported is the one holding the last HALT


def test_session_report_shows_the_journal_pnl_and_three_charts(
    sell_off: Path, tmp_path: Path, data_dir: Path
) -> None:
    report, written = session_report(sell_off, out_dir=tmp_path, data_dir=data_dir)
    realized = journal(sell_off, "SELECT SUM(realized_pnl) FROM positions")[0][0]
    assert float(dict(report.facts)["Realized P&L (net of fees)"]) == pytest.approx(
        realized, rel=1e-5)
    assert {p.name for p in written.charts} == {"equity.png", "breaker-timeline.png",
                                                "daily-pnl.png"}
    for chart in report.charts:
        check_png(chart.png, f"session-{chart.name}")
    assert written.html.read_text().count('src="data:image/png;base64,') == 3
    assert report.charts[0].caption.startswith("Equity marked to bar closes")
    plain, _ = session_report(sell_off, out_dir=tmp_path / "plain")  # no market data at hand
    assert plain.charts[0].caption.startswith("Equity points from the journal")


def test_validation_report_carries_the_gate_matrix(tmp_path: Path, data_dir: Path) -> None:
    settings = load_settings(store={"state_dir": tmp_path / "state"},
                             replay={"data_dir": data_dir})
    result = services.validate_24h(bootstrap.bootstrap(settings), None).to_json()  # default day
    run_dir = Path(result["state_dir"])
    (run_dir / "validation.json").write_text(json.dumps(result, default=str))
    done = subprocess.run(
        [sys.executable, "-m", "tradeguard", "report", "validation", str(run_dir), "--out",
         str(tmp_path / "out")], capture_output=True, text=True, cwd=REPO, timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    markdown = next((tmp_path / "out").glob("validation-*/report.md")).read_text()
    gates = markdown.split("## Validation gates")[1].split("##")[0]
    rows = [line for line in gates.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) - 1 == len(result["gates"])
    for gate in result["gates"]:
        assert f"| {gate['name']} | {'pass' if gate['passed'] else 'FAIL'} |" in gates
    report, _ = validation_report(bootstrap.store_path(run_dir), None, out_dir=tmp_path / "x")
    assert dict(report.facts)["Verdict"].startswith("not recorded")


def test_cli_report_incident_last_writes_html_and_markdown(sell_off: Path, tmp_path: Path) -> None:
    state_dir = tmp_path / "copy"
    shutil.copytree(sell_off.parent, state_dir)
    done = subprocess.run(
        [sys.executable, "-m", "tradeguard", "--state-dir", str(state_dir), "report", "incident",
         "--last"], capture_output=True, text=True, cwd=REPO, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr
    html = Path(done.stdout.splitlines()[0].split(": ", 1)[1])
    assert html.is_file() and html.parent.parent == state_dir / "reports"
    assert (html.parent / "report.md").read_text().startswith("# Incident: ")
    bad = subprocess.run(
        [sys.executable, "-m", "tradeguard", "--state-dir", str(state_dir), "report", "incident",
         "--last", "--since", "2022-01-21T00:00:00Z"],
        capture_output=True, text=True, cwd=REPO, timeout=120, check=False,
    )
    assert bad.returncode == 2 and bad.stderr.startswith("error: --last cannot be combined")
