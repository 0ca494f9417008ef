"""A refusing and a hanging channel change nothing in the replay; alerts go out once they heal."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.clock import SimulatedClock
from entrypoints.cli import app
from tests.integration.alert_receivers import (
    ENGINE_TOML,
    FTX,
    REJECT_PLAN,
    alerts_toml,
    channel_toml,
    free_port,
    hanging_receiver,
    json_receiver,
)
from tradeguard.alerting import service
from tradeguard.settings import load_settings

WINDOW = ["--start", "2022-01-21T00:00:00Z", "--end", "2022-01-22T00:00:00Z"]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith("TRADEGUARD_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))


def _replay(config: Path, state: Path, data: Path, plan: Path) -> str:
    result = CliRunner().invoke(app, [
        "--config", str(config), "--state-dir", str(state), "replay",
        "--data", str(data), *WINDOW, "--faults", str(plan), "--seed", "7", "--json",
    ])
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_dead_channels_leave_the_summary_byte_identical_and_deliver_after_healing(
    tmp_path: Path, data_dir: Path
) -> None:
    plan = tmp_path / "faults.toml"
    plan.write_text(REJECT_PLAN)
    plain = tmp_path / "plain.toml"
    plain.write_text(ENGINE_TOML)
    baseline = _replay(plain, tmp_path / "baseline", data_dir / FTX, plan)

    refused_port = free_port()
    config = tmp_path / "alerts.toml"
    with hanging_receiver() as hung_port:
        config.write_text(
            ENGINE_TOML
            + alerts_toml(connect_timeout_seconds=0.5, read_timeout_seconds=0.5,
                          drain_timeout_seconds=1.0, retry_base_seconds=30.0)
            + channel_toml("refused", f"json://127.0.0.1:{refused_port}/a", "warning")
            + channel_toml("hung", f"json://127.0.0.1:{hung_port}/a", "warning")
        )
        with_alerts = _replay(config, tmp_path / "state", data_dir / FTX, plan)
    assert with_alerts == baseline

    settings = load_settings(config, store={"state_dir": tmp_path / "state"})
    db = tmp_path / "state" / "state.db"
    before = service.status(db, datetime.now(UTC))
    queued = before["alerts"]
    for name in ("refused", "hung"):
        channel = before["channels"][name]
        assert channel["delivered"] == 0
        assert channel["pending"] + channel["sending"] >= 1
        assert channel["last_error"] or channel["sending"]
        assert channel["attempts"] >= 1
    assert "127.0.0.1" not in json.dumps(before)  # errors are redacted, hosts included

    # Both receivers come back on the same ports; the backoff has passed (simulated clock).
    later = SimulatedClock(datetime.now(UTC) + timedelta(hours=1))
    with json_receiver(refused_port) as (_, refused), json_receiver(hung_port) as (_, hung):
        sent = service.deliver(settings.alerts, "UTC", db, later, timeout=20.0)
        again = service.deliver(settings.alerts, "UTC", db, later, timeout=20.0)
        refused_got, hung_got = refused.snapshot(), hung.snapshot()
    after = service.status(db, datetime.now(UTC))
    assert queued >= 3
    assert sent["refused"] == after["channels"]["refused"]["delivered"] == len(refused_got)
    assert sent["hung"] == after["channels"]["hung"]["delivered"] == len(hung_got)
    assert again == {"refused": 0, "hung": 0}
    assert len(refused_got) == len(hung_got) == queued - _info_alerts(db)
    titles = [p["title"] for p in refused_got]
    assert len(titles) == len(set(titles))  # each alert once
    assert any("THROTTLE -> HALT" in t for t in titles)
    assert after["channels"]["refused"]["pending"] == after["channels"]["hung"]["pending"] == 0


def _info_alerts(db: Path) -> int:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return int(conn.execute(
            "SELECT COUNT(*) FROM alert_outbox WHERE priority = 'info'").fetchone()[0])
