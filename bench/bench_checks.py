"""Print data-check figures: the GX market-data suite on the FTX month, the audit on a big journal.

Run: python bench/bench_checks.py [--rows N] [--data DIR]
Figures are printed, not asserted. References are measured in the same run on the same data:
the engine's own per-bar validator (engine/feed.py BarValidator) for the market-data suite, and
the plain-SQL journal pre-check (tradeguard/store/invariants.py) for the audit.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.feed import BarValidator, FeedConfig, load_bars
from tradeguard.data import find_data_dir
from tradeguard.store.invariants import check_journal
from tradeguard.store.schema import migrate

FTX = "btc-perp_ftx_1m.csv.gz"
START = datetime(2026, 1, 5, tzinfo=UTC)


def seconds(action: Any, *args: Any) -> tuple[float, Any]:
    """Return (elapsed seconds, result) of one call."""
    begin = time.perf_counter()
    result = action(*args)
    return time.perf_counter() - begin, result


def engine_validator_pass(path: Path) -> int:
    """Read the file and judge every bar with the engine's validator (the reference)."""
    validator = BarValidator(FeedConfig())
    bad = 0
    for item in load_bars(path, "BTC-PERP"):
        if item.bar is None or not validator.observe(item.bar).ok:
            bad += 1
    return bad


def bench_market_data(data_dir: Path) -> None:
    """Time the market-data suite on the 45k-bar FTX month against the engine's validator."""
    path = data_dir / FTX
    t_import, _ = seconds(__import__, "great_expectations")
    from checks.market_data import BarSource, MarketDataChecker, MarketDataParams

    t_setup, checker = seconds(MarketDataChecker)
    params = MarketDataParams()
    source = [BarSource(path, "BTC-PERP")]
    runs = [seconds(checker.check, source, params)[0] for _ in range(3)]
    t_ref, bad = seconds(engine_validator_pass, path)
    best = min(runs)
    print(f"market data, FTX month ({path.name}, 45,031 bars)")
    print(f"  great_expectations import      {t_import:7.2f} s (once per process)")
    print(f"  context + suite set-up         {t_setup:7.2f} s")
    print(f"  suite run (read+derive+GX)     {best:7.2f} s  best of {len(runs)}; "
          f"{45_031 / best:,.0f} bars/s")
    print(f"  reference: engine validator    {t_ref:7.2f} s  ({bad} bad bars)")
    print(f"  ratio suite / reference        {best / t_ref:7.1f} x")


class Store:
    """The Queryable of tradeguard/store/invariants.py over a plain sqlite3 connection."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(path)

    def _fetch(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, params).fetchall()

    def close(self) -> None:
        self._conn.close()


def synthetic_journal(path: Path, rows: int) -> None:
    """Write a store with `rows` fills, one FILLED intent and one ordered signal for each."""
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("BEGIN")
    chunk = 100_000
    for first in range(0, rows, chunk):
        intents, fills, signals = [], [], []
        for n in range(first, min(rows, first + chunk)):
            at = (START + timedelta(minutes=n)).isoformat(timespec="microseconds")
            cid = f"sma-BTC-USD-{n:08d}"
            side = "BUY" if n % 2 == 0 else "SELL"
            price = 40_000.0 + (n % 500)
            intents.append((cid, "BTC-USD", side, 0.01, price, None, 0, 0.5, "FILLED",
                            f"paper-{cid}", "sma", at, at))
            fills.append((f"{cid}-1", cid, "BTC-USD", side, 0.01, price * 1.0001, 0.2, at))
            signals.append((at, "BTC-USD", side, 0.5, at, 10, 30, "ordered", "cross", cid))
        conn.executemany("INSERT INTO order_intents VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", intents)
        conn.executemany("INSERT INTO trades (fill_id, client_order_id, symbol, side, quantity,"
                         " price, fee, ts) VALUES (?,?,?,?,?,?,?,?)", fills)
        conn.executemany("INSERT INTO signals (at, symbol, side, confidence, bar_time, fast,"
                         " slow, outcome, reason, client_order_id) VALUES (?,?,?,?,?,?,?,?,?,?)",
                         signals)
    moves = [("CLOSED", "ALERT", "consecutive_failures"), ("ALERT", "CLOSED", "cooldown")]
    conn.executemany(
        "INSERT INTO breaker_events (at, from_state, to_state, trigger, reason) "
        "VALUES (?, ?, ?, ?, 'bench')",
        [((START + timedelta(hours=n)).isoformat(), *moves[n % 2]) for n in range(1000)])
    conn.execute("COMMIT")
    conn.close()


def bench_journal(rows: int) -> None:
    """Time the journal + breaker audit on a synthetic store against the plain-SQL pre-check."""
    from checks.audit import audit
    from checks.journal_suite import JournalParams

    with tempfile.TemporaryDirectory(prefix="bench-checks-") as scratch:
        path = Path(scratch) / "state.db"
        t_build, _ = seconds(synthetic_journal, path, rows)
        store = Store(path)
        t_ref, problems = seconds(check_journal, store)
        store.close()
        params = JournalParams(max_daily_trades=10_000)
        t_audit, report = seconds(audit, path, params)
        size = path.stat().st_size / 1e6
    print(f"journal audit, synthetic store ({rows:,} fills + {rows:,} intents + {rows:,} "
          f"signals + 1,000 breaker events, {size:,.0f} MB; built in {t_build:.1f} s)")
    print(f"  audit (snapshot + GX suites)   {t_audit:7.2f} s  {report.summary()}")
    print(f"  reference: store invariants    {t_ref:7.2f} s  ({len(problems)} problems)")
    print(f"  ratio audit / reference        {t_audit / t_ref:7.1f} x")


def main() -> None:
    """Parse options and print both figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="fills in the journal")
    parser.add_argument("--data", type=Path, default=None, help="market data directory")
    args = parser.parse_args()
    bench_market_data(args.data or find_data_dir())
    print()
    bench_journal(args.rows)


if __name__ == "__main__":
    main()
