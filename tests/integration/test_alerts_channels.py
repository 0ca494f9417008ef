"""`alerts test` per channel, an Apprise config file as a channel source, a corrupt store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from entrypoints.cli import app
from tests.integration.alert_receivers import (
    alerts_toml,
    channel_toml,
    free_port,
    json_receiver,
)
from tradeguard.alerts import Alert, OutboxNotifier, Severity
from tradeguard.settings import load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith("TRADEGUARD_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))


def test_alerts_test_reports_each_channel_and_reads_an_apprise_config_file(
    tmp_path: Path,
) -> None:
    refused = free_port()
    with json_receiver() as (port, hook):
        apprise_yaml = tmp_path / "ops.yml"
        apprise_yaml.write_text(
            "version: 1\nurls:\n"
            f"  - json://127.0.0.1:{port}/from-file:\n      tag: ops\n"
        )
        config = tmp_path / "tradeguard.toml"
        config.write_text(
            alerts_toml(config_file=str(apprise_yaml), connect_timeout_seconds=0.5,
                        read_timeout_seconds=0.5)
            + channel_toml("down", f"json://127.0.0.1:{refused}/x", "info")
        )
        runner = CliRunner()
        both = runner.invoke(app, ["--config", str(config), "alerts", "test"])
        only_file = runner.invoke(app, ["--config", str(config), "alerts", "test",
                                        "--channel", "ops1"])
        unknown = runner.invoke(app, ["--config", str(config), "alerts", "test",
                                      "--channel", "nope"])
        posts = hook.snapshot()

    assert both.exit_code == 1
    lines = {line.split()[0]: line for line in both.stdout.splitlines()}
    assert " ok " in lines["ops1"]
    assert "FAILED" in lines["down"] and "Connection error" in lines["down"]
    assert str(refused) not in both.stdout  # the error is redacted
    assert only_file.exit_code == 0 and "ops1" in only_file.stdout
    assert "down" not in only_file.stdout
    assert unknown.exit_code == 2 and "no such channel" in unknown.stderr
    assert len(posts) == 2
    assert posts[0]["path"] == "/from-file"
    assert posts[0]["title"].startswith("[INFO] tradeguard: test message")


def test_corrupt_state_store_still_lets_a_flow_alert_out_directly(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "state.db").write_bytes(b"this is not an SQLite database" * 100)
    with json_receiver() as (port, hook):
        settings = load_settings(None, store={"state_dir": state}, alerts={
            "channels": [{"name": "ops", "url": f"json://127.0.0.1:{port}/o",
                          "min_priority": "critical"}],
        })
        notifier = OutboxNotifier(settings, state / "state.db")
        sent = notifier.notify(Alert("flow_failed", "tradeguard flow x failed", "boom",
                                     Severity.CRITICAL))
        posts = hook.snapshot()
    assert sent is True
    assert len(posts) == 1
    assert "state store unavailable" in posts[0]["message"]
