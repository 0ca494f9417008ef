"""Print analytics figures: refresh of 1M journal rows, overview/incident queries, report time.

Run: python bench/bench_analytics.py [--rows N] [--trades N] [--dir DIR]
Figures are printed, not asserted. References measured in the same run: a plain sqlite3
fetchall of the same journal rows (refresh) and a DuckDB full scan of the trades table
(queries). Targets from issue 12: overview and incident queries <= 2 s over 10M trades.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tradeguard.analytics import analytics_path, connect, overview, refresh, run_query
from tradeguard.analytics.views import create_views
from tradeguard.reports.incident import build_incident_report, load_episodes
from tradeguard.reports.journal import JournalView
from tradeguard.reports.render import to_html
from tradeguard.reports.session import build_session_report
from tradeguard.store.schema import migrate

START = datetime(2024, 1, 1, tzinfo=UTC)


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    """Return (seconds, result) of one call."""
    begin = time.perf_counter()
    result = action()
    return time.perf_counter() - begin, result


def build_journal(store: Path, trades: int) -> None:
    """Write a state store with `trades` fills, as many signals, and a few breaker events."""
    conn = sqlite3.connect(store, isolation_level=None)
    migrate(conn)
    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO trades (fill_id, client_order_id, symbol, side, quantity, price, fee, ts) "
        "WITH RECURSIVE s(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM s WHERE value < ?) "
        "SELECT 'f' || value, 'o' || value, 'BTC-PERP', "
        "CASE value % 2 WHEN 0 THEN 'BUY' ELSE 'SELL' END, 0.01, "
        "40000 + (value % 997), 0.2, strftime('%Y-%m-%dT%H:%M:%S.000000+00:00', "
        "'2024-01-01', '+' || value || ' seconds') FROM s",
        (trades,),
    )
    conn.execute(
        "INSERT INTO signals (at, symbol, side, confidence, bar_time, fast, slow, outcome, "
        "reason, client_order_id) SELECT ts, symbol, side, 0.5, ts, 5, 20, 'ordered', '', "
        "client_order_id FROM trades",
    )
    conn.execute("COMMIT")
    conn.close()


def build_synthetic_duckdb(db_file: Path, trades: int) -> None:
    """Fill an analytics file with `trades` synthetic trades, intents, signals and episodes."""
    conn = connect(db_file)
    hours = max(trades // 3600, 48)
    conn.execute(f"""
        INSERT INTO trades SELECT 'bench', i, 'f' || i, 'o' || i, 'BTC-PERP',
            CASE i % 2 WHEN 0 THEN 'BUY' ELSE 'SELL' END, 0.01, 40000 + (i % 997), 0.2,
            TIMESTAMPTZ '{START.isoformat()}' + to_seconds(i),
            CASE i % 2 WHEN 0 THEN 0.01 ELSE -0.01 END, CASE i % 2 WHEN 0 THEN 0 ELSE 0.01 END,
            (i % 13) - 6.0, (i % 13) - 6.2, 0, 0
          FROM range(1, {trades} + 1) t(i)""")
    conn.execute(f"""
        INSERT INTO order_intents SELECT 'bench', 'o' || i, 'BTC-PERP',
            CASE i % 2 WHEN 0 THEN 'BUY' ELSE 'SELL' END, 0.01, 40000 + (i % 997) - 4, NULL, 0,
            0.5, CASE WHEN i % 50 = 0 THEN 'REJECTED' ELSE 'FILLED' END, 'b' || i,
            CASE WHEN i % 50 = 0 THEN 'rejected by venue' ELSE '' END,
            TIMESTAMPTZ '{START.isoformat()}' + to_seconds(i),
            TIMESTAMPTZ '{START.isoformat()}' + to_seconds(i + 1)
          FROM range(1, {trades} + 1) t(i)""")
    conn.execute(f"""
        INSERT INTO signals SELECT 'bench', i, TIMESTAMPTZ '{START.isoformat()}' + to_seconds(i),
            'BTC-PERP', 'BUY', 0.5, TIMESTAMPTZ '{START.isoformat()}' + to_seconds(i), 5, 20,
            CASE WHEN i % 10 = 0 THEN 'denied' ELSE 'ordered' END, '', 'o' || i
          FROM range(1, {trades} + 1) t(i)""")
    # One episode every 4 hours: ALERT, HALT (loss), HALF_OPEN, CLOSED, 10 minutes apart.
    conn.execute(f"""
        INSERT INTO breaker_events
        SELECT 'bench', h * 4 + k, TIMESTAMPTZ '{START.isoformat()}' + to_hours(h * 4)
                 + to_minutes(k * 10),
               ['CLOSED', 'ALERT', 'HALT', 'HALF_OPEN'][k + 1],
               ['ALERT', 'HALT', 'HALF_OPEN', 'CLOSED'][k + 1],
               ['slippage', 'loss', 'cooldown', 'half_open_success'][k + 1], 0.0061, 0.006,
               'synthetic'
          FROM range(0, {hours // 4}) a(h), range(0, 4) b(k)""")
    conn.execute(f"""
        INSERT INTO denials SELECT 'bench', i, TIMESTAMPTZ '{START.isoformat()}'
                 + to_seconds(i * 37), 'd' || i, 'BTC-PERP', 'BUY', 0.01, 'breaker', 'halt'
          FROM range(1, {trades // 37}) t(i)""")
    conn.execute(f"""
        INSERT INTO equity SELECT 'bench', i, TIMESTAMPTZ '{START.isoformat()}' + to_minutes(i),
               100000 + sin(i / 500.0) * 300, 100000, 0 FROM range(1, {trades // 60}) t(i)""")
    create_views(conn)
    conn.close()


def bench_refresh(directory: Path, rows: int) -> None:
    directory.mkdir()
    store = directory / "state.db"
    half = rows // 2  # as many signal rows as trades: rows journal rows in all
    seconds, _ = timed(lambda: build_journal(store, half))
    print(f"built journal: {half} trades + {half} signals in {seconds:.1f} s")
    conn = sqlite3.connect(store)
    ref, _ = timed(lambda: (conn.execute("SELECT * FROM trades").fetchall(),
                            conn.execute("SELECT * FROM signals").fetchall()))
    conn.close()
    full, result = timed(lambda: refresh(store))
    again, _ = timed(lambda: refresh(store))
    print(f"reference: sqlite3 fetchall of the {rows} rows      {ref:8.2f} s")
    print(f"refresh of {result.total_rows} journal rows (first)    {full:8.2f} s  "
          f"({full / ref:.2f} x reference, {result.total_rows / full / 1e6:.2f} M rows/s)")
    print(f"refresh with nothing new                     {again:8.2f} s")


def bench_queries(directory: Path, trades: int) -> None:
    directory.mkdir()
    store = directory / "state.db"
    conn = sqlite3.connect(store, isolation_level=None)
    migrate(conn)
    conn.close()
    refresh(store)  # creates every analytics table and view
    db_file = analytics_path(store)
    seconds, _ = timed(lambda: build_synthetic_duckdb(db_file, trades))
    print(f"built analytics file: {trades} synthetic trades, intents, signals in {seconds:.1f} s")
    duck = connect(db_file, read_only=True)
    ref, _ = timed(lambda: duck.sql("SELECT count(*), sum(price * quantity) FROM trades")
                   .fetchall())
    duck.close()
    print(f"reference: DuckDB scan of {trades} trades         {ref:8.3f} s")
    for name, action in (
        ("overview", lambda: overview(db_file)),
        ("incidents", lambda: run_query(db_file, "incidents")),
        ("daily-pnl", lambda: run_query(db_file, "daily-pnl")),
        ("performance", lambda: run_query(db_file, "performance")),
        ("breaker-time", lambda: run_query(db_file, "breaker-time")),
    ):
        seconds, table = timed(action)
        print(f"{name:<12} over {trades} trades: {seconds:7.3f} s  ({seconds / ref:6.1f} x scan,"
              f" {table.num_rows} rows, target <= 2 s)")
    view = JournalView(db_file)
    try:
        episode = load_episodes(view)[-1]
        seconds, report = timed(lambda: build_incident_report(view, episode, {}))
        html_s, page = timed(lambda: to_html(report))
        print(f"incident report (journal prices) build {seconds:.2f} s, HTML {html_s:.3f} s, "
              f"{len(page) / 1e3:.0f} kB")
        seconds, report = timed(lambda: build_session_report(view, "bench"))
        print(f"session report over {trades} trades: {seconds:.2f} s")
    finally:
        view.close()


def main() -> None:
    """Run the analytics bench."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="journal rows to refresh")
    parser.add_argument("--trades", type=int, default=10_000_000, help="synthetic trades")
    parser.add_argument("--dir", type=Path, default=None, help="work directory (default tmp)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        bench_refresh(Path(tmp) / "refresh", args.rows)
        bench_queries(Path(tmp) / "bench", args.trades)


if __name__ == "__main__":
    main()
