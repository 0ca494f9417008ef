"""Analytics on a replayed FTX month equal the same figures computed from the SQLite journal."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from engine.events import SignalRecorded
from tradeguard import analytics, bootstrap, services
from tradeguard.requests import DataSpec, ReplayRequest
from tradeguard.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
MONTH = datetime(2022, 1, 1, tzinfo=UTC)
FAILED = ("REJECTED", "UNKNOWN", "CANCELLED")
# Some rejects all month, a storm on the 21st (the sell-off) for escalations and HALTs.
PLAN = """
[[fault]]
start = "2022-01-10T00:00:00Z"
end = "2022-01-12T00:00:00Z"
reject_rate = 0.3
[[fault]]
start = "2022-01-21T14:00:00Z"
end = "2022-01-21T14:40:00Z"
reject_rate = 1.0
"""


def month_request(data_dir: Path, faults: Path, end: datetime) -> ReplayRequest:
    spec = DataSpec(data_dir / "btc-perp_ftx_1m.csv.gz", "BTC-PERP")
    return ReplayRequest(data=(spec,), start=MONTH, end=end, faults=faults, seed=11)


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """Replay January 2022 on FTX once; return the state store file."""
    root = tmp_path_factory.mktemp("month")
    plan = root / "faults.toml"
    plan.write_text(PLAN)
    settings = load_settings(
        store={"state_dir": root / "bot"},
        strategy={"pairs": [(5, 20)], "confidence_scale_pct": 0.0001, "order_quantity": 1.0},
        risk={"max_daily_trades": 40, "max_position": 1.0, "max_order_notional": 100_000,
              "max_daily_loss": 1e9},
        breaker={"halt_loss_pct": 0.005},  # 0.5% of peak equity within the hour: HALTs
    )
    request = month_request(data_dir, plan, MONTH + timedelta(days=31))
    services.run_session(bootstrap.bootstrap(settings), request)
    store = bootstrap.store_path(root / "bot")
    analytics.refresh(store)
    return store


def journal(store: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read the journal with plain sqlite3, read-only."""
    conn = sqlite3.connect(f"{store.as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def query(store: Path, name: str) -> list[dict[str, Any]]:
    return analytics.run_query(analytics.analytics_path(store), name).to_pylist()


def journal_realized_by_fill(store: Path) -> list[tuple[str, str, float, float]]:
    """Return (day, symbol, fee, realized net P&L) per fill, average cost, computed here."""
    held: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])  # quantity, average price
    out = []
    rows = journal(store, "SELECT symbol, side, quantity, price, fee, ts FROM trades ORDER BY id")
    for symbol, side, qty, price, fee, ts in rows:
        position, average = held[symbol]
        signed = qty if side == "BUY" else -qty
        realized = 0.0
        if position and (position > 0) != (signed > 0):
            closing = min(abs(position), qty)
            realized = closing * (price - average) * (1 if position > 0 else -1)
            rest = position + signed
            if abs(rest) < 1e-12 * max(abs(position), qty):
                held[symbol] = [0.0, 0.0]
            elif (rest > 0) == (position > 0):
                held[symbol] = [rest, average]
            else:
                held[symbol] = [rest, price]
        else:
            total = position + signed
            held[symbol] = [total, (position * average + signed * price) / total]
        out.append((ts[:10], symbol, fee, realized - fee))
    return out


def test_daily_pnl_equals_the_journal_recomputed_fill_by_fill(month: Path) -> None:
    expected: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for day, symbol, fee, pnl in journal_realized_by_fill(month):
        row = expected[(day, symbol)]
        row[0] += 1
        row[1] += fee
        row[2] += pnl
    rows = query(month, "daily-pnl")
    assert len(rows) == len(expected) >= 28
    for r in rows:
        trades, fees, pnl = expected[(r["day"].isoformat(), r["symbol"])]
        assert r["trades"] == trades
        assert r["fees"] == pytest.approx(fees, abs=1e-6)
        assert r["pnl"] == pytest.approx(pnl, abs=1e-6)
    # The engine's own ledger (positions.realized_pnl) agrees with the month's total.
    engine_total = journal(month, "SELECT SUM(realized_pnl) FROM positions")[0][0]
    assert sum(r["pnl"] for r in rows) == pytest.approx(engine_total, abs=1e-6)


def test_every_journal_row_is_mirrored_once(month: Path) -> None:
    db = analytics.connect(analytics.analytics_path(month), read_only=True)
    try:
        for table in ("trades", "signals", "denials", "breaker_events", "issues", "equity",
                      "operator_actions", "skipped_bars", "daily_resets", "order_intents"):
            have = db.execute(f"SELECT count(*), count(DISTINCT {_key(table)}) FROM {table}")
            count, distinct = have.fetchall()[0]
            assert count == distinct == journal(month, f"SELECT COUNT(*) FROM {table}")[0][0]
        statuses = dict(db.execute(
            "SELECT status, count(*) FROM order_intents GROUP BY status").fetchall())
    finally:
        db.close()
    assert statuses == dict(journal(month, "SELECT status, COUNT(*) FROM order_intents GROUP BY 1"))


def _key(table: str) -> str:
    return "client_order_id" if table == "order_intents" else "id"


def test_failure_rates_by_hour_and_reason_equal_the_journal(month: Path) -> None:
    rows = query(month, "failures")
    intents = journal(month, "SELECT created_at, status, reason FROM order_intents")
    by_hour: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_reason: dict[str, int] = defaultdict(int)
    for created, status, reason in intents:
        bucket = by_hour[created[11:13] + ":00"]
        bucket[0] += 1
        if status in FAILED:
            bucket[1] += 1
            by_reason[f"{status}: {reason}" if reason else status] += 1
    hours = {r["bucket"]: r for r in rows if r["dimension"] == "hour"}
    assert set(hours) == set(by_hour)
    for hour, (orders, failed) in by_hour.items():
        assert (hours[hour]["orders"], hours[hour]["failed"]) == (orders, failed)
        assert hours[hour]["failure_rate"] == pytest.approx(failed / orders)
    reasons = {r["bucket"]: r["failed"] for r in rows if r["dimension"] == "reason"}
    assert reasons == by_reason and sum(by_reason.values()) > 0


def test_signal_outcomes_and_overview_counts_equal_the_journal(month: Path) -> None:
    rows = query(month, "signals")
    counts: dict[str, int] = defaultdict(int)
    for r in rows:
        counts[r["outcome"]] += r["signals"]
    assert counts == dict(journal(month, "SELECT outcome, COUNT(*) FROM signals GROUP BY 1"))
    assert {"ordered", "denied"} <= set(counts)
    over = analytics.overview(analytics.analytics_path(month)).to_pylist()[0]
    assert over["fills"] == journal(month, "SELECT COUNT(*) FROM trades")[0][0]
    assert over["signals"] == sum(counts.values())
    assert over["failed"] == journal(
        month, f"SELECT COUNT(*) FROM order_intents WHERE status IN {FAILED}")[0][0]


def journal_time_in_state(store: Path) -> dict[tuple[str, str], float]:
    """Seconds per (UTC day, state) from the first to the last journal row, computed here."""
    times = [t for (t,) in journal(store, """
        SELECT MIN(at) FROM signals UNION ALL SELECT MAX(at) FROM signals
        UNION ALL SELECT MIN(at) FROM equity UNION ALL SELECT MAX(at) FROM equity
        UNION ALL SELECT MIN(at) FROM breaker_events UNION ALL SELECT MAX(at) FROM breaker_events
        UNION ALL SELECT MIN(ts) FROM trades UNION ALL SELECT MAX(ts) FROM trades
        UNION ALL SELECT MIN(at) FROM denials UNION ALL SELECT MAX(at) FROM denials
        UNION ALL SELECT MIN(at) FROM skipped_bars UNION ALL SELECT MAX(at) FROM skipped_bars""")
        if t is not None]
    first, last = (datetime.fromisoformat(t) for t in (min(times), max(times)))
    events = journal(store, "SELECT at, from_state, to_state FROM breaker_events ORDER BY id")
    spans, cursor = [], first
    state = events[0][1] if events else "CLOSED"
    for at, _, to_state in events:
        moment = datetime.fromisoformat(at)
        spans.append((state, cursor, moment))
        state, cursor = to_state, moment
    spans.append((state, cursor, last))
    seconds: dict[tuple[str, str], float] = defaultdict(float)
    for state, start, end in spans:
        while start < end:
            midnight = datetime.combine(start.date(), datetime.min.time(), tzinfo=UTC)
            stop = min(end, midnight + timedelta(days=1))
            seconds[(start.date().isoformat(), state)] += (stop - start).total_seconds()
            start = stop
    return seconds


def test_breaker_time_in_state_per_day_equals_the_journal(month: Path) -> None:
    expected = journal_time_in_state(month)
    rows = query(month, "breaker-time")
    got = {(r["day"].isoformat(), r["state"]): r["seconds"] for r in rows}
    assert got.keys() == {k for k, v in expected.items() if v > 0}
    for key, value in got.items():
        assert value == pytest.approx(expected[key])
    assert {"CLOSED", "ALERT"} <= {state for _, state in got}
    transitions = sum(r["transitions_into"] for r in rows)
    assert transitions == journal(month, "SELECT COUNT(*) FROM breaker_events")[0][0]


def test_incidents_are_the_halt_episodes_of_the_journal(month: Path) -> None:
    events = journal(month, "SELECT id, at, from_state, to_state, trigger, observed, threshold "
                            "FROM breaker_events ORDER BY id")
    episodes, current = [], None
    for _, at, from_state, to_state, trigger, observed, threshold in events:
        if from_state == "CLOSED":
            current = {"start": at, "halt": None, "end": None}
            episodes.append(current)
        if current is None:
            continue
        if to_state in ("HALT", "SHUTDOWN") and current["halt"] is None:
            current["halt"] = (at, trigger, observed, threshold)
        if to_state == "CLOSED":
            current["end"] = at
    expected = [e for e in episodes if e["halt"]]
    rows = query(month, "incidents")
    assert len(rows) == len(expected) >= 1
    for row, episode in zip(rows, expected, strict=True):
        assert row["start_at"].isoformat() == episode["start"].replace(".000000", "")
        at, trigger, observed, threshold = episode["halt"]
        assert row["halt_at"] == datetime.fromisoformat(at)
        assert (row["trigger"], row["observed"], row["threshold"]) == (trigger, observed,
                                                                       threshold)
        until = episode["end"] or row["until_at"].isoformat()
        blocked = journal(month, "SELECT COUNT(*) FROM denials WHERE check_name = 'breaker' "
                                 "AND at BETWEEN ? AND ?", (episode["start"], until))[0][0]
        assert row["orders_blocked"] == blocked


def test_refresh_during_a_running_session_adds_new_rows_and_never_duplicates(
    tmp_path: Path, data_dir: Path
) -> None:
    plan = tmp_path / "faults.toml"
    plan.write_text(PLAN)
    settings = load_settings(store={"state_dir": tmp_path / "bot"},
                             strategy={"pairs": [(5, 20)], "confidence_scale_pct": 0.0001})
    store = bootstrap.store_path(tmp_path / "bot")
    seen: list[int] = []

    def refresh_now_and_then(event: Any) -> None:
        # Refresh from inside the running session, every 150 signals, while it commits.
        if isinstance(event, SignalRecorded) and store.exists():
            seen.append(1)
            if len(seen) % 150 == 0:
                analytics.refresh(store)

    request = month_request(data_dir, plan, MONTH + timedelta(days=3))
    services.run_session(bootstrap.bootstrap(settings), request, [refresh_now_and_then])
    db_file = analytics.analytics_path(store)
    mid = _count(db_file, "trades")
    assert 0 < mid <= journal(store, "SELECT COUNT(*) FROM trades")[0][0]
    first = analytics.refresh(store)
    # More committed rows: the session resumes on the same state dir for three more days.
    request = month_request(data_dir, plan, MONTH + timedelta(days=6))
    services.run_session(bootstrap.bootstrap(settings), request)
    second = analytics.refresh(store)
    again = analytics.refresh(store)
    assert second.new_rows["trades"] > 0 and second.new_rows["signals"] > 0
    assert sum(again.new_rows.values()) == 0
    assert first.new_rows["trades"] + mid + second.new_rows["trades"] == _count(db_file, "trades")
    for table in ("trades", "signals", "equity", "denials", "breaker_events"):
        total = journal(store, f"SELECT COUNT(*) FROM {table}")[0][0]
        assert _count(db_file, table) == _count(db_file, table, distinct=True) == total
    intents = dict(journal(store, "SELECT client_order_id, status FROM order_intents"))
    conn = duckdb.connect(str(db_file), read_only=True)
    try:
        mirrored = dict(
            conn.execute("SELECT client_order_id, status FROM order_intents").fetchall()
        )
    finally:
        conn.close()
    assert mirrored == intents


def _count(db_file: Path, table: str, distinct: bool = False) -> int:
    conn = duckdb.connect(str(db_file), read_only=True)
    try:
        what = "count(DISTINCT id)" if distinct else "count(*)"
        return int(conn.execute(f"SELECT {what} FROM {table}").fetchall()[0][0])
    finally:
        conn.close()


def test_combined_view_over_two_state_dirs_keeps_each_bot_apart(
    month: Path, tmp_path: Path, data_dir: Path
) -> None:
    other = tmp_path / "other"
    settings = load_settings(store={"state_dir": other})
    spec = DataSpec(data_dir / "btc-perp_ftx_1m.csv.gz", "BTC-PERP")
    services.run_session(bootstrap.bootstrap(settings), ReplayRequest(data=(spec,), start=MONTH,
                                                 end=MONTH + timedelta(days=2), seed=3))
    result = subprocess.run(
        [sys.executable, "-m", "tradeguard", "analytics", "--combine", str(month.parent),
         "--combine", str(other), "daily-pnl", "--format", "json"],
        capture_output=True, text=True, cwd=REPO, check=False, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert {r["bot"] for r in rows} == {"bot", "other"}
    for bot, store in (("bot", month), ("other", bootstrap.store_path(other))):
        assert sum(r["trades"] for r in rows if r["bot"] == bot) == journal(
            store, "SELECT COUNT(*) FROM trades")[0][0]


def test_cli_rejects_an_unknown_query_with_exit_2(month: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tradeguard", "--state-dir", str(month.parent), "analytics",
         "pnl-by-moon"], capture_output=True, text=True, cwd=REPO, check=False, timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: unknown query 'pnl-by-moon'")
    assert "Traceback" not in result.stderr


def test_refresh_never_writes_the_state_store(month: Path) -> None:
    def digest() -> dict[str, str]:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(month.parent.iterdir())
                if p.name.startswith(month.name) and not p.name.endswith("-shm")}

    before = digest()
    result = analytics.refresh(month)
    assert result.total_rows >= 0 and digest() == before
    # A full copy into a fresh analytics file reads every table: the store is still untouched.
    elsewhere = month.parent.parent / "elsewhere.duckdb"
    assert analytics.refresh(month, elsewhere).new_rows["trades"] > 0
    assert digest() == before


def test_an_analytics_file_that_cannot_be_opened_is_a_state_error_naming_it(
    month: Path, tmp_path: Path
) -> None:
    from engine.errors import StateError

    blocked = tmp_path / "analytics.duckdb"
    blocked.mkdir()  # what a read-only disk or a misplaced directory does to duckdb.connect
    with pytest.raises(StateError, match=r"cannot open the analytics database .*analytics\.duckdb"):
        analytics.refresh(month, blocked)
    with pytest.raises(StateError, match="cannot open the analytics database"):
        analytics.run_query(blocked, "daily-pnl")
