"""A paper book that is not the one the journal traded on is refused before anything is sent.

The paper venue commits a fill to its book before the journal sees it, so the book holds every
journaled fill. A book copied from another state directory, or given another book's -wal
(applied by SQLite as if it were its own), lacks them: trading on it sent orders against cash
and positions the journal never had (reduce-only orders failing with nothing to reduce, the
breaker counting the failures). The resumed replay must exit 2 naming the book, with the
book and the journal unchanged; the directory's own book (journal archived or not) resumes.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import pytest

from tests.integration.cli_env import run_cli

BOOK = "paper_broker.sqlite"
DAY = ("--start", "2022-01-21T00:00:00Z", "--end", "2022-01-22T00:00:00Z")
OTHER_DAY = ("--start", "2022-01-10T00:00:00Z", "--end", "2022-01-11T00:00:00Z")


def _killed_run(state: Path, data: Path, window: tuple[str, ...], nth: int) -> None:
    done = run_cli(state, "replay", "--data", str(data), *window, failpoint=f"after_commit:{nth}")
    assert done.returncode == -9, done.stderr[-2000:]


def _count(path: Path, table: str) -> int:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


@pytest.fixture(scope="module")
def killed(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> tuple[Path, Path]:
    """Return two state directories of different runs, each killed with WAL frames left."""
    root = tmp_path_factory.mktemp("books")
    data = data_dir / "btc-perp_ftx_1m.csv.gz"
    _killed_run(root / "own", data, DAY, 40)
    _killed_run(root / "other", data, OTHER_DAY, 30)
    for state in (root / "own", root / "other"):
        assert Path(f"{state / BOOK}-wal").stat().st_size > 0
        (state / ".lock").unlink(missing_ok=True)
    return root / "own", root / "other"


def _resume(state: Path, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(state, "replay", "--data", str(data_dir / "btc-perp_ftx_1m.csv.gz"), *DAY)


@pytest.mark.parametrize("swap", ["book", "wal"])
def test_a_book_not_the_journals_is_refused(
    killed: tuple[Path, Path], tmp_path: Path, data_dir: Path, swap: str
) -> None:
    own, other = killed
    state = tmp_path / "state"
    shutil.copytree(own, state)
    if swap == "book":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{state / BOOK}{suffix}").unlink(missing_ok=True)
            if Path(f"{other / BOOK}{suffix}").exists():
                shutil.copy2(f"{other / BOOK}{suffix}", f"{state / BOOK}{suffix}")
    else:  # the other book's WAL beside this book: SQLite applies its frames at open
        shutil.copy2(f"{other / BOOK}-wal", f"{state / BOOK}-wal")
        Path(f"{state / BOOK}-shm").unlink(missing_ok=True)

    done = _resume(state, data_dir)

    assert done.returncode == 2, (done.returncode, done.stderr[-3000:])
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: paper book {state / BOOK} lacks the journal's newest"), last
    assert "not the book this journal traded on" in last, last
    with closing(sqlite3.connect(f"file:{state / BOOK}?mode=ro", uri=True)) as db:
        assert db.execute("SELECT COUNT(*) FROM orders WHERE placed_at >= '2022-01-21'"
                          ).fetchone()[0] == 0  # nothing of this day reached that book
    assert _count(state / "state.db", "trades") == _count(own / "state.db", "trades")


@pytest.mark.parametrize("archived", [False, True])
def test_the_directorys_own_book_resumes(
    killed: tuple[Path, Path], tmp_path: Path, data_dir: Path, archived: bool
) -> None:
    state = tmp_path / "state"
    shutil.copytree(killed[0], state)
    if archived:  # the journal's fills (all but an open order's) read from history.db
        moved = run_cli(state, "state", "archive")
        assert moved.returncode == 0, moved.stderr[-2000:]
        assert _count(state / "history.db", "trades") > _count(state / "state.db", "trades")

    done = _resume(state, data_dir)

    assert done.returncode == 0, done.stderr[-3000:]


def test_reconcile_refuses_a_book_that_is_not_the_journals(
    killed: tuple[Path, Path], tmp_path: Path, data_dir: Path
) -> None:
    own, _ = killed
    later = tmp_path / "later"  # a book whose fills all follow this journal's cursor
    done = run_cli(later, "replay", "--data", str(data_dir / "btc-perp_ftx_1m.csv.gz"),
                "--start", "2022-01-23T00:00:00Z", "--end", "2022-01-23T12:00:00Z")
    assert done.returncode == 0, done.stderr[-2000:]
    assert _count(later / BOOK, "fills") > 0
    state = tmp_path / "state"
    shutil.copytree(own, state)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{state / BOOK}{suffix}").unlink(missing_ok=True)
    shutil.copy2(later / BOOK, state / BOOK)
    trades = _count(state / "state.db", "trades")

    # It booked the other book's fills into this journal as adopted orders (exit 0).
    refused = run_cli(state, "reconcile")

    assert refused.returncode == 2, (refused.returncode, refused.stderr[-3000:])
    assert "lacks the journal's newest fill" in refused.stderr.strip().splitlines()[-1]
    assert _count(state / "state.db", "trades") == trades
