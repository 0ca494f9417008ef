"""A session whose heartbeat goes stale is reported by the dead-man deployment, once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from engine.clock import SimulatedClock
from flows._common import build_settings
from tasks.alerts import heartbeat_check_task
from tests.integration.alert_receivers import alerts_toml, channel_toml, json_receiver
from tradeguard.alerting.heartbeat import HeartbeatRecorder
from tradeguard.alerting.worker import connect
from tradeguard.store.sqlite_store import SqliteStore

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
STALE = 300.0


class Ticks:
    """Monotonic seconds driven by the test (the heartbeat throttle's wall time)."""

    def __init__(self) -> None:
        self.value = 0.0

    def __call__(self) -> float:
        return self.value


def test_stale_heartbeat_triggers_one_dead_man_alert_and_a_clean_stop_none(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    db = state / "state.db"
    SqliteStore(db, session=False).close()
    clock, ticks = SimulatedClock(T0), Ticks()
    recorder = HeartbeatRecorder(lambda: connect(db), clock, every=30.0, monotonic=ticks)
    recorder.start()
    for _ in range(10):  # the session beats for five minutes, then dies silently
        clock.advance(timedelta(seconds=30))
        ticks.value += 30
        recorder.beat()
    last_beat = clock.now()
    with json_receiver() as (port, hook):
        config = tmp_path / "tradeguard.toml"
        config.write_text(alerts_toml(heartbeat_stale_seconds=STALE)
                          + channel_toml("pager", f"json://127.0.0.1:{port}/p", "critical"))

        settings = build_settings(str(config), str(state))

        def check(at: datetime) -> dict[str, object]:
            # The body of the alerts-heartbeat deployment's flow, without a Prefect server.
            result: dict[str, object] = heartbeat_check_task.fn(settings, at)
            return result

        fresh = check(last_beat + timedelta(seconds=STALE - 1))
        stale = check(last_beat + timedelta(seconds=STALE + 1))
        again = check(last_beat + timedelta(seconds=STALE + 600))
        posts = hook.snapshot()
        recorder.stop()
        clock.advance(timedelta(hours=5))
        stopped = check(clock.now())

    assert fresh["stale"] is False and fresh["alert_id"] is None
    assert stale["stale"] is True and stale["alert_id"] is not None
    assert stale["delivered"] == {"pager": 1}
    assert again["stale"] is True and again["alert_id"] is None  # reported once per death
    assert stopped["stale"] is False and stopped["state"] == "stopped"
    assert len(posts) == 1
    post = posts[0]
    assert post["title"].startswith("[EMERGENCY] tradeguard: trading session stopped sending")
    assert f"last heartbeat {last_beat.isoformat()}" in post["message"]
    assert f"Observed: {STALE + 1:g} (threshold {STALE:g})" in post["message"]
    assert f"tradeguard alerts ack {stale['alert_id']}" in post["message"]
    json.dumps(stale)  # the flow's result is JSON-ready for Prefect


def test_scheduled_session_that_never_started_is_reported_missing_once_per_window(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    db = state / "state.db"
    SqliteStore(db, session=False).close()
    yesterday = SimulatedClock(T0 - timedelta(days=1))
    recorder = HeartbeatRecorder(lambda: connect(db), yesterday, every=30.0)
    recorder.start()
    recorder.stop()  # yesterday's session ended cleanly; today's never started
    with json_receiver() as (port, hook):
        config = tmp_path / "tradeguard.toml"
        config.write_text(
            "[orchestration]\nsession_cron = \"0 6 * * *\"\nsession_duration_minutes = 600\n"
            + alerts_toml(heartbeat_stale_seconds=STALE, dedup_window_seconds=3600.0)
            + channel_toml("pager", f"json://127.0.0.1:{port}/p", "critical")
        )
        settings = build_settings(str(config), str(state))
        six = T0.replace(hour=6)
        starting = heartbeat_check_task.fn(settings, six + timedelta(seconds=STALE - 1))
        missing = heartbeat_check_task.fn(settings, six + timedelta(seconds=STALE + 1))
        repeated = heartbeat_check_task.fn(settings, six + timedelta(minutes=30))
        unscheduled = heartbeat_check_task.fn(settings, six + timedelta(hours=3), False)
        after_hours = heartbeat_check_task.fn(settings, six + timedelta(hours=11))
        posts = hook.snapshot()

    assert starting["alert_id"] is None and starting["scheduled_since"] == six.isoformat()
    assert missing["stale"] is True and missing["alert_id"] is not None
    assert repeated["alert_id"] is None  # held back by the dedup window
    assert unscheduled["stale"] is False and after_hours["scheduled_since"] is None
    assert [p["title"].split(" (#")[0] for p in posts] == [
        "[EMERGENCY] tradeguard: scheduled trading session is not running"
    ]
    assert f"scheduled since {six.isoformat()}" in posts[0]["message"]
