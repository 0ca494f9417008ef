"""Replay throughput in bars/s: parsing, the session loop without orders, and with orders.

Uses the real FTX BTC-PERP month (45,031 bars) from ../shared/data. The loop figures use
preloaded bars so parsing is reported separately; "journal" rows use the real SQLite store in
a temporary directory, "memory" rows the in-memory store. Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.assembly import EngineConfig, assemble
from engine.broker import BrokerConfig, PaperBroker
from engine.circuit_breaker import CircuitConfig
from engine.clock import SimulatedClock
from engine.feed import FeedConfig, FeedItem
from engine.paper_book import InMemoryPaperBook
from engine.ports import EngineStore, InMemoryStore
from engine.risk import RiskConfig
from engine.session import SessionConfig
from engine.strategy import StrategyConfig
from tradeguard.data import find_data_dir
from tradeguard.marketdata import load_bars
from tradeguard.store.polling import ThrottledCommands
from tradeguard.store.sqlite_store import SqliteStore

REPO = Path(__file__).resolve().parents[1]


def run_once(items: list[FeedItem], store: EngineStore | Any, dry_run: bool) -> tuple[float, int]:
    """Run one session over items; return (seconds, orders submitted)."""
    config = EngineConfig(
        breaker=CircuitConfig(),
        risk=RiskConfig(max_daily_trades=10_000, max_position=10.0),
        strategy=StrategyConfig(),
        broker=BrokerConfig(),
        feed=FeedConfig(),
        session=SessionConfig(dry_run=dry_run),
    )
    first = items[0].ts
    clock = SimulatedClock(first)
    broker = PaperBroker(config.broker, clock, InMemoryPaperBook(), None, seed=1)
    session = assemble(config, clock=clock, store=store, broker=broker, recovered=store.load())
    began = time.perf_counter()
    session.run(items)
    elapsed = time.perf_counter() - began
    return elapsed, int(session.snapshot()["execution"]["orders_submitted"])


def best(repeat: int, make: Callable[[], tuple[float, int]]) -> tuple[float, int]:
    """Return the fastest of `repeat` runs."""
    runs = [make() for _ in range(repeat)]
    return min(runs, key=lambda r: r[0])


def main() -> None:
    """Measure and print replay throughput."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    path = find_data_dir(REPO) / "btc-perp_ftx_1m.csv.gz"
    began = time.perf_counter()
    items = load_bars(path, "BTC-PERP")
    parse = time.perf_counter() - began
    n = len(items)
    print(f"bars in file                         {n:>10,}")
    print(f"parse + check (csv.gz)               {n / parse:>10,.0f} bars/s")
    rows: list[tuple[str, Callable[[], tuple[float, int]]]] = [
        ("loop, no orders, memory store", lambda: run_once(items, InMemoryStore(), True)),
        ("loop, with orders, memory store", lambda: run_once(items, InMemoryStore(), False)),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(1_000_000))

        def sqlite(dry_run: bool) -> tuple[float, int]:
            store = SqliteStore(Path(tmp) / f"s{next(counter)}.sqlite")
            try:
                # As the composition root wires it: command polls throttled by wall time.
                return run_once(items, ThrottledCommands(store), dry_run)
            finally:
                store.close()

        rows += [
            ("loop, no orders, sqlite journal", lambda: sqlite(True)),
            ("loop, with orders, sqlite journal", lambda: sqlite(False)),
        ]
        results: dict[str, Any] = {}
        for name, make in rows:
            seconds, orders = best(args.repeat, make)
            results[name] = n / seconds
            print(f"{name:<36} {n / seconds:>10,.0f} bars/s  ({orders} orders)")
    print(f"target: >= 300,000 bars/s without orders; "
          f"ratio {results['loop, no orders, sqlite journal'] / 300_000:.2f}")


if __name__ == "__main__":
    main()
