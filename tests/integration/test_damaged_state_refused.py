"""Hand-edited state files: the engine refuses to trade on them (exit 2, no traceback).

Each case copies the files a real replay left, damages one value the way an editor (or a bad
disk) would, and resumes the replay in a subprocess. The engine must stop before it sends an
order: exit 2, an `error:` line naming the way out, and the paper venue's book unchanged.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import pytest

from tests.integration.cli_env import run_cli

FIRST = ("--start", "2022-01-21T00:00:00Z", "--end", "2022-01-21T12:00:00Z")
RESUMED = ("--start", "2022-01-21T00:00:00Z", "--end", "2022-01-21T18:00:00Z")
BOOK = "paper_broker.sqlite"


def _replay(state: Path, data: Path, window: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    return run_cli(state, "replay", "--data", str(data), *window, "--seed", "3", "--json")


@pytest.fixture(scope="module")
def traded(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """Return a state directory after a clean replay with fills (breaker samples, a position)."""
    state = tmp_path_factory.mktemp("traded") / "state"
    done = _replay(state, data_dir / "btc-perp_ftx_1m.csv.gz", FIRST)
    assert done.returncode == 0, done.stderr[-2000:]
    return state


def _edit(path: Path, sql: str) -> None:
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        assert db.execute(sql).rowcount == 1


def _book_orders(state: Path) -> int:
    with closing(sqlite3.connect(f"file:{state / BOOK}?mode=ro", uri=True)) as db:
        return int(db.execute("SELECT COUNT(*) FROM orders").fetchone()[0])


def _assert_refused(done: subprocess.CompletedProcess[str], remedy: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), last
    assert remedy in last, last


STORE_DAMAGE = {
    "sample value as text": "UPDATE breaker_samples SET value = 'abc' WHERE id = 4",
    "sample value as a blob": "UPDATE breaker_samples SET value = x'00' WHERE id = 4",
    "sample seq as text": "UPDATE breaker_samples SET seq = 'abc' WHERE id = 4",
    "sample seq not whole": "UPDATE breaker_samples SET seq = 1.5 WHERE id = 4",
    # The newest latency sample twice, the copy lower: it won by row order.
    "a sample duplicated with another value": (
        "INSERT INTO breaker_samples (id, seq, value) "
        "SELECT 9998, seq, value / 2 FROM breaker_samples WHERE id % 2 = 0 "
        "ORDER BY seq DESC LIMIT 1"
    ),
    # Past SQLite's INTEGER: every commit with a sample failed after the order was sent.
    "sample_seq beyond int64": (
        "UPDATE key_state SET value = json_set(value, '$.sample_seq.latency', "
        "9223372036854775807) WHERE key = 'breaker'"
    ),
}


@pytest.mark.parametrize("sql", STORE_DAMAGE.values(), ids=STORE_DAMAGE.keys())
def test_a_damaged_breaker_sample_stops_the_replay_before_any_order(
    traded: Path, tmp_path: Path, data_dir: Path, sql: str
) -> None:
    state = tmp_path / "state"
    shutil.copytree(traded, state)
    _edit(state / "state.db", sql)
    before = _book_orders(state)

    done = _replay(state, data_dir / "btc-perp_ftx_1m.csv.gz", RESUMED)

    _assert_refused(done, "tradeguard state restore")
    assert _book_orders(state) == before


BOOK_DAMAGE = {
    "cash as text": "UPDATE account SET cash = 'abc'",
    # float('nan') of the text: the venue traded on a NaN balance.
    "cash as the text nan": "UPDATE account SET cash = 'nan'",
    "position as the text nan": "UPDATE positions SET quantity = 'nan'",
    "position infinite": "UPDATE positions SET quantity = 1e999",
}


@pytest.mark.parametrize("sql", BOOK_DAMAGE.values(), ids=BOOK_DAMAGE.keys())
def test_a_paper_book_balance_that_is_no_number_stops_the_replay(
    traded: Path, tmp_path: Path, data_dir: Path, sql: str
) -> None:
    state = tmp_path / "state"
    shutil.copytree(traded, state)
    _edit(state / BOOK, sql)
    before = _book_orders(state)

    done = _replay(state, data_dir / "btc-perp_ftx_1m.csv.gz", RESUMED)

    _assert_refused(done, "paper book")
    assert _book_orders(state) == before


SECTION_DAMAGE = {
    "clock.now not a time": "json_set(value, '$.now', 'garbage') WHERE key = 'clock'",
    "clock.now without offset": (
        "json_set(value, '$.now', '2022-01-21T12:00:00') WHERE key = 'clock'"
    ),
    "breaker.entered_at a number": "json_set(value, '$.entered_at', 5) WHERE key = 'breaker'",
}


@pytest.mark.parametrize("edit", SECTION_DAMAGE.values(), ids=SECTION_DAMAGE.keys())
def test_status_of_an_edited_section_is_an_error_not_a_traceback(
    traded: Path, tmp_path: Path, edit: str
) -> None:
    state = tmp_path / "state"
    shutil.copytree(traded, state)
    _edit(state / "state.db", f"UPDATE key_state SET value = {edit}")

    _assert_refused(run_cli(state, "status"), "tradeguard state restore")
    assert run_cli(traded, "status").returncode == 0


def _lose_book(state: Path, how: str) -> None:
    (state / BOOK).unlink()
    if how == "a directory in its place":
        (state / BOOK).mkdir()
    elif how == "recreated empty by an operator command":
        assert run_cli(state, "halt", "--reason", "book lost").returncode == 0


@pytest.mark.parametrize(
    "how", ["deleted", "a directory in its place", "recreated empty by an operator command"]
)
def test_a_lost_paper_book_is_refused_not_started_as_a_new_account(
    traded: Path, tmp_path: Path, data_dir: Path, how: str
) -> None:
    # The journal holds a position bought on this book: a fresh book (new cash, no position)
    # would cancel the reduce-only exits as "no position to reduce" and trade on a fiction.
    state = tmp_path / "state"
    shutil.copytree(traded, state)
    _lose_book(state, how)

    done = _replay(state, data_dir / "btc-perp_ftx_1m.csv.gz", RESUMED)

    _assert_refused(done, "put the venue's book back")
    assert not (state / BOOK).is_file() or _book_orders(state) == 0


@pytest.mark.parametrize("command", ["replay", "status", "backup"])
def test_a_state_store_that_is_a_directory_is_refused_not_nested(
    traded: Path, tmp_path: Path, data_dir: Path, command: str
) -> None:
    # A directory in the store's place was taken for a state directory: a new, empty store
    # was created inside it and the session traded with no memory of its past.
    state = tmp_path / "state"
    shutil.copytree(traded, state)
    (state / "state.db").unlink()
    (state / "state.db").mkdir()
    orders = _book_orders(state)

    if command == "replay":
        done = _replay(state, data_dir / "btc-perp_ftx_1m.csv.gz", RESUMED)
    elif command == "backup":
        done = run_cli(state, "state", "backup")
    else:
        done = run_cli(state, "status")

    _assert_refused(done, "is a directory, not a SQLite file")
    assert list((state / "state.db").iterdir()) == []
    assert _book_orders(state) == orders


def test_restore_sets_a_directory_in_the_stores_place_aside_and_restores_the_backup(
    traded: Path, tmp_path: Path
) -> None:
    # The remedy the refusal names: the backup goes in state.db's place, the directory is
    # kept beside it (never nested into, never deleted).
    state = tmp_path / "state"
    shutil.copytree(traded, state)
    assert run_cli(state, "state", "backup").returncode == 0
    (state / "state.db").unlink()
    (state / "state.db").mkdir()
    (state / "state.db" / "note.txt").write_text("operator's\n")

    restored = run_cli(state, "state", "restore")
    assert restored.returncode == 0, restored.stderr
    assert (state / "state.db").is_file()
    (aside,) = state.glob("state.db.corrupt-*")
    assert (aside / "note.txt").read_text() == "operator's\n"
    assert run_cli(state, "status").returncode == 0


@pytest.mark.parametrize("command", ["replay", "status", "validate"])
def test_a_state_dir_that_is_a_file_is_named_as_such(
    tmp_path: Path, data_dir: Path, command: str
) -> None:
    state = tmp_path / "state"
    state.write_text("not a directory\n")
    if command == "replay":
        done = _replay(state, data_dir / "btc-usd_coinbase_1m.csv.gz",
                       ("--start", "2016-10-07T00:00:00Z", "--end", "2016-10-07T01:00:00Z"))
    elif command == "status":
        done = run_cli(state, "status")
    else:
        done = run_cli(state, "validate", "--scenario", "calm-control")

    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "not a directory" in last, last
    assert state.read_text() == "not a directory\n"
