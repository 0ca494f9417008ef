"""kill -9 between the paper venue's fill commit and the journal's: the restart converges.

The venue books a bar's fills (its own SQLite file) before the engine sees them; a process
killed right then leaves the book ahead of the journal. The restarted replay must take those
fills from the venue (venue sync, issue 8) and end exactly where an uninterrupted run ends.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from tradeguard.scenarios.drill import BOOK_FILE, differences, outcome

REPO = Path(__file__).resolve().parents[2]
WINDOW = ("--start", "2022-01-21T00:00:00Z", "--end", "2022-01-21T12:00:00Z")


def _replay(data: Path, state: Path, failpoint: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEGUARD_")}
    env["PYTHONPATH"] = str(REPO)
    if failpoint:
        env["TRADEGUARD_FAILPOINT"] = failpoint
    command = [
        sys.executable, "-m", "tradeguard", "--state-dir", str(state), "replay",
        "--data", str(data), *WINDOW, "--seed", "3", "--json",
    ]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def _fill_ids(path: Path, table: str) -> set[str]:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        return {row[0] for row in db.execute(f"SELECT fill_id FROM {table}")}


@pytest.mark.parametrize("nth", [1, 3])
def test_a_kill_after_the_venue_booked_a_fill_converges_to_the_uninterrupted_run(
    tmp_path: Path, data_dir: Path, nth: int
) -> None:
    data = data_dir / "btc-perp_ftx_1m.csv.gz"
    state = tmp_path / "state"

    killed = _replay(data, state, f"venue_fill:{nth}")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    booked = _fill_ids(state / BOOK_FILE, "fills")
    journaled = _fill_ids(state / "state.db", "trades")
    # The kill landed in the window: the venue's book holds fills the journal never saw.
    assert len(booked) == nth
    assert booked - journaled

    finished = _replay(data, state, None)
    assert finished.returncode == 0, finished.stderr[-2000:]
    reference = tmp_path / "reference"
    clean = _replay(data, reference, None)
    assert clean.returncode == 0, clean.stderr[-2000:]

    final = outcome(state)
    assert differences(final, outcome(reference)) == ()
    assert booked <= set(final["fills"])  # the venue's early fills are journaled once
