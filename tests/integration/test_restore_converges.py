"""Issue 8 §1: after `state restore` from an older backup the journal converges to the venue."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from entrypoints.cli import app

DAY1 = ("--start", "2022-01-20T00:00:00Z", "--end", "2022-01-21T00:00:00Z")
DAYS = ("--start", "2022-01-20T00:00:00Z", "--end", "2022-01-23T00:00:00Z")
MAX_DAILY_TRADES = 50  # the default risk.max_daily_trades


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("TRADEGUARD_"):
            monkeypatch.delenv(name)


def _run(runner: CliRunner, state: Path, *args: str) -> str:
    result = runner.invoke(app, ["--state-dir", str(state), *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def _journal(state: Path) -> tuple[list[tuple[str, str]], float]:
    with sqlite3.connect(state / "state.db") as conn:
        rows = conn.execute("SELECT fill_id, ts FROM trades ORDER BY fill_id").fetchall()
        cash = json.loads(
            conn.execute("SELECT value FROM key_state WHERE key = 'portfolio'").fetchone()[0]
        )["cash"]
        orphans = conn.execute(
            "SELECT count(*) FROM order_intents i WHERE status = 'FILLED' AND NOT EXISTS "
            "(SELECT 1 FROM trades t WHERE t.client_order_id = i.client_order_id)"
        ).fetchone()[0]
    assert orphans == 0, "intents FILLED without a trade row"
    return _normal(rows), float(cash)


def _venue(state: Path) -> tuple[list[tuple[str, str]], float]:
    with sqlite3.connect(state / "paper_broker.sqlite") as conn:
        rows = conn.execute("SELECT fill_id, ts FROM fills ORDER BY fill_id").fetchall()
        cash = conn.execute("SELECT cash FROM account").fetchone()[0]
    return _normal(rows), float(cash)


def _normal(rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(fill_id, datetime.fromisoformat(ts).isoformat()) for fill_id, ts in rows]


def test_restore_from_an_older_backup_converges_to_the_venue(
    data_dir: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    state = tmp_path / "state"
    data = ("--data", str(data_dir / "btc-perp_ftx_1m.csv.gz"))
    _run(runner, state, "replay", *data, *DAY1)
    _run(runner, state, "state", "backup")
    _run(runner, state, "replay", *data, *DAYS)
    (state / "state.db").write_bytes(b"")  # the store file emptied
    _run(runner, state, "state", "restore")
    summary = json.loads(_run(runner, state, "replay", *data, *DAYS, "--json"))

    journal_fills, engine_cash = _journal(state)
    venue_fills, venue_cash = _venue(state)
    assert journal_fills == venue_fills
    assert len(venue_fills) > MAX_DAILY_TRADES  # the venue really ran ahead of the backup
    assert engine_cash == pytest.approx(venue_cash, abs=1e-6)
    per_day = Counter(ts[:10] for _, ts in journal_fills)
    assert max(per_day.values()) <= MAX_DAILY_TRADES

    report = json.loads(_run(runner, state, "reconcile", "--json"))
    assert report["venue_fills_booked"] == 0  # converged: nothing left to repair
    _assert_counts_add_up(summary)
    # The orders sent after the backup came back from the venue's record, not as new orders.
    assert summary["orders_adopted"] > 0
    assert summary["orders_filled"] == len(venue_fills)  # the paper venue: one fill an order


def _assert_counts_add_up(summary: dict[str, Any]) -> None:
    """Issue 8 §2: every order the session knows is filled, failed or still open."""
    known = summary["orders_submitted"] + summary.get("orders_adopted", 0)
    ended = summary["orders_filled"] + summary["orders_failed"] + summary["orders_open"]
    assert known == ended, summary


def test_reconcile_books_what_the_venue_has_and_reports_it(
    data_dir: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    state = tmp_path / "state"
    data = ("--data", str(data_dir / "btc-perp_ftx_1m.csv.gz"))
    _run(runner, state, "replay", *data, *DAY1)
    _run(runner, state, "state", "backup")
    _run(runner, state, "replay", *data, *DAYS)
    ahead, _ = _venue(state)
    behind, _ = _journal(state)
    _run(runner, state, "state", "restore")
    restored, _ = _journal(state)

    report = json.loads(_run(runner, state, "reconcile", "--json"))

    assert report["venue_fills_booked"] == len(ahead) - len(restored) > 0
    journal_fills, engine_cash = _journal(state)
    assert journal_fills == ahead == behind
    assert engine_cash == pytest.approx(_venue(state)[1], abs=1e-6)


def test_a_replay_after_a_restore_counts_each_venue_order_once(
    data_dir: Path, tmp_path: Path
) -> None:
    # Adversarial pass: replaying old bars after a restore re-sends orders the venue sync had
    # already adopted and booked (same client ids); the venue answers with its stored record,
    # and each such order was counted filled (and as a day's trade) a second time.
    runner = CliRunner()
    state = tmp_path / "state"
    data = ("--data", str(data_dir / "btc-perp_ftx_1m.csv.gz"))
    _run(runner, state, "replay", *data, "--start", "2022-01-01T00:00:00Z",
         "--end", "2022-01-15T00:00:00Z")
    _run(runner, state, "state", "backup")
    _run(runner, state, "replay", *data)
    _run(runner, state, "state", "restore")
    summary = json.loads(_run(runner, state, "replay", *data, "--json"))

    venue_fills, _ = _venue(state)
    assert summary["orders_filled"] == summary["trades_executed"] == len(venue_fills)
    _assert_counts_add_up(summary)
