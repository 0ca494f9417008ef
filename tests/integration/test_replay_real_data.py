"""Replays of real market data through the whole engine with the SQLite journal."""

from __future__ import annotations

import csv
import gzip
import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.circuit_breaker import CircuitState
from tradeguard import bootstrap, services
from tradeguard.requests import DataSpec, ReplayRequest
from tradeguard.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
SELL_OFF = datetime(2022, 1, 21, tzinfo=UTC)
CALM = datetime(2016, 10, 7, tzinfo=UTC)
FAST_PAIRS = [(2, 5), (3, 7), (4, 9), (5, 11)]


def replay(state_dir: Path, spec: DataSpec, day: datetime, faults: Path | None = None,
           **groups: Any) -> dict[str, Any]:
    settings = load_settings(store={"state_dir": state_dir}, **groups)
    request = ReplayRequest(data=(spec,), start=day, end=day + timedelta(days=1), faults=faults,
                            seed=11)
    return services.run_session(bootstrap.bootstrap(settings), request).summary.to_json()


def closes(path: Path, day: datetime) -> dict[datetime, float]:
    out = {}
    with gzip.open(path, "rt") as handle:
        for row in csv.DictReader(handle):
            ts = datetime.fromisoformat(row["ts"])
            if day <= ts < day + timedelta(days=1):
                out[ts] = float(row["close"])
    return out


def test_calm_coinbase_day_never_goes_above_alert(tmp_path: Path, data_dir: Path) -> None:
    spec = DataSpec(data_dir / "btc-usd_coinbase_1m.csv.gz", "BTC-USD")
    summary = replay(tmp_path / "s", spec, CALM)
    assert summary["bars"] == 1419
    assert summary["orders_filled"] > 0
    worst = max((CircuitState(t["to"]).severity for t in summary["transitions"]), default=0)
    assert worst <= CircuitState.ALERT.severity
    assert summary["final_state"] in ("CLOSED", "ALERT")


def test_sell_off_halts_on_loss_at_the_minute_the_loss_crosses_the_limit(
    tmp_path: Path, data_dir: Path
) -> None:
    path = data_dir / "btc-perp_ftx_1m.csv.gz"
    limit = 0.004
    summary = replay(
        tmp_path / "s", DataSpec(path, "BTC-PERP"), SELL_OFF,
        breaker={"halt_loss_pct": limit},
        strategy={"order_quantity": 1.0},
        risk={"max_position": 1.0, "max_order_notional": 100_000, "max_daily_loss": 1e9},
    )
    halts = [t for t in summary["transitions"] if t["to"] == "HALT"]
    assert halts and halts[0]["trigger"] == "loss"
    halted_at = datetime.fromisoformat(halts[0]["at"])

    # Recompute equity minute by minute from the journaled fills and the raw closes.
    settings = load_settings(store={"state_dir": tmp_path / "s"})
    store = bootstrap.open_store(settings, tmp_path / "s")
    try:
        fills = sorted((f for i in store.intents_between(SELL_OFF, halted_at)
                        for f in store.fills_for(i.client_order_id)), key=lambda f: f.ts)
    finally:
        store.close()
    prices = closes(path, SELL_OFF)
    cash, position, history, crossed = settings.broker.starting_cash, 0.0, [], None
    pending = list(fills)
    for ts in sorted(prices):
        while pending and pending[0].ts <= ts:
            fill = pending.pop(0)
            sign = 1 if fill.side.value == "BUY" else -1
            cash -= sign * fill.quantity * fill.price + fill.fee
            position += sign * fill.quantity
        now = ts + timedelta(minutes=1)
        equity = cash + position * prices[ts]
        history.append((now, equity))
        window = [e for t, e in history if t >= now - timedelta(hours=1)]
        peak = max(window)
        if (peak - equity) / peak >= limit:
            crossed = now
            break
    assert crossed == halted_at


def test_ten_minutes_of_rejects_escalate_then_recover_through_half_open(
    tmp_path: Path, data_dir: Path
) -> None:
    plan = tmp_path / "faults.toml"
    plan.write_text(
        '[[fault]]\nstart = "2022-01-21T09:13:00Z"\nend = "2022-01-21T09:23:00Z"\n'
        "reject_rate = 1.0\n"
    )
    summary = replay(
        tmp_path / "s", DataSpec(data_dir / "btc-perp_ftx_1m.csv.gz", "BTC-PERP"), SELL_OFF,
        faults=plan,
        strategy={"pairs": FAST_PAIRS, "confidence_scale_pct": 0.0001},
        risk={"max_daily_trades": 1000},
    )
    path = [(t["to"], datetime.fromisoformat(t["at"])) for t in summary["transitions"]]
    start, end = datetime(2022, 1, 21, 9, 13, tzinfo=UTC), datetime(2022, 1, 21, 9, 23, tzinfo=UTC)
    assert ("HALT" in [s for s, at in path if start <= at <= end])
    states = [s for s, _ in path]
    halt = states.index("HALT")
    assert states[halt + 1:halt + 3] == ["HALF_OPEN", "CLOSED"]
    assert all(at > end for s, at in path[halt + 1:])
    assert summary["orders_failed"] >= 5


def test_same_seed_and_inputs_give_byte_identical_json(tmp_path: Path, data_dir: Path) -> None:
    plan = tmp_path / "faults.toml"
    plan.write_text(
        '[[fault]]\nstart = "2022-01-21T09:00:00Z"\nend = "2022-01-21T12:00:00Z"\n'
        "reject_rate = 0.3\ntimeout_rate = 0.2\nlatency_ms = 700\nslippage_pct = 0.15\n"
    )
    outputs = []
    for run in ("a", "b"):
        result = subprocess.run(
            [sys.executable, "-m", "tradeguard", "--state-dir", str(tmp_path / run), "replay",
             "--data", f"{data_dir / 'btc-perp_ftx_1m.csv.gz'}",
             "--start", "2022-01-21T00:00:00Z", "--end", "2022-01-22T00:00:00Z",
             "--faults", str(plan), "--seed", "42", "--json"],
            capture_output=True, cwd=REPO, check=True, timeout=300,
        )
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1]
    summary = json.loads(outputs[0])
    for key in ("bars", "signals", "orders_submitted", "orders_filled", "orders_failed",
                "orders_denied", "trades_executed", "pnl", "transitions", "final_state"):
        assert key in summary
    assert summary["orders_failed"] > 0


@pytest.mark.parametrize("seed", [1, 2])
def test_different_seeds_draw_different_fault_outcomes(tmp_path: Path, data_dir: Path,
                                                       seed: int) -> None:
    plan = tmp_path / "faults.toml"
    plan.write_text(
        '[[fault]]\nstart = "2022-01-21T00:00:00Z"\nend = "2022-01-22T00:00:00Z"\n'
        "reject_rate = 0.5\n"
    )
    settings = load_settings(store={"state_dir": tmp_path / "s"}, risk={"max_daily_trades": 500})
    request = ReplayRequest(
        data=(DataSpec(data_dir / "btc-perp_ftx_1m.csv.gz", "BTC-PERP"),),
        start=SELL_OFF, end=SELL_OFF + timedelta(days=1), faults=plan, seed=seed,
    )
    summary = services.run_session(bootstrap.bootstrap(settings), request).summary.to_json()
    assert 0 < summary["orders_failed"] < summary["orders_submitted"]


def test_a_day_of_rejects_shuts_down_exits_zero_and_only_reset_resumes(
    tmp_path: Path, data_dir: Path
) -> None:
    plan = tmp_path / "faults.toml"
    plan.write_text(
        '[[fault]]\nstart = "2022-01-21T00:00:00Z"\nend = "2022-01-22T00:00:00Z"\n'
        "reject_rate = 1.0\n"
    )
    state = tmp_path / "s"
    env = {**os.environ, "PYTHONPATH": str(REPO),
           "TRADEGUARD_STRATEGY__PAIRS": "[[2,5],[3,7]]",
           "TRADEGUARD_STRATEGY__CONFIDENCE_SCALE_PCT": "0.0001"}
    replay_cmd = [sys.executable, "-m", "tradeguard", "--state-dir", str(state), "replay",
                  "--data", str(data_dir / "btc-perp_ftx_1m.csv.gz"),
                  "--start", "2022-01-21T00:00:00Z", "--end", "2022-01-22T00:00:00Z",
                  "--faults", str(plan), "--json"]

    def run(*cmd: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(cmd), cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=300)

    first = run(*replay_cmd)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["final_state"] == "SHUTDOWN" and summary["stopped_by_breaker"]
    assert summary["transitions"][-1]["trigger"] == "consecutive_failures"
    bars_at_stop = summary["bars"]
    assert bars_at_stop < 1440

    again = json.loads(run(*replay_cmd).stdout)
    assert again["stopped_by_breaker"] and again["bars"] == bars_at_stop

    recover = run(sys.executable, "-m", "tradeguard", "--state-dir", str(state), "recover")
    assert json.loads(run(*replay_cmd).stdout)["bars"] == bars_at_stop
    assert recover.returncode == 0

    reset = run(sys.executable, "-m", "tradeguard", "--state-dir", str(state), "reset",
                "--reason", "venue fixed")
    assert reset.returncode == 0, reset.stderr
    resumed = json.loads(run(*replay_cmd).stdout)
    assert resumed["bars"] > bars_at_stop


def test_a_finished_replay_run_again_adds_no_equity_point(tmp_path: Path, data_dir: Path) -> None:
    # The second run sees no new bar: it must not repeat the closing equity point of the
    # first (two rows at one instant doubled that point in the equity curve).
    spec = DataSpec(data_dir / "btc-usd_coinbase_1m.csv.gz", "BTC-USD")
    first = replay(tmp_path / "s", spec, CALM)
    again = replay(tmp_path / "s", spec, CALM)
    assert first["bars"] == 1419
    assert again["last_bar"] is None  # no bar left to replay
    db = sqlite3.connect(tmp_path / "s" / "state.db")
    try:
        rows = db.execute("SELECT at, COUNT(*) FROM equity GROUP BY at").fetchall()
    finally:
        db.close()
    assert rows, "the first run records its equity curve"
    assert [at for at, count in rows if count > 1] == []
    assert max(at for at, _ in rows) == (CALM + timedelta(days=1)).isoformat(
        timespec="microseconds")
