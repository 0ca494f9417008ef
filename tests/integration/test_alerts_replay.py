"""A replay walked CLOSED -> ALERT -> THROTTLE -> HALT by rejects alerts each admitting channel."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from entrypoints.cli import app
from tests.integration.alert_receivers import (
    ENGINE_TOML,
    FTX,
    REJECT_PLAN,
    alerts_toml,
    channel_toml,
    json_receiver,
    smtp_receiver,
)

WINDOW = ["--start", "2022-01-21T00:00:00Z", "--end", "2022-01-22T00:00:00Z"]
PRIORITY = {"ALERT": "WARNING", "THROTTLE": "CRITICAL", "HALT": "CRITICAL"}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith("TRADEGUARD_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))


def _escalations(summary: dict[str, object]) -> list[dict[str, str]]:
    rank = {"CLOSED": 0, "ALERT": 1, "THROTTLE": 2, "HALF_OPEN": 2, "HALT": 3, "SHUTDOWN": 4}
    transitions = summary["transitions"]
    assert isinstance(transitions, list)
    return [t for t in transitions
            if t["to"] != "HALF_OPEN" and rank[t["to"]] > rank[t["from"]]]


def test_each_escalation_reaches_each_admitting_channel_once_with_its_facts(
    tmp_path: Path, data_dir: Path
) -> None:
    plan = tmp_path / "faults.toml"
    plan.write_text(REJECT_PLAN)
    with json_receiver() as (hook_port, hook), smtp_receiver() as (mail_port, mail):
        config = tmp_path / "tradeguard.toml"
        config.write_text(
            ENGINE_TOML
            + alerts_toml(drain_timeout_seconds=10.0)
            + channel_toml("hook", f"json://127.0.0.1:{hook_port}/alerts", "warning")
            + channel_toml(
                "mail",
                f"mailto://127.0.0.1:{mail_port}?from=bot@example.com&to=ops@example.com"
                "&mode=insecure",
                "critical",
            )
        )
        result = CliRunner().invoke(app, [
            "--config", str(config), "--state-dir", str(tmp_path / "state"), "replay",
            "--data", str(data_dir / FTX), *WINDOW, "--faults", str(plan), "--json",
        ])
        assert result.exit_code == 0, result.stderr
        summary = json.loads(result.stdout)
        escalations = _escalations(summary)
        critical = [t for t in escalations if PRIORITY[t["to"]] == "CRITICAL"]
        posts = hook.wait_for(len(escalations))
        mails = mail.wait_for(len(critical))

    assert [t["to"] for t in escalations][-1] == "HALT"
    assert {"ALERT", "THROTTLE", "HALT"} <= {t["to"] for t in escalations}
    # The webhook (minimum WARNING) gets every escalation once, no recovery (INFO) messages.
    assert [p["title"].split("] ")[0] + "]" for p in posts] == [
        f"[{PRIORITY[t['to']]}]" for t in escalations
    ]
    assert [p["type"] for p in posts] == [
        "warning" if PRIORITY[t["to"]] == "WARNING" else "failure" for t in escalations
    ]
    # The mailbox (minimum CRITICAL) gets THROTTLE and HALT only.
    assert len(mails) == len(critical)
    for transition, post in zip(escalations, posts, strict=True):
        body = post["message"]
        assert f"Transition: {transition['from']} -> {transition['to']}" in body
        assert f"Trigger: {transition['trigger']}" in body
        assert f"Observed: {transition['observed']:g} (threshold {transition['threshold']:g})" \
            in body
        assert "UTC /" in body and "Europe/Paris" in body
        assert "tradeguard status" in body and "prefect deployment run '" in body
    halt_post = posts[-1]["message"]
    assert "new orders blocked; open positions being closed at market" in halt_post
    alert_id = re.search(r"#(\d+) condition=breaker:HALT", halt_post)
    assert alert_id is not None
    assert f"tradeguard alerts ack {alert_id.group(1)}" in halt_post
    assert "recover/operator" in halt_post
    throttle_mail = next(m for m in mails if "THROTTLE" in m["subject"])
    assert throttle_mail["subject"].startswith("[CRITICAL] tradeguard: breaker escalated")
    assert "position size cut to x0.5" in throttle_mail["text"]
    assert "position size cut to x0.5" in throttle_mail["html"]
    assert "halt/operator" in throttle_mail["text"]


def test_alerts_status_shows_the_outbox_per_channel(tmp_path: Path, data_dir: Path) -> None:
    plan = tmp_path / "faults.toml"
    plan.write_text(REJECT_PLAN)
    with json_receiver() as (port, hook):
        config = tmp_path / "tradeguard.toml"
        config.write_text(ENGINE_TOML + alerts_toml(drain_timeout_seconds=10.0)
                          + channel_toml("hook", f"json://127.0.0.1:{port}/a", "info"))
        base = ["--config", str(config), "--state-dir", str(tmp_path / "state")]
        runner = CliRunner()
        replayed = runner.invoke(app, [*base, "replay", "--data", str(data_dir / FTX), *WINDOW,
                                       "--faults", str(plan), "--json"])
        assert replayed.exit_code == 0, replayed.stderr
        summary = json.loads(replayed.stdout)
        shown = runner.invoke(app, [*base, "alerts", "status", "--json"])
        halt_id = json.loads(shown.stdout)["unacked"][0]["id"]
        acked = runner.invoke(app, [*base, "alerts", "ack", str(halt_id), "--who", "carol"])
        after = runner.invoke(app, [*base, "alerts", "status", "--json"])
    assert shown.exit_code == 0, shown.stderr
    assert acked.exit_code == 0 and "acked_by: carol" in acked.stdout
    assert json.loads(after.stdout)["unacked"] == []
    status = json.loads(shown.stdout)
    delivered = status["channels"]["hook"]["delivered"]
    assert delivered == len(hook.snapshot()) == len(summary["transitions"])
    assert status["channels"]["hook"]["pending"] == 0
    assert [u["condition"] for u in status["unacked"]] == ["breaker:HALT"]
    assert status["heartbeat"]["state"] == "stopped"
