"""State files linked into another state directory: refused (exit 2), nothing written.

The single-writer lock is the `.lock` of the state directory. A state.db (or paper book)
that is a symbolic link into another directory is guarded by that other directory's lock,
not this one: a session here and a session there would write one journal and one book at
once (duplicate orders). Writers refuse such a link, naming the directory to use instead.
"""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from tests.integration.cli_env import run_cli

FIRST = ("--start", "2022-01-21T00:00:00Z", "--end", "2022-01-21T06:00:00Z")
NEXT = ("--start", "2022-01-21T00:00:00Z", "--end", "2022-01-21T12:00:00Z")
BOOK = "paper_broker.sqlite"


def _book_orders(state: Path) -> int:
    with closing(sqlite3.connect(f"file:{state / BOOK}?mode=ro", uri=True)) as db:
        return int(db.execute("SELECT COUNT(*) FROM orders").fetchone()[0])


def _queued_commands(state: Path) -> int:
    with closing(sqlite3.connect(f"file:{state / 'state.db'}?mode=ro", uri=True)) as db:
        return int(db.execute("SELECT COUNT(*) FROM commands").fetchone()[0])


@pytest.fixture(scope="module")
def traded(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """Return a state directory after a replay that traded."""
    state = tmp_path_factory.mktemp("linked") / "owner"
    done = run_cli(state, "replay", "--data", str(data_dir / "btc-perp_ftx_1m.csv.gz"), *FIRST)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _book_orders(state) > 0
    return state


def _copy(traded: Path, tmp_path: Path) -> Path:
    owner = tmp_path / "owner"
    shutil.copytree(traded, owner)
    (owner / ".lock").unlink(missing_ok=True)
    return owner


@pytest.mark.parametrize("linked", [("state.db", "history.db", BOOK), (BOOK,)])
@pytest.mark.parametrize(
    "command",
    [("replay", "--data", "{data}", *NEXT), ("halt", "--reason", "drill"), ("state", "archive")],
)
def test_state_file_linked_elsewhere_is_refused(
    traded: Path, tmp_path: Path, data_dir: Path, linked: tuple[str, ...],
    command: tuple[str, ...],
) -> None:
    owner = _copy(traded, tmp_path)
    other = tmp_path / "other"
    if linked == (BOOK,):
        shutil.copytree(owner, other, ignore=shutil.ignore_patterns(BOOK, ".lock"))
    else:
        other.mkdir(mode=0o700)
    for name in linked:
        (other / name).symlink_to(owner / name)
    orders = _book_orders(owner)
    commands = _queued_commands(owner)
    store_bytes = (owner / "state.db").read_bytes()
    args = [a.replace("{data}", str(data_dir / "btc-perp_ftx_1m.csv.gz")) for a in command]

    done = run_cli(other, *args)

    if linked == (BOOK,) and command[0] == "state":
        assert done.returncode == 0, done.stderr[-2000:]  # an archive never opens the book
        return
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "is a link to" in last, last
    assert f"--state-dir {owner.resolve()}" in last, last
    assert _book_orders(owner) == orders
    assert _queued_commands(owner) == commands  # no halt left queued for the owner's session
    assert (owner / "state.db").read_bytes() == store_bytes


def test_link_inside_the_state_directory_is_accepted(
    traded: Path, tmp_path: Path, data_dir: Path
) -> None:
    owner = _copy(traded, tmp_path)
    (owner / "book-real.sqlite").unlink(missing_ok=True)
    (owner / BOOK).rename(owner / "book-real.sqlite")
    (owner / BOOK).symlink_to("book-real.sqlite")
    orders = _book_orders(owner)

    done = run_cli(owner, "replay", "--data", str(data_dir / "btc-perp_ftx_1m.csv.gz"), *NEXT)

    assert done.returncode == 0, done.stderr[-2000:]
    assert _book_orders(owner) > orders
