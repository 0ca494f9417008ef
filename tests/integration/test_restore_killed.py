"""A `state restore` killed after it set the current files aside, before the copies are in place.

The directory then holds no state.db. Opening on would start a fresh store in its place (the
breaker state, the day's counters and the journal gone, a HALT awaiting the operator
forgotten) and trade. Every command refuses instead (exit 2, naming the restore to run again);
a completed restore clears it, and the session resumes with the venue's orders taken over
once each.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

from tests.integration.cli_env import run_cli

BOOK = "paper_broker.sqlite"


def _replay(state: Path, data: Path, end: str) -> subprocess.CompletedProcess[str]:
    return run_cli(state, "replay", "--data", str(data), "--start", "2022-01-21T00:00:00Z",
                "--end", end, "--json")


def _book(state: Path) -> tuple[int, int]:
    with closing(sqlite3.connect(f"file:{state / BOOK}?mode=ro", uri=True)) as db:
        total, distinct = db.execute(
            "SELECT COUNT(*), COUNT(DISTINCT client_order_id) FROM orders").fetchone()
    return int(total), int(distinct)


def _refused(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr
    return done.stderr.strip().splitlines()[-1]


def test_a_restore_killed_mid_way_is_refused_until_a_restore_completes(
    tmp_path: Path, data_dir: Path
) -> None:
    data = data_dir / "btc-perp_ftx_1m.csv.gz"
    state = tmp_path / "state"
    assert _replay(state, data, "2022-01-21T06:00:00Z").returncode == 0
    backed = run_cli(state, "state", "backup")
    assert backed.returncode == 0, backed.stderr[-2000:]
    assert _replay(state, data, "2022-01-21T12:00:00Z").returncode == 0
    orders_before = _book(state)
    assert orders_before[0] > 0

    dying = run_cli(state, "state", "restore", failpoint="restore_set_aside:1")

    assert dying.returncode == -9, dying.stderr[-2000:]
    assert not (state / "state.db").exists()  # the window the marker guards
    for command in (("replay", "--data", str(data), "--end", "2022-01-21T18:00:00Z"),
                    ("status",), ("halt", "--reason", "drill"), ("state", "archive")):
        last = _refused(run_cli(state, *command))
        assert last.startswith("error: a state restore into"), last
        assert "state restore --from" in last and "again" in last, last
    assert not (state / "state.db").exists()  # no fresh store started in its place
    assert _book(state) == orders_before  # nothing reached the venue

    again = run_cli(state, "state", "restore")
    assert again.returncode == 0, again.stderr[-2000:]
    assert not (state / "state.db.restoring").exists()
    resumed = _replay(state, data, "2022-01-21T18:00:00Z")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    summary = json.loads(resumed.stdout)
    assert summary["orders_adopted"] > 0  # the orders after the backup, taken over from the venue
    total, distinct = _book(state)
    assert total == distinct and total >= orders_before[0]  # no order sent twice
