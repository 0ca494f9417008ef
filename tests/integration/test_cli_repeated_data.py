"""A bar file given twice under one symbol is a usage error, not a day of data-feed issues.

Read twice, every bar of the second copy was skipped as a duplicate timestamp and reported
to the breaker as a data-feed issue (THROTTLE within minutes) on data that is sound.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from entrypoints.cli import app
from tests.integration.cli_env import FTX

WINDOW = ["--start", "2022-01-21T00:00:00Z", "--end", "2022-01-21T01:00:00Z"]


pytestmark = pytest.mark.usefixtures("fresh_cli_env")


@pytest.mark.parametrize(
    "second", [str(FTX), FTX.name, f"{FTX}:btc-perp", f"{FTX.parent}/../data/{FTX.name}"]
)
def test_the_same_file_and_symbol_twice_is_refused_before_the_state_is_touched(
    tmp_path: Path, second: str
) -> None:
    state = tmp_path / "state"
    done = CliRunner().invoke(
        app, ["--state-dir", str(state), "replay", "--data", str(FTX), "--data", second,
              *WINDOW, "--json"],
    )
    assert done.exit_code == 2, done.output
    assert "Traceback" not in done.output
    assert f"error: --data: {second} names the same file and symbol (BTC-PERP)" in done.output
    assert not state.exists()


def test_the_same_file_under_two_symbols_is_two_markets(tmp_path: Path) -> None:
    done = CliRunner().invoke(
        app, ["--state-dir", str(tmp_path / "state"), "replay", "--data", str(FTX),
              "--data", f"{FTX}:ALT", *WINDOW, "--json"],
    )
    assert done.exit_code == 0, done.output
