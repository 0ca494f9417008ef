"""analytics --combine: a directory name with an apostrophe, and one directory given twice.

The combined file was built with the path and the bot label pasted into DuckDB SQL between
quotes ("bob's bot" ended the literal: exit 2, Parser Error). One state directory given twice
(two spellings) was combined as two bots: its fills and P&L counted twice.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from entrypoints.cli import app
from tests.integration.cli_env import FTX

WINDOW = ["--start", "2022-01-21T00:00:00Z", "--end", "2022-01-21T06:00:00Z"]


pytestmark = pytest.mark.usefixtures("fresh_cli_env")


def _traded(runner: CliRunner, state: Path) -> None:
    done = runner.invoke(app, ["--state-dir", str(state), "replay", "--data", str(FTX),
                               *WINDOW, "--json"])
    assert done.exit_code == 0, done.output


def test_a_directory_name_with_an_apostrophe_combines(tmp_path: Path) -> None:
    runner = CliRunner()
    bob, alice = tmp_path / "bob's bot", tmp_path / "alice"
    _traded(runner, bob)
    _traded(runner, alice)

    done = runner.invoke(app, ["--state-dir", str(bob), "analytics", "performance",
                               "--format", "json", "--combine", str(bob), "--combine", str(alice)])

    assert done.exit_code == 0, done.output
    rows = json.loads(done.output)
    assert sorted(row["bot"] for row in rows) == ["alice", "bob's bot"]
    assert all(row["fills"] > 0 for row in rows)


def test_one_directory_given_twice_is_refused(tmp_path: Path) -> None:
    runner = CliRunner()
    state = tmp_path / "bot"
    _traded(runner, state)

    done = runner.invoke(app, ["--state-dir", str(state), "analytics", "performance",
                               "--combine", str(state), "--combine", f"{state}/../bot/"])

    assert done.exit_code == 2, done.output
    assert f"error: --combine: {state}/../bot is the same state directory as {state}" in (
        done.output), done.output
