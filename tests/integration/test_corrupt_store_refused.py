"""Issue 8 §3: a damaged store is never traded on (seeded random page corruption)."""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.ports import Batch
from entrypoints.cli import app
from tradeguard.store.sqlite_store import SqliteStore

COPIES = 60
FIRST = ("--start", "2022-01-20T00:00:00Z", "--end", "2022-01-20T12:00:00Z")
NEXT = ("--start", "2022-01-20T12:00:00Z", "--end", "2022-01-21T00:00:00Z")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("TRADEGUARD_"):
            monkeypatch.delenv(name)


def _integrity(path: Path) -> str:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        lines = [str(row[0]) for row in conn.execute("PRAGMA integrity_check")]
    except (sqlite3.DatabaseError, UnicodeDecodeError) as e:
        return str(e)
    finally:
        conn.close()
    return "ok" if lines == ["ok"] else "; ".join(lines)


def _venue(path: Path) -> tuple[object, ...]:
    with sqlite3.connect(path) as conn:
        orders = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
        fills = conn.execute("SELECT count(*) FROM fills").fetchone()[0]
        cash = conn.execute("SELECT cash FROM account").fetchone()[0]
    return orders, fills, cash


def _damage(path: Path, rng: random.Random) -> None:
    """Overwrite a few random bytes of one random page (the 100-byte file header spared)."""
    size = path.stat().st_size
    page = 4096
    with sqlite3.connect(path) as conn:
        page = int(conn.execute("PRAGMA page_size").fetchone()[0])
    with path.open("r+b") as handle:
        for _ in range(rng.randint(2, 8)):
            offset = rng.randrange(100, size - 64)
            handle.seek(offset)
            handle.write(rng.randbytes(rng.randint(1, 64)))
    assert page > 0


def test_every_store_failing_integrity_check_is_refused(data_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    pristine = tmp_path / "pristine"
    data = ("--data", str(data_dir / "btc-perp_ftx_1m.csv.gz"))
    result = runner.invoke(app, ["--state-dir", str(pristine), "replay", *data, *FIRST])
    assert result.exit_code == 0, result.output
    rng = random.Random(20220120)
    damaged = 0
    for copy in range(COPIES):
        state = tmp_path / f"copy{copy}"
        shutil.copytree(pristine, state, ignore=shutil.ignore_patterns("*.lock", "backups"))
        _damage(state / "state.db", rng)
        if _integrity(state / "state.db") == "ok":
            continue
        damaged += 1
        venue_before = _venue(state / "paper_broker.sqlite")
        result = runner.invoke(app, ["--state-dir", str(state), "replay", *data, *NEXT])
        assert result.exit_code == 2, (copy, result.exit_code, result.output)
        assert "tradeguard state restore" in result.stderr, (copy, result.stderr)
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert _venue(state / "paper_broker.sqlite") == venue_before, copy
    assert damaged >= COPIES // 4  # the seeded damage really hit pages that matter


def test_a_sealed_store_damaged_in_place_is_refused_even_with_its_mtime_put_back(
    data_dir: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    state = tmp_path / "state"
    data = ("--data", str(data_dir / "btc-perp_ftx_1m.csv.gz"))
    assert runner.invoke(app, ["--state-dir", str(state), "replay", *data, *FIRST]).exit_code == 0
    store = state / "state.db"
    assert (state / "state.db.seal").exists()  # closed cleanly: the next start may skip
    before = store.stat()
    rng = random.Random(7)
    while True:  # damage in place until integrity_check fails, then hide the mtime
        _damage(store, rng)
        if _integrity(store) != "ok":
            break
    os.utime(store, ns=(before.st_atime_ns, before.st_mtime_ns))
    venue_before = _venue(state / "paper_broker.sqlite")

    result = runner.invoke(app, ["--state-dir", str(state), "replay", *data, *NEXT])

    assert result.exit_code == 2, result.output
    assert "tradeguard state restore" in result.stderr
    assert _venue(state / "paper_broker.sqlite") == venue_before


def test_only_a_store_untouched_since_a_clean_close_skips_the_whole_file_check(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    SqliteStore(path, verify="full").close()
    reopened = SqliteStore(path, verify="full")
    assert reopened.verified == "recovery"  # sealed at the clean close
    reopened.commit(Batch(state={"s": {"n": 1}}))
    reopened._conn = None  # a crash: the process dies without a clean close
    crashed = SqliteStore(path, verify="full")
    assert crashed.verified == "full"
    crashed.close()


def test_a_damaged_history_file_is_refused_and_nothing_reaches_the_venue(
    data_dir: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    state = tmp_path / "state"
    data = ("--data", str(data_dir / "btc-perp_ftx_1m.csv.gz"))
    assert runner.invoke(app, ["--state-dir", str(state), "replay", *data, *FIRST]).exit_code == 0
    SqliteStore(state, archive_rows=0).close()  # a writer over the bound moves at open
    history = state / "history.db"
    assert (state / "history.db.seal").exists()
    before = history.stat()
    rng = random.Random(8)
    while _integrity(history) == "ok":
        _damage(history, rng)
    os.utime(history, ns=(before.st_atime_ns, before.st_mtime_ns))  # the ctime still moved
    venue_before = _venue(state / "paper_broker.sqlite")

    result = runner.invoke(app, ["--state-dir", str(state), "replay", *data, *NEXT])

    assert result.exit_code == 2, result.output
    assert "tradeguard state restore" in result.stderr
    assert "history.db" in result.stderr
    assert "Traceback" not in result.output
    assert _venue(state / "paper_broker.sqlite") == venue_before
