"""An alert committed just before kill -9 goes out once per channel: after the restart, or
from the dead-man check that notices the killed session."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flows._common import build_settings
from tasks.alerts import heartbeat_check_task
from tests.integration.alert_receivers import (
    alerts_toml,
    channel_toml,
    json_receiver,
    smtp_receiver,
)

REPO = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("TRADEGUARD_")}
    env.update(extra)
    return env


def _deliveries(db: Path) -> dict[str, list[str]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT a.condition, d.channel, d.status FROM alert_deliveries d "
            "JOIN alert_outbox a ON a.id = d.alert_id ORDER BY d.id"
        ).fetchall()
    found: dict[str, list[str]] = {}
    for condition, channel, status in rows:
        found.setdefault(f"{condition}@{channel}", []).append(status)
    return found


def test_alert_pending_at_kill9_is_delivered_after_restart_exactly_once(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with json_receiver() as (hook_port, hook), smtp_receiver() as (mail_port, mail):
        config = tmp_path / "tradeguard.toml"
        config.write_text(
            alerts_toml(drain_timeout_seconds=10.0)
            + channel_toml("hook", f"json://127.0.0.1:{hook_port}/a", "warning")
            + channel_toml(
                "mail",
                f"mailto://127.0.0.1:{mail_port}?from=bot@example.com&to=ops@example.com"
                "&mode=insecure",
                "critical",
            )
        )
        child = subprocess.run(
            [sys.executable, "-m", "tests.integration.alert_crash_child", str(config), str(state)],
            cwd=REPO, env=_env(TRADEGUARD_FAILPOINT="after_commit:1"),
            capture_output=True, text=True, timeout=120, check=False,
        )
        assert child.returncode == -signal.SIGKILL, child.stderr
        assert "survived" not in child.stdout
        queued = _deliveries(state / "state.db")
        assert set(queued) == {
            "breaker:ALERT@hook", "breaker:THROTTLE@hook", "breaker:THROTTLE@mail",
            "breaker:HALT@hook", "breaker:HALT@mail",
        }

        # Restart: any session-owning command starts the delivery worker and drains it.
        restart = subprocess.run(
            [sys.executable, "-m", "tradeguard", "--config", str(config),
             "--state-dir", str(state), "reconcile", "--json"],
            cwd=REPO, env=_env(), capture_output=True, text=True, timeout=120, check=False,
        )
        assert restart.returncode == 0, restart.stderr
        posts = [p["title"] for p in hook.wait_for(4)]
        mails = [m["subject"] for m in mail.wait_for(2)]

    escalations = ["CLOSED -> ALERT", "ALERT -> THROTTLE", "THROTTLE -> HALT"]
    for transition in escalations:
        assert sum(transition in title for title in posts) == 1, posts
    for transition in escalations[1:]:
        assert sum(transition in subject for subject in mails) == 1, mails
    # The restart itself reports the crash recovery (WARNING: webhook only).
    assert sum("crash recovery" in title for title in posts) == 1
    assert len(posts) == 4 and len(mails) == 2
    after = _deliveries(state / "state.db")
    assert all(statuses == ["delivered"] for statuses in after.values()), after


def test_dead_man_check_reports_a_killed_session_and_delivers_what_it_left(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    with json_receiver() as (port, hook):
        config = tmp_path / "tradeguard.toml"
        config.write_text(alerts_toml(heartbeat_stale_seconds=120.0)
                          + channel_toml("hook", f"json://127.0.0.1:{port}/a", "warning"))
        child = subprocess.run(
            [sys.executable, "-m", "tests.integration.alert_crash_child", str(config), str(state)],
            cwd=REPO, env=_env(TRADEGUARD_FAILPOINT="after_commit:1"),
            capture_output=True, text=True, timeout=120, check=False,
        )
        assert child.returncode == -signal.SIGKILL, child.stderr
        settings = build_settings(str(config), str(state))
        later = datetime.now(UTC) + timedelta(minutes=5)
        verdict = heartbeat_check_task.fn(settings, later, False)
        again = heartbeat_check_task.fn(settings, later + timedelta(minutes=5), False)
        posts = [p["title"] for p in hook.snapshot()]

    assert verdict["state"] == "running" and verdict["stale"] is True
    assert verdict["alert_id"] is not None and again["alert_id"] is None
    assert sum("stopped sending heartbeats" in t for t in posts) == 1
    for transition in ("CLOSED -> ALERT", "ALERT -> THROTTLE", "THROTTLE -> HALT"):
        assert sum(transition in t for t in posts) == 1, posts
    assert len(posts) == 4
