"""Exit codes and audit inputs at the edges: extreme times, huge durations, forged log lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from entrypoints.cli import app
from tests.integration.cli_env import FTX

WINDOW = ["--start", "2022-01-21T19:00:00Z", "--end", "2022-01-21T22:00:00Z"]


pytestmark = pytest.mark.usefixtures("fresh_cli_env")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def state(runner: CliRunner, tmp_path: Path) -> Path:
    """A state directory holding a three-hour replay of real data."""
    state_dir = tmp_path / "state"
    done = runner.invoke(
        app, ["--state-dir", str(state_dir), "replay", "--data", str(FTX), *WINDOW, "--json"]
    )
    assert done.exit_code == 0, done.output
    return state_dir


def _usage_error(result: object, *needles: str) -> None:
    exit_code = getattr(result, "exit_code", None)
    stderr = getattr(result, "stderr", "")
    assert exit_code == 2, (exit_code, getattr(result, "output", ""))
    assert stderr.startswith("error: "), stderr
    assert "Traceback" not in stderr
    for needle in needles:
        assert needle in stderr, stderr


@pytest.mark.parametrize(
    ("command", "needle"),
    [
        (["replay", "--data", str(FTX), "--end", "9999-12-31T23:59:59-05:00"], "--end"),
        (["replay", "--data", str(FTX), "--start", "0001-01-01T00:00:00+05:00"], "--start"),
        (["incident-report", "--end", "9999-12-31T23:59:59-05:00"], "--end"),
        (["incident-report", "--start", "0001-01-01T00:00:00+05:00"], "--start"),
        (["incident-report", "--start", "2022-01-21T12:00:00Z", "--end", "2022-01-21T09:00:00Z"],
         "must be after --start"),
        (["data", "check", "--start", "0001-01-01T00:00:00+05:00"], "--start"),
        (["clean-state", "--older-than", "99999999999999d"], "--older-than"),
        (["replay", "--data", "/"], "not a regular file"),
    ],
)
def test_extreme_inputs_are_usage_errors_naming_the_option(
    runner: CliRunner, tmp_path: Path, command: list[str], needle: str
) -> None:
    (tmp_path / "state").mkdir()
    result = runner.invoke(app, ["--state-dir", str(tmp_path / "state"), *command])
    _usage_error(result, needle)


def test_fault_plan_with_an_unrepresentable_time_names_entry_and_field(
    runner: CliRunner, tmp_path: Path
) -> None:
    plan = tmp_path / "far.toml"
    plan.write_text(
        '[[fault]]\nstart = "0001-01-01T00:00:00+05:00"\nend = "2022-01-22T00:00:00Z"\n',
        encoding="utf-8",
    )
    result = runner.invoke(
        app, ["--state-dir", str(tmp_path / "s"), "replay", "--data", str(FTX), "--faults",
              str(plan)],
    )
    _usage_error(result, "fault[1].start")


@pytest.mark.parametrize(
    ("option", "value", "needle"),
    [
        ("--reason", "ok\n2026-01-01T00:00:00.000Z INFO forged line", "control characters"),
        ("--reason", "   ", "must not be blank"),
        ("--who", "\t", "must not be blank"),
        ("--who", "alice\x1b[2J", "control characters"),
    ],
)
def test_operator_who_and_reason_refuse_blanks_and_control_characters(
    runner: CliRunner, state: Path, option: str, value: str, needle: str
) -> None:
    args = {"--reason": "maintenance", "--who": "alice", option: value}
    result = runner.invoke(
        app, ["--state-dir", str(state), "halt", *[x for kv in args.items() for x in kv]]
    )
    _usage_error(result, needle)
    status = runner.invoke(app, ["--state-dir", str(state), "status", "--json"])
    assert json.loads(status.stdout)["breaker"]["override"]["active"] is False  # not applied


def test_reset_daily_says_which_day_it_cleared_then_that_it_was_already_reset(
    runner: CliRunner, state: Path
) -> None:
    before = json.loads(
        runner.invoke(app, ["--state-dir", str(state), "status", "--json"]).stdout
    )["daily"]
    assert before["daily_trades"] > 0
    first = runner.invoke(app, ["--state-dir", str(state), "reset-daily", "--who", "alice"])
    assert first.exit_code == 0, first.output
    assert (
        f"reset trading day 2022-01-21: cleared daily_pnl {before['daily_pnl']:+.2f} and "
        f"daily_trades {before['daily_trades']}"
    ) in first.stdout
    second = runner.invoke(app, ["--state-dir", str(state), "reset-daily", "--who", "bob"])
    assert second.exit_code == 0, second.output
    assert "trading day 2022-01-21 was already reset at session time 2022-01-21T22:00:00+00:00" in (
        second.stdout
    )
    assert "operator:alice" in second.stdout
    assert "reset.applied: False" in second.stdout


@pytest.mark.parametrize("position", ["before", "after"])
def test_global_options_work_before_and_after_the_command(
    runner: CliRunner, state: Path, position: str
) -> None:
    options = ["--state-dir", str(state), "--log-level", "ERROR"]
    args = [*options, "status", "--json"] if position == "before" else [
        "status", "--json", *options]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["state_dir"] == str(state)


def test_force_reaches_the_workspace_lock(runner: CliRunner, state: Path) -> None:
    from entrypoints.cli_support import AppState

    forced = AppState(state_dir=state, force=True).app()
    assert getattr(forced.workspace, "force_lock", None) is True
    result = runner.invoke(app, ["state", "backup", "--state-dir", str(state), "--force"])
    assert result.exit_code == 0, result.output
    restored = runner.invoke(app, ["state", "restore", "--force", "--state-dir", str(state)])
    assert restored.exit_code == 0, restored.output
    assert "restored from" in restored.stdout


def test_a_lock_path_that_is_a_directory_is_exit_2_naming_it(
    runner: CliRunner, state: Path
) -> None:
    lock = state / ".lock"
    lock.unlink(missing_ok=True)
    lock.mkdir()
    result = runner.invoke(app, ["--state-dir", str(state), "halt", "--reason", "test"])
    _usage_error(result, ".lock")
