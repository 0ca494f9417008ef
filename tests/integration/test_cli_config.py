"""`config show` explains every field and its source, `config init`, `faults check`, `--help`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from entrypoints.cli import app

SCRIPT = Path(sys.executable).parent / "tradeguard"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith("TRADEGUARD_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_config_show_names_value_source_and_description_of_each_field(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "tg.toml"
    config.write_text("[risk]\nmax_daily_trades = 7\n", encoding="utf-8")
    monkeypatch.setenv("TRADEGUARD_RISK__MAX_DAILY_LOSS", "500")
    result = runner.invoke(app, ["config", "show", "--config", str(config)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert f"risk.max_daily_trades = 7  [file {config}]" in lines
    assert "risk.max_daily_loss = 500.0  [env TRADEGUARD_RISK__MAX_DAILY_LOSS]" in lines
    at = lines.index("risk.max_daily_loss = 500.0  [env TRADEGUARD_RISK__MAX_DAILY_LOSS]")
    assert lines[at + 1].strip()  # its description follows
    assert any(line.startswith("breaker.") and line.endswith("[default]") for line in lines)
    assert any(line.startswith("api.port = 8765") for line in lines)


def test_config_show_changed_lists_only_what_differs_from_defaults(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TRADEGUARD_RISK__MAX_DAILY_LOSS", "500")
    result = runner.invoke(
        app, ["config", "show", "--changed", "--json", "--state-dir", str(tmp_path / "s")]
    )
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert set(shown) == {"risk.max_daily_loss", "store.state_dir"}
    assert shown["risk.max_daily_loss"]["source"] == "env TRADEGUARD_RISK__MAX_DAILY_LOSS"
    assert shown["store.state_dir"]["source"] == "command line"


def test_config_init_writes_a_template_that_loads_to_the_defaults(
    runner: CliRunner, tmp_path: Path
) -> None:
    target = tmp_path / "tradeguard.toml"
    result = runner.invoke(app, ["config", "init", "--out", str(target)])
    assert result.exit_code == 0, result.output
    text = target.read_text(encoding="utf-8")
    assert "[risk]" in text and "# max_daily_loss = " in text
    tomllib.loads(text)
    changed = runner.invoke(app, ["--config", str(target), "config", "show", "--changed"])
    assert changed.exit_code == 0, changed.output
    assert "every setting is at its default" in changed.stdout
    again = runner.invoke(app, ["config", "init", "--out", str(target)])
    assert again.exit_code == 2
    assert "already exists" in again.stderr


def test_faults_check_prints_the_windows_of_a_valid_plan(
    runner: CliRunner, tmp_path: Path
) -> None:
    plan = tmp_path / "plan.toml"
    plan.write_text(
        '[[fault]]\nstart = "2022-01-21T19:30:00Z"\nend = "2022-01-21T20:30:00Z"\n'
        "reject_rate = 1.0\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["faults", "check", str(plan)])
    assert result.exit_code == 0, result.output
    assert "1 fault window(s), valid" in result.stdout
    assert (
        "fault[1] 2022-01-21T19:30:00+00:00 .. 2022-01-21T20:30:00+00:00: reject_rate=1.0"
        in result.stdout
    )


def test_faults_check_names_entry_and_field_of_a_bad_plan(
    runner: CliRunner, tmp_path: Path
) -> None:
    plan = tmp_path / "plan.toml"
    plan.write_text(
        '[[fault]]\nstart = "2022-01-21T19:30:00Z"\nend = "2022-01-21T20:30:00Z"\n'
        '[[fault]]\nstart = "2022-01-21T21:00:00Z"\nend = "2022-01-21T22:00:00Z"\n'
        "reject_rate = 1.5\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["faults", "check", str(plan)])
    assert result.exit_code == 2
    assert "fault[2].reject_rate" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_lists_every_command_description_whole_on_a_narrow_terminal(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "COLUMNS": "80", "XDG_STATE_HOME": str(tmp_path)}
    done = subprocess.run([str(SCRIPT), "--help"], capture_output=True, text=True, env=env,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    commands = done.stdout.split("Commands:", 1)[1]
    assert "..." not in commands
    flat = " ".join(done.stdout.split())
    assert "Reset daily P&L and trade count for the current trading day (idempotent per day)." in (
        flat
    )
    assert "--force" in done.stdout


def test_global_options_after_the_command_in_the_real_console_script(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEGUARD_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "xdg")
    done = subprocess.run(
        [str(SCRIPT), "config", "show", "--changed", "--json", "--state-dir",
         str(tmp_path / "s"), "--log-level", "ERROR"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["store.state_dir"]["value"] == str(tmp_path / "s")
