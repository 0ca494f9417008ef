"""A state directory copied (or renamed) with its analytics file is counted once, under its name.

The analytics file inside the directory kept the journal's rows under the directory's former
name, and the refresh copied them again under the new one: two bots from one journal, every
fill and P&L twice (and, combined with another bot, the doubled rows under one label).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from entrypoints.cli import app
from tests.integration.cli_env import FTX

WINDOW = ["--start", "2022-01-21T00:00:00Z", "--end", "2022-01-21T06:00:00Z"]


pytestmark = pytest.mark.usefixtures("fresh_cli_env")


def _performance(runner: CliRunner, state: Path) -> list[dict[str, object]]:
    done = runner.invoke(app, ["--state-dir", str(state), "analytics", "performance",
                               "--format", "json"])
    assert done.exit_code == 0, done.output
    rows: list[dict[str, object]] = json.loads(done.stdout)
    return rows


@pytest.mark.parametrize("how", ["copy", "rename"])
def test_a_copied_or_renamed_state_directory_is_one_bot(tmp_path: Path, how: str) -> None:
    runner = CliRunner()
    first = tmp_path / "first"
    done = runner.invoke(app, ["--state-dir", str(first), "replay", "--data", str(FTX),
                               *WINDOW, "--json"])
    assert done.exit_code == 0, done.output
    before = _performance(runner, first)  # builds first/analytics.duckdb
    assert [row["bot"] for row in before] == ["first"]
    moved = tmp_path / "second"
    if how == "copy":
        shutil.copytree(first, moved)
    else:
        first.rename(moved)

    after = _performance(runner, moved)

    assert [row["bot"] for row in after] == ["second"]
    assert {k: v for k, v in after[0].items() if k != "bot"} == {
        k: v for k, v in before[0].items() if k != "bot"}
