"""The `tradeguard` console command: usage errors, exit codes, output shapes, real data."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from entrypoints.cli import app
from entrypoints.cli_support import parse_duration
from tests.integration.cli_env import FTX
from tradeguard.data import symbol_of as default_symbol
from tradeguard.store.sqlite_store import SqliteStore

# Three hours of the 2022-01-21 sell-off: enough bars for the SMA to trade, fast to replay.
WINDOW = ["--start", "2022-01-21T19:00:00Z", "--end", "2022-01-21T22:00:00Z"]


pytestmark = pytest.mark.usefixtures("fresh_cli_env")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _state(tmp_path: Path) -> list[str]:
    return ["--state-dir", str(tmp_path / "state")]


# ---------------------------------------------------------------- help and pure parsing


def test_installed_console_script_prints_help_in_a_real_process() -> None:
    script = Path(sys.executable).parent / "tradeguard"
    assert script.exists(), f"console script missing: {script} (run uv sync)"
    done = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    for command in ("replay", "validate", "status", "halt", "clean-state", "incident-report"):
        assert command in done.stdout
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["replay"],
        ["validate"],
        ["status"],
        ["halt"],
        ["resume"],
        ["recover"],
        ["reset"],
        ["reset-daily"],
        ["clean-state"],
        ["state", "backup"],
        ["state", "restore"],
        ["state", "archive"],
        ["reconcile"],
        ["incident-report"],
        ["server"],
        ["deploy"],
        ["config", "show"],
        ["data", "verify"],
    ],
)
def test_every_command_has_help(runner: CliRunner, command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_help_works_even_when_the_named_config_file_is_missing(
    runner: CliRunner, tmp_path: Path
) -> None:
    result = runner.invoke(app, ["--config", str(tmp_path / "missing.toml"), "replay", "--help"])
    assert result.exit_code == 0


@pytest.mark.parametrize(
    ("name", "symbol"),
    [
        ("btc-perp_ftx_1m.csv.gz", "BTC-PERP"),
        ("eth-usd_coinbase_1m.csv.gz", "ETH-USD"),
        ("spx-index_1m.csv.gz", "SPX-INDEX"),
        ("plain.csv.gz", "PLAIN"),
    ],
)
def test_symbol_defaults_to_file_name_before_first_underscore(name: str, symbol: str) -> None:
    assert default_symbol(Path("/data") / name) == symbol


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90.0), ("10m", 600.0), ("2h", 7200.0), ("1d", 86400.0)]
)
def test_durations_parse_to_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text, "--older-than") == seconds


# ---------------------------------------------------------------- usage errors (exit 2)


def _assert_usage_error(result: object, *needles: str) -> None:
    exit_code = getattr(result, "exit_code", None)
    stderr = getattr(result, "stderr", "")
    assert exit_code == 2, getattr(result, "output", "")
    assert stderr.startswith("error: "), stderr
    assert "Traceback" not in stderr
    for needle in needles:
        assert needle in stderr, stderr


def test_naive_start_time_is_a_usage_error_naming_the_option(
    runner: CliRunner, tmp_path: Path
) -> None:
    result = runner.invoke(
        app, [*_state(tmp_path), "replay", "--data", str(FTX), "--start", "2022-01-21T00:00:00"]
    )
    _assert_usage_error(result, "--start", "time zone")


def test_malformed_end_time_is_a_usage_error_naming_the_option(
    runner: CliRunner, tmp_path: Path
) -> None:
    result = runner.invoke(app, [*_state(tmp_path), "replay", "--data", str(FTX), "--end", "soon"])
    _assert_usage_error(result, "--end", "soon")


def test_end_before_start_is_a_usage_error(runner: CliRunner, tmp_path: Path) -> None:
    args = ["--start", "2022-01-21T10:00:00Z", "--end", "2022-01-21T09:00:00Z"]
    result = runner.invoke(app, [*_state(tmp_path), "replay", "--data", str(FTX), *args])
    _assert_usage_error(result, "--end", "--start")


def test_missing_data_file_is_an_error_naming_the_file(runner: CliRunner, tmp_path: Path) -> None:
    missing = tmp_path / "eth-usd_nowhere_1m.csv.gz"
    result = runner.invoke(app, [*_state(tmp_path), "replay", "--data", f"{missing}:ETH-USD"])
    _assert_usage_error(result, str(missing))
    assert not (tmp_path / "state").exists()


def test_missing_fault_plan_is_an_error_naming_the_file(runner: CliRunner, tmp_path: Path) -> None:
    plan = tmp_path / "no-plan.toml"
    result = runner.invoke(
        app, [*_state(tmp_path), "replay", "--data", str(FTX), "--faults", str(plan)]
    )
    _assert_usage_error(result, "--faults", str(plan))


def test_nonexistent_config_file_is_an_error_naming_it(runner: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "absent.toml"
    result = runner.invoke(app, ["--config", str(config), "config", "show"])
    _assert_usage_error(result, str(config), "does not exist")


def test_invalid_setting_in_config_is_an_error_naming_the_dotted_field(
    runner: CliRunner, tmp_path: Path
) -> None:
    config = tmp_path / "tg.toml"
    config.write_text("[risk]\nmax_daily_trades = -1\n", encoding="utf-8")
    result = runner.invoke(app, ["--config", str(config), "config", "show"])
    _assert_usage_error(result, "risk.max_daily_trades", str(config))


def test_bad_duration_is_a_usage_error_naming_the_option(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    result = runner.invoke(app, [*_state(tmp_path), "clean-state", "--older-than", "ten minutes"])
    _assert_usage_error(result, "--older-than")


@pytest.mark.parametrize(
    "command",
    [
        ["status"],
        ["halt", "--reason", "maintenance"],
        ["resume"],
        ["reset-daily"],
        ["clean-state", "--dry-run"],
        ["state", "backup"],
        ["state", "archive"],
        ["reconcile"],
        ["incident-report"],
    ],
)
def test_commands_on_a_missing_state_directory_refuse_to_run(
    runner: CliRunner, tmp_path: Path, command: list[str]
) -> None:
    result = runner.invoke(app, [*_state(tmp_path), *command])
    _assert_usage_error(result, str(tmp_path / "state"), "does not exist")
    assert not (tmp_path / "state").exists()


def test_config_show_masks_alert_urls(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TRADEGUARD_ALERTS__URLS", '["tgram://bot-token-XYZ/99"]')
    result = runner.invoke(app, [*_state(tmp_path), "config", "show", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["alerts"]["urls"] == ["tgram://**********"]
    assert shown["store"]["state_dir"] == str(tmp_path / "state")
    assert "bot-token-XYZ" not in result.output


def test_data_verify_accepts_the_shared_data(runner: CliRunner) -> None:
    result = runner.invoke(app, ["data", "verify", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["problems"] == []


# ---------------------------------------------------------------- real sessions (services)


def _replay_json(runner: CliRunner, state: Path, *extra: str) -> dict[str, object]:
    result = runner.invoke(
        app,
        ["--state-dir", str(state), "replay", "--data", f"{FTX}", *WINDOW, "--json", *extra],
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one JSON object, got: {result.stdout!r}"
    parsed: dict[str, object] = json.loads(lines[0])
    return parsed


def test_replay_json_is_one_deterministic_object_on_real_data(
    runner: CliRunner, tmp_path: Path
) -> None:
    first = _replay_json(runner, tmp_path / "a")
    second = _replay_json(runner, tmp_path / "b")
    assert first == second
    assert first["bars"] == 180  # 19:00..21:59, the FTX file has no gaps
    assert "final_state" in first


def test_replay_human_summary_reports_counts_and_final_state(
    runner: CliRunner, tmp_path: Path
) -> None:
    result = runner.invoke(app, [*_state(tmp_path), "replay", "--data", f"{FTX}:BTC-PERP", *WINDOW])
    assert result.exit_code == 0, result.output
    for label in ("bars:", "signals:", "orders:", "trades executed:", "pnl:", "final state:"):
        assert label in result.stdout
    assert (tmp_path / "state").is_dir()


def test_halt_then_status_shows_the_manual_halt(runner: CliRunner, tmp_path: Path) -> None:
    _replay_json(runner, tmp_path / "state")
    halted = runner.invoke(
        app, [*_state(tmp_path), "halt", "--reason", "maintenance window", "--who", "alice"]
    )
    assert halted.exit_code == 0, halted.output
    assert "halt" in halted.stdout
    status = runner.invoke(app, [*_state(tmp_path), "status", "--json"])
    assert status.exit_code == 0, status.output
    assert "HALT" in status.stdout.upper()


def test_malformed_fault_plan_is_an_error_naming_file_entry_and_field(
    runner: CliRunner, tmp_path: Path
) -> None:
    plan = tmp_path / "plan.toml"
    plan.write_text(
        '[[fault]]\nstart = "2022-01-21T19:30:00Z"\nend = "2022-01-21T20:00:00Z"\n'
        "reject_rate = 1.5\n",
        encoding="utf-8",
    )
    args = ["replay", "--data", str(FTX), *WINDOW, "--faults", str(plan)]
    result = runner.invoke(app, [*_state(tmp_path), *args])
    _assert_usage_error(result, str(plan), "fault[1]", "reject_rate")


def test_broker_outage_moves_the_breaker_and_replay_still_exits_zero(
    runner: CliRunner, tmp_path: Path
) -> None:
    plan = tmp_path / "outage.toml"
    plan.write_text(
        '[[fault]]\nstart = "2022-01-21T19:00:00Z"\nend = "2022-01-21T22:00:00Z"\noutage = true\n',
        encoding="utf-8",
    )
    summary = _replay_json(runner, tmp_path / "state", "--faults", str(plan))
    transitions = summary["transitions"]
    assert isinstance(transitions, list) and transitions, summary
    human = runner.invoke(
        app,
        [*_state(tmp_path / "h"), "replay", "--data", str(FTX), *WINDOW, "--faults", str(plan)],
    )
    assert human.exit_code == 0, human.output
    assert "breaker transitions:" in human.stdout
    assert "trigger=" in human.stdout


def test_rejected_orders_escalate_the_breaker_and_replay_exits_zero(
    runner: CliRunner, tmp_path: Path
) -> None:
    plan = tmp_path / "rejects.toml"
    plan.write_text(
        '[[fault]]\nstart = "2022-01-21T19:00:00Z"\nend = "2022-01-21T22:00:00Z"\n'
        "reject_rate = 1.0\n",
        encoding="utf-8",
    )
    summary = _replay_json(runner, tmp_path / "state", "--faults", str(plan))
    assert summary["orders_filled"] == 0
    assert summary["trades_executed"] == 0  # failed orders are not trades (seed 000)
    transitions = summary["transitions"]
    assert isinstance(transitions, list)
    triggers = {t["trigger"] for t in transitions if isinstance(t, dict)}
    assert "consecutive_failures" in triggers, transitions


def test_backup_then_restore_round_trips_through_the_cli(runner: CliRunner, tmp_path: Path) -> None:
    _replay_json(runner, tmp_path / "state")
    backup = runner.invoke(app, [*_state(tmp_path), "state", "backup"])
    assert backup.exit_code == 0, backup.output
    backup_path = Path(backup.stdout.strip())
    assert backup_path.is_file()
    restored = runner.invoke(
        app, [*_state(tmp_path), "state", "restore", "--from", str(backup_path)]
    )
    assert restored.exit_code == 0, restored.output
    assert str(backup_path) in restored.stdout


def test_state_archive_moves_the_journal_to_history_and_keeps_every_row_visible(
    runner: CliRunner, tmp_path: Path
) -> None:
    _replay_json(runner, tmp_path / "state")
    store = tmp_path / "state" / "state.db"

    def hot_trades() -> int:
        with closing(sqlite3.connect(store)) as db:
            return int(db.execute("SELECT COUNT(*) FROM trades").fetchone()[0])

    with SqliteStore(store, session=False) as reader:
        trades = reader.trade_count()
    assert trades > 1 and hot_trades() == trades

    moved = runner.invoke(app, [*_state(tmp_path), "state", "archive", "--json"])
    assert moved.exit_code == 0, moved.output
    summary = json.loads(moved.stdout)
    assert summary["epoch"] == 1 and summary["moved"]["trades"] == trades
    assert hot_trades() <= 1  # the highest archived row stays as the id sentinel
    with SqliteStore(store, session=False) as reader:
        assert reader.trade_count() == trades  # reads span both files
        assert reader.integrity_check() == "ok"

    again = runner.invoke(app, [*_state(tmp_path), "state", "archive"])
    assert again.exit_code == 0, again.output
    assert again.stdout.startswith("nothing to archive")
    assert runner.invoke(app, [*_state(tmp_path), "status"]).exit_code == 0


def test_state_archive_refuses_while_a_session_holds_the_state_directory(
    runner: CliRunner, tmp_path: Path
) -> None:
    _replay_json(runner, tmp_path / "state")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys\nfrom tradeguard.store.lock import StateDirLock\n"
         "with StateDirLock(sys.argv[1]):\n    print('locked', flush=True)\n"
         "    sys.stdin.readline()\n", str(tmp_path / "state")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        result = runner.invoke(app, [*_state(tmp_path), "state", "archive"])
    finally:
        holder.communicate("\n", timeout=30)
    _assert_usage_error(result, "is in use by", "stop that session")
    archived = runner.invoke(app, [*_state(tmp_path), "state", "archive", "--json"])
    assert json.loads(archived.stdout)["epoch"] == 1  # nothing was moved while it was held


def test_restore_from_a_missing_backup_names_the_file(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    missing = tmp_path / "nope.sqlite"
    result = runner.invoke(app, [*_state(tmp_path), "state", "restore", "--from", str(missing)])
    _assert_usage_error(result, "--from", str(missing))


def test_clean_state_dry_run_removes_nothing(runner: CliRunner, tmp_path: Path) -> None:
    _replay_json(runner, tmp_path / "state")
    before = sorted(p.name for p in (tmp_path / "state").rglob("*"))
    result = runner.invoke(app, [*_state(tmp_path), "clean-state", "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["dry_run"] is True
    assert sorted(p.name for p in (tmp_path / "state").rglob("*")) == before


def test_log_lines_after_a_cli_run_are_utc_one_liners_on_the_current_stderr(
    runner: CliRunner, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import logging
    import re

    result = runner.invoke(app, [*_state(tmp_path), "--log-level", "INFO", "config", "show"])
    assert result.exit_code == 0, result.output
    logging.getLogger("tradeguard.probe").warning("probe_event key=%s", 1)
    err = capsys.readouterr().err
    assert "Logging error" not in err  # the runner's closed stream must not be reused
    pattern = (
        r"(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARNING tradeguard\.probe probe_event key=1$"
    )
    assert re.search(pattern, err), err


def test_halt_on_a_stopped_replay_is_audited_at_wall_clock_time(
    runner: CliRunner, tmp_path: Path
) -> None:
    from datetime import UTC, datetime, timedelta

    from tradeguard.workspace import SqliteWorkspace

    _replay_json(runner, tmp_path / "state")  # the session stops at 2022-01-21T22:00Z
    before = datetime.now(UTC)
    halted = runner.invoke(app, [*_state(tmp_path), "halt", "--reason", "drill", "--who", "al"])
    assert halted.exit_code == 0, halted.output
    after = datetime.now(UTC)
    journal = SqliteWorkspace(tmp_path / "state").open_journal()
    try:
        actions = journal.operator_actions_between(
            datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC)
        )
    finally:
        journal.close()
    stamps = [a.at for a in actions if a.who == "al"]
    assert stamps, "the halt left no audit record"
    # Stored at millisecond precision: allow the truncation below `before`.
    assert all(before - timedelta(seconds=1) <= at <= after for at in stamps), stamps


@pytest.mark.parametrize("point", ["archive_history_committed", "archive_hot_committed"])
def test_a_state_archive_killed_mid_move_is_finished_by_the_next_open(
    runner: CliRunner, tmp_path: Path, point: str
) -> None:
    _replay_json(runner, tmp_path / "state")
    with SqliteStore(tmp_path / "state", session=False) as reader:
        trades = reader.trade_count()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEGUARD_")}
    dying = subprocess.run(
        [sys.executable, "-m", "tradeguard", *_state(tmp_path), "state", "archive"],
        env={**env, "TRADEGUARD_FAILPOINT": f"{point}:1",
             "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert dying.returncode == -9, dying.stderr
    again = runner.invoke(app, [*_state(tmp_path), "state", "archive"])
    assert again.exit_code == 0, again.output
    with SqliteStore(tmp_path / "state", session=False) as reader:
        assert reader.trade_count() == trades  # every row once: none lost, none twice
        assert reader.integrity_check() == "ok"
