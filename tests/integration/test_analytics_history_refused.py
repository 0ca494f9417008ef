"""analytics names a history.db that is not a database file, as every journal reader does.

It attached the file through SQLite and reported the attach's error ("IO: Failed to step
query: unable to open database"), which names neither the file's fault nor the way out.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from entrypoints.cli import app
from tests.integration.cli_env import FTX

WINDOW = ["--start", "2022-01-21T00:00:00Z", "--end", "2022-01-21T06:00:00Z"]


pytestmark = pytest.mark.usefixtures("fresh_cli_env")


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [("directory", "is not a regular file"), ("empty", "the file is empty"),
     ("garbage", "does not start with a SQLite header")],
)
def test_analytics_names_a_history_file_that_is_not_a_database(
    tmp_path: Path, damage: str, fragment: str
) -> None:
    runner = CliRunner()
    state = tmp_path / "state"
    for args in (["replay", "--data", str(FTX), *WINDOW, "--json"], ["state", "archive"]):
        done = runner.invoke(app, ["--state-dir", str(state), *args])
        assert done.exit_code == 0, done.output
    history = state / "history.db"
    for side in (history, Path(f"{history}-wal"), Path(f"{history}-shm")):
        side.unlink(missing_ok=True)
    if damage == "directory":
        history.mkdir()
    else:
        history.write_bytes(b"" if damage == "empty" else b"not sqlite at all" * 20)

    done = runner.invoke(app, ["--state-dir", str(state), "analytics"])

    assert done.exit_code == 2, done.output
    assert "Traceback" not in done.output
    assert f"error: history file {history}" in done.output, done.output
    assert fragment in done.output, done.output
