"""Flow failures and the dead-man flow notify through the same outbox as the engine."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from engine.clock import SimulatedClock
from flows.heartbeat import alerts_heartbeat
from flows.trading_session import trading_session
from tests.integration.alert_receivers import alerts_toml, channel_toml, json_receiver
from tradeguard.alerting.heartbeat import HeartbeatRecorder
from tradeguard.alerting.worker import connect
from tradeguard.store.sqlite_store import SqliteStore


def test_failed_flow_run_alert_goes_through_the_outbox_to_the_channel(tmp_path: Path) -> None:
    state = tmp_path / "state"
    SqliteStore(state / "state.db", session=False).close()
    with json_receiver() as (port, hook):
        config = tmp_path / "tradeguard.toml"
        config.write_text(alerts_toml() + channel_toml("ops", f"json://127.0.0.1:{port}/o",
                                                       "critical"))
        run = trading_session(
            data=[str(tmp_path / "missing_1m.csv.gz")],
            state_dir=str(state), config_file=str(config), return_state=True,
        )
        posts = hook.snapshot()
    assert run.is_failed()
    assert len(posts) == 1
    assert posts[0]["title"].startswith("[CRITICAL] tradeguard: flow trading-session run ")
    assert "missing_1m.csv.gz" in posts[0]["message"]
    with sqlite3.connect(state / "state.db") as conn:
        rows = conn.execute(
            "SELECT a.condition, d.channel, d.status FROM alert_outbox a "
            "JOIN alert_deliveries d ON d.alert_id = a.id"
        ).fetchall()
    assert len(rows) == 1
    condition, channel, status = rows[0]
    assert condition.startswith("flow:trading-session:failed:")
    assert (channel, status) == ("ops", "delivered")


def test_dead_man_flow_reports_a_stale_session(tmp_path: Path) -> None:
    state = tmp_path / "state"
    db = state / "state.db"
    SqliteStore(db, session=False).close()
    start = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    HeartbeatRecorder(lambda: connect(db), SimulatedClock(start), every=30.0).start()
    with json_receiver() as (port, hook):
        config = tmp_path / "tradeguard.toml"
        config.write_text(alerts_toml(heartbeat_stale_seconds=120.0)
                          + channel_toml("pager", f"json://127.0.0.1:{port}/p", "emergency"))
        result = alerts_heartbeat(state_dir=str(state), config_file=str(config),
                                  now=start + timedelta(minutes=10))
        posts = hook.snapshot()
    assert result["stale"] is True
    assert [p["title"].split(" tradeguard:")[0] for p in posts] == ["[EMERGENCY]"]
    assert "dead-man" in posts[0]["title"]
