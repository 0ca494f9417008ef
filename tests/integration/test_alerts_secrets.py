"""No secret of a channel URL appears in any log line, output or the state directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.integration.alert_receivers import (
    ENGINE_TOML,
    FTX,
    REJECT_PLAN,
    alerts_toml,
    channel_toml,
    free_port,
    json_receiver,
)

REPO = Path(__file__).resolve().parents[2]
SECRETS = (
    "hookuser", "S3cretPassw0rd", "PathTok3n", "QueryS3cret",
    "mailuser", "MailPassw0rd", "ntfyuser", "NtfyPassw0rd", "TopicS3cret",
)


def _run(args: list[str], config: Path, state: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("TRADEGUARD_")}
    done = subprocess.run(
        [sys.executable, "-m", "tradeguard", "--config", str(config), "--state-dir", str(state),
         "--log-level", "DEBUG", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    return done.stdout + done.stderr


def test_no_channel_secret_in_logs_outputs_or_state(tmp_path: Path, data_dir: Path) -> None:
    plan = tmp_path / "faults.toml"
    plan.write_text(REJECT_PLAN)
    state = tmp_path / "state"
    refused = free_port()
    with json_receiver() as (port, hook):
        config = tmp_path / "tradeguard.toml"
        config.write_text(
            ENGINE_TOML
            + alerts_toml(connect_timeout_seconds=0.5, read_timeout_seconds=0.5,
                          drain_timeout_seconds=3.0)
            + channel_toml(
                "hook",
                f"json://hookuser:S3cretPassw0rd@127.0.0.1:{port}/PathTok3n?token=QueryS3cret",
                "info",
            )
            + channel_toml(
                "mail",
                f"mailto://mailuser:MailPassw0rd@127.0.0.1:{refused}"
                "?from=bot@example.com&to=ops@example.com",
                "warning",
            )
            + channel_toml(
                "ntfy", f"ntfy://ntfyuser:NtfyPassw0rd@127.0.0.1:{refused}/TopicS3cret", "warning"
            )
        )
        outputs = [
            _run(["replay", "--data", str(data_dir / FTX), "--start", "2022-01-21T09:00:00Z",
                  "--end", "2022-01-21T10:00:00Z", "--faults", str(plan), "--json"],
                 config, state),
            _run(["alerts", "test"], config, state),
            _run(["alerts", "status", "--json"], config, state),
            _run(["alerts", "deliver"], config, state),
            _run(["alerts", "heartbeat-check", "--json"], config, state),
            _run(["config", "show", "--json"], config, state),
            _run(["status", "--json"], config, state),
            _run(["incident-report", "--json"], config, state),
        ]
        received = hook.snapshot()

    assert received, "the webhook received nothing: the scan would prove little"
    text = "\n".join(outputs)
    assert "alert_delivery_failed" in text and "alert_delivered" in text  # errors were logged
    files = [p for p in state.rglob("*") if p.is_file()]
    assert any(p.name.startswith("state.db") for p in files)
    for secret in SECRETS:
        assert secret not in text, f"{secret} leaked into logs or output"
        for path in files:
            assert secret.encode() not in path.read_bytes(), f"{secret} leaked into {path}"
