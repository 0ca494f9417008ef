"""Seed 002's recovery scenarios, each across a real process killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from engine.circuit_breaker import CircuitState
from engine.model import Side
from engine.risk import OrderRisk
from tradeguard import bootstrap
from tradeguard.settings import load_settings
from tradeguard.store.sqlite_store import SqliteStore

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def killed_child(scenario: str, state_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.integration.restart_child", scenario, str(state_dir)],
        cwd=REPO, env=ENV, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert "committed" in result.stdout


@pytest.fixture
def restarted(tmp_path: Path) -> Iterator[tuple[Path, object]]:
    state_dir = tmp_path / "state"
    holder: list[bootstrap.Runtime] = []

    def start(scenario: str, **groups: object) -> bootstrap.Runtime:
        killed_child(scenario, state_dir)
        settings = load_settings(store={"state_dir": state_dir}, **groups)
        runtime = bootstrap.build_runtime(settings, seed=0, faults=None, first_bar=None)
        holder.append(runtime)
        return runtime

    yield state_dir, start
    for runtime in holder:
        runtime.close()


def test_four_failures_survive_a_kill_and_the_fifth_trips_the_breaker(restarted) -> None:
    _, start = restarted
    runtime = start("failures4")
    breaker = runtime.session.breaker
    assert breaker.consecutive_failures == 4
    runtime.session.recover(runtime.recovered.open_intents)
    assert breaker.state is not CircuitState.HALT
    breaker.report_order_failure({"attempt": 5})
    assert breaker.state is CircuitState.HALT


def test_daily_loss_survives_a_kill_and_blocks_an_order_that_could_lose_250(restarted) -> None:
    _, start = restarted
    runtime = start("pnl800", risk={"max_daily_loss": 1000})
    risk = runtime.session.risk
    assert risk.daily_pnl == -800.0

    def order(worst: float) -> OrderRisk:
        return OrderRisk("BTC-PERP", Side.BUY, 0.01, 40_000.0, False, worst_case_loss=worst)

    blocked = risk.check(order(250.0), 0.0, 40_000.0, 0.0)
    assert not blocked.allowed and blocked.check == "max_daily_loss"
    assert risk.check(order(150.0), 0.0, 40_000.0, 0.0).allowed


def test_eighteen_trades_survive_a_kill_and_the_twenty_trade_limit_holds(restarted) -> None:
    _, start = restarted
    runtime = start("trades18", risk={"max_daily_trades": 20})
    risk = runtime.session.risk
    assert risk.daily_trades == 18
    order = OrderRisk("BTC-PERP", Side.BUY, 0.01, 40_000.0, False)
    assert risk.check(order, 0.0, 40_000.0, 0.0).allowed
    risk.record_fill(0.0)
    risk.record_fill(0.0)
    denied = risk.check(order, 0.0, 40_000.0, 0.0)
    assert not denied.allowed and denied.check == "max_daily_trades"


def test_a_buy_emitted_before_the_kill_is_not_emitted_or_ordered_again(
    tmp_path: Path, data_dir: Path
) -> None:
    state_dir = tmp_path / "state"
    command = [
        sys.executable, "-m", "tradeguard", "--state-dir", str(state_dir), "replay",
        "--data", str(data_dir / "btc-perp_ftx_1m.csv.gz"),
        "--start", "2022-01-21T00:00:00Z", "--end", "2022-01-21T06:00:00Z", "--json",
    ]
    dying = subprocess.run(command, cwd=REPO, env={**ENV, "TRADEGUARD_FAILPOINT":
                           "before_broker:1"}, capture_output=True, timeout=120)
    assert dying.returncode == -signal.SIGKILL
    with sqlite3.connect(state_dir / "state.db") as db:
        (first,) = db.execute(
            "SELECT client_order_id FROM order_intents WHERE status = 'PENDING_SUBMIT'"
        ).fetchall()
        # The intent is durable alone; its signal row rides with the next commit.
        recorded = db.execute("SELECT COUNT(*) FROM signals WHERE outcome = 'ordered'")
        assert recorded.fetchone()[0] == 0
    assert "-BUY-" in first[0]
    subprocess.run(command, cwd=REPO, env=ENV, capture_output=True, timeout=120, check=True)
    with sqlite3.connect(state_dir / "state.db") as db:
        outcomes = db.execute(
            "SELECT outcome FROM signals WHERE client_order_id = ? OR (outcome = 'suppressed' "
            "AND bar_time = (SELECT bar_time FROM signals WHERE client_order_id = ?))",
            (first[0], first[0]),
        ).fetchall()
        intents = db.execute(
            "SELECT status FROM order_intents WHERE client_order_id = ?", (first[0],)
        ).fetchall()
    with sqlite3.connect(state_dir / "paper_broker.sqlite") as book:
        booked = book.execute(
            "SELECT COUNT(*) FROM orders WHERE client_order_id = ?", (first[0],)
        ).fetchone()[0]
    # The kill came before any commit after the intent's: the restarted run re-runs the bars
    # from the stored cursor and takes the journaled intent up where the signal asks for it
    # again; the signal keeps its one record, as in an uninterrupted run.
    assert sorted(o[0] for o in outcomes) == ["ordered"]
    assert intents == [("FILLED",)]
    assert booked == 1


def test_a_signal_whose_held_intent_recovery_took_up_keeps_its_ordered_row(
    tmp_path: Path, data_dir: Path
) -> None:
    # The 20th order (SELL at 06:48) comes one bar after the 19th, whose fill is committed at
    # 06:48's open: the stored clock is already at the 20th intent's moment, so recovery
    # takes the held intent up before the re-run reaches its bar. The re-run's signal then
    # finds the position at target; its row must still be the one ordered row, as in an
    # uninterrupted run (not lost, not an at_target row beside the order).
    window = ("--start", "2022-01-01T00:00:00Z", "--end", "2022-01-01T12:00:00Z")
    cid = "sma-BTC-PERP-SELL-20220101T064800Z-10x30"

    def replay(state_dir: Path, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
        command = [sys.executable, "-m", "tradeguard", "--state-dir", str(state_dir), "replay",
                   "--data", str(data_dir / "btc-perp_ftx_1m.csv.gz"), *window, "--json"]
        return subprocess.run(command, cwd=REPO, env=env, capture_output=True, timeout=120)

    def rows(state_dir: Path) -> list[tuple[str, str | None]]:
        with closing(sqlite3.connect(state_dir / "state.db")) as db:
            return db.execute(
                "SELECT outcome, client_order_id FROM signals WHERE bar_time LIKE "
                "'2022-01-01T06:48%' ORDER BY id"
            ).fetchall()

    reference, state_dir = tmp_path / "reference", tmp_path / "state"
    replay(reference, ENV).check_returncode()
    assert rows(reference) == [("ordered", cid)]
    dying = replay(state_dir, {**ENV, "TRADEGUARD_FAILPOINT": "before_broker:20"})
    assert dying.returncode == -signal.SIGKILL
    with closing(sqlite3.connect(state_dir / "state.db")) as db:
        held = db.execute("SELECT status FROM order_intents WHERE client_order_id = ?", (cid,))
        assert held.fetchall() == [("PENDING_SUBMIT",)]
    replay(state_dir, ENV).check_returncode()
    assert rows(state_dir) == [("ordered", cid)]


FOUR_PAIRS = {
    "TRADEGUARD_STRATEGY__PAIRS": "[[2,5],[3,7],[4,9],[5,11]]",
    "TRADEGUARD_STRATEGY__CONFIDENCE_SCALE_PCT": "0.0001",
    "TRADEGUARD_RISK__MAX_DAILY_TRADES": "1000",
}


def _replay_summary(
    state_dir: Path, data: Path, window: tuple[str, str], env: dict[str, str]
) -> dict[str, object]:
    command = [
        sys.executable, "-m", "tradeguard", "--state-dir", str(state_dir), "replay",
        "--data", str(data), "--start", window[0], "--end", window[1], "--json",
    ]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300, check=True)
    summary: dict[str, object] = json.loads(done.stdout)
    return summary


@pytest.mark.parametrize(
    ("pairs", "kill", "end"),
    [(False, 1, "2022-01-21T06:00:00Z"), (True, 8, "2022-01-21T03:00:00Z"),
     (True, 3, "2022-01-21T03:00:00Z")],
)
def test_a_kill_after_a_mid_bar_decision_neither_suppresses_nor_loses_the_bars_signals(
    tmp_path: Path, data_dir: Path, pairs: bool, kill: int, end: str
) -> None:
    # An at-target or denied signal used to commit at once, with the strategy's memory of
    # the whole bar while the cursor still pointed at the bar before: the re-run after a
    # kill took the bar's other signals for repeats (suppressed rows; with several pairs,
    # orders never placed). Such rows now wait for the bar's close.
    env = {**ENV, **(FOUR_PAIRS if pairs else {})}
    data, window = data_dir / "btc-perp_ftx_1m.csv.gz", ("2022-01-21T00:00:00Z", end)
    reference = _replay_summary(tmp_path / "reference", data, window, env)
    state_dir = tmp_path / "state"
    command = [
        sys.executable, "-m", "tradeguard", "--state-dir", str(state_dir), "replay",
        "--data", str(data), "--start", window[0], "--end", window[1], "--json",
    ]
    dying = subprocess.run(command, cwd=REPO, env={**env, "TRADEGUARD_FAILPOINT":
                           f"after_commit:{kill}"}, capture_output=True, timeout=300)
    assert dying.returncode == -signal.SIGKILL
    resumed = _replay_summary(state_dir, data, window, env)
    for key in ("signals", "signals_suppressed", "orders_submitted", "orders_filled",
                "trades_executed", "daily_pnl", "fees", "orders_denied", "positions"):
        assert resumed[key] == reference[key], key
    with closing(sqlite3.connect(state_dir / "state.db")) as db:
        outcomes = db.execute(
            "SELECT outcome, COUNT(*) FROM signals GROUP BY outcome ORDER BY outcome"
        ).fetchall()
    with closing(sqlite3.connect(tmp_path / "reference" / "state.db")) as db:
        expected = db.execute(
            "SELECT outcome, COUNT(*) FROM signals GROUP BY outcome ORDER BY outcome"
        ).fetchall()
    assert outcomes == expected


@pytest.mark.parametrize("kill", [9, 10, 11])
def test_a_kill_after_a_mid_bar_rejection_commit_forgets_none_of_the_bars_signals(
    tmp_path: Path, data_dir: Path, kill: int
) -> None:
    # Four pairs signal on the same bars; the venue rejects or leaves unanswered (faults) an
    # order mid-bar, and that commit carries the sections. The strategy remembered the whole
    # bar's signals before the first was handled: a kill right after that commit made the
    # re-run take the signals not yet handled for repeats, and they were never decided.
    faults = tmp_path / "faults.toml"
    faults.write_text('[[fault]]\nstart = "2022-01-01T00:00:00Z"\nend = "2022-02-01T00:00:00Z"\n'
                      "reject_rate = 0.3\ntimeout_rate = 0.3\n")
    env = {**ENV, **FOUR_PAIRS}
    data = data_dir / "btc-perp_ftx_1m.csv.gz"
    window = ("2022-01-21T00:00:00Z", "2022-01-21T03:00:00Z")
    extra = ("--faults", str(faults), "--seed", "3")

    def command(state_dir: Path) -> list[str]:
        return [sys.executable, "-m", "tradeguard", "--state-dir", str(state_dir), "replay",
                "--data", str(data), "--start", window[0], "--end", window[1], "--json", *extra]

    subprocess.run(command(tmp_path / "reference"), cwd=REPO, env=env, capture_output=True,
                   timeout=300, check=True)
    dying = subprocess.run(command(tmp_path / "state"), cwd=REPO, env={
        **env, "TRADEGUARD_FAILPOINT": f"after_commit:{kill}"}, capture_output=True, timeout=300)
    assert dying.returncode == -signal.SIGKILL
    subprocess.run(command(tmp_path / "state"), cwd=REPO, env=env, capture_output=True,
                   timeout=300, check=True)

    def decided(state_dir: Path) -> set[tuple[str, int, int]]:
        with closing(sqlite3.connect(state_dir / "state.db")) as db:
            rows = db.execute("SELECT bar_time, fast, slow FROM signals "
                              "WHERE outcome != 'suppressed'").fetchall()
        return {(str(t), int(f), int(s)) for t, f, s in rows}

    assert decided(tmp_path / "reference") <= decided(tmp_path / "state")
    with SqliteStore(tmp_path / "state", session=False) as reader:
        assert reader.duplicate_client_order_ids() == []
        assert reader.integrity_check() == "ok"
