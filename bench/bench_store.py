"""Print state-store figures: commit latency per durability mode vs raw fsync, restart time.

Run: python bench/bench_store.py [--quick] [--dir DIR]
Figures are printed, not asserted; ratios compare against a reference measured in the same
run on the same disk (raw 4 KB append + fsync).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.clock import SimulatedClock
from engine.model import OrderIntent, OrderRequest, OrderStatus, Side
from engine.ports import Batch
from tradeguard.store import seal
from tradeguard.store.sqlite_store import SqliteStore

START = datetime(2026, 1, 5, tzinfo=UTC)
RESTART_TARGET_MS = 50.0  # issue 15 target 3: restart-to-ready after a crash
STATE = {
    "breaker": {"state": "CLOSED", "failures": [], "opened_at": None},
    "risk": {"daily_pnl": -250.5, "daily_trades": 5, "trading_day": "2026-01-05"},
    "counters": {"bars": 0},
}


def percentiles(samples: list[float]) -> tuple[float, float]:
    """Return p50 and p99 in microseconds."""
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return p50 * 1e6, p99 * 1e6


def timed(action: Callable[[int], object], n: int) -> list[float]:
    """Return per-call durations of action(i) for i in range(n)."""
    out = []
    for i in range(n):
        begin = time.perf_counter()
        action(i)
        out.append(time.perf_counter() - begin)
    return out


def fsync_append(directory: Path, n: int) -> list[float]:
    """Time a 4 KB append followed by os.fsync, the floor for any power-safe commit."""
    path = directory / "fsync.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    block = b"x" * 4096
    try:
        return timed(lambda _i: (os.write(fd, block), os.fsync(fd)), n)
    finally:
        os.close(fd)
        path.unlink()


def intent(i: int, prefix: str) -> OrderIntent:
    """Return a fresh PENDING_SUBMIT intent."""
    at = START + timedelta(minutes=i)
    request = OrderRequest(f"{prefix}-{i:08d}", "BTC", Side.BUY, 0.01, 97000.0, at)
    return OrderIntent(request, OrderStatus.PENDING_SUBMIT, at)


def commit_latency(directory: Path, durability: str, n: int) -> dict[str, float]:
    """Time commits of one intent, and of one intent plus three state sections."""
    clock = SimulatedClock(START)
    store = SqliteStore(directory / f"{durability}.db", durability, clock=clock)  # type: ignore[arg-type]
    try:
        only = timed(lambda i: store.commit(Batch(intents=[intent(i, "a")])), n)

        def with_state(i: int) -> None:
            state = dict(STATE, counters={"bars": i})
            store.commit(Batch(intents=[intent(i, "b")], state=state))

        both = timed(with_state, n)
    finally:
        store.close()
    p50, p99 = percentiles(only)
    s50, s99 = percentiles(both)
    return {"p50": p50, "p99": p99, "state_p50": s50, "state_p99": s99}


def populate(path: Path, trades: int) -> None:
    """Create a store holding `trades` fills and as many final intents, plus a few open ones."""
    SqliteStore(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    chunk = 50_000
    for base in range(0, trades, chunk):
        ids = range(base, min(trades, base + chunk))
        stamps = [(START + timedelta(seconds=i)).isoformat(timespec="microseconds") for i in ids]
        conn.executemany(
            "INSERT INTO order_intents VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                (
                    f"c-{i:09d}",
                    "BTC",
                    "BUY",
                    0.01,
                    97000.0,
                    None,
                    0,
                    1.0,
                    "FILLED",
                    f"b-{i}",
                    "",
                    ts,
                    ts,
                )
                for i, ts in zip(ids, stamps, strict=True)
            ),
        )
        conn.executemany(
            "INSERT INTO trades (fill_id, client_order_id, symbol, side, quantity, price, fee, "
            "ts) VALUES (?,?,?,?,?,?,?,?)",
            (
                (f"f-{i:09d}", f"c-{i:09d}", "BTC", "BUY", 0.01, 97000.0, 0.05, ts)
                for i, ts in zip(ids, stamps, strict=True)
            ),
        )
    conn.execute("COMMIT")
    conn.close()
    store = SqliteStore(path)
    store.commit(Batch(intents=[intent(i, "open") for i in range(3)], state=STATE))
    store.close()


def restart(path: Path, verify: str, runs: int = 3, crashed: bool = False) -> dict[str, float]:
    """Return the best-of-runs open+check+load time and the load() time alone, in ms.

    crashed=True drops the clean-close seal before each open, as a killed process leaves it.
    """
    opens, loads = [], []
    for _ in range(runs):
        if crashed:
            seal.remove(path)
        begin = time.perf_counter()
        store = SqliteStore(path, verify=verify)  # type: ignore[arg-type]
        opened = time.perf_counter()
        recovered = store.load()
        done = time.perf_counter()
        store.close()
        assert len(recovered.open_intents) == 3
        opens.append(done - begin)
        loads.append(done - opened)
    return {"ready_ms": min(opens) * 1e3, "load_ms": min(loads) * 1e3}


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10k/100k journals only")
    parser.add_argument("--dir", type=Path, default=None, help="directory on the disk to test")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        directory = Path(tmp)
        n = 2000 if args.quick else 5000
        fsync50, fsync99 = percentiles(fsync_append(directory, 300 if args.quick else 1000))
        print(f"disk: {directory}  sqlite {sqlite3.sqlite_version}")
        print(f"raw 4KB append+fsync   p50 {fsync50:9.1f} us  p99 {fsync99:9.1f} us")
        for durability in ("kill9", "power"):
            count = n if durability == "kill9" else n // 5
            f = commit_latency(directory, durability, count)
            print(
                f"{durability:6} intent commit   p50 {f['p50']:9.1f} us  p99 {f['p99']:9.1f} us"
                f"  | +3 state sections p50 {f['state_p50']:7.1f} us p99 {f['state_p99']:8.1f}"
                f"  | p50/fsync {f['p50'] / fsync50:5.2f}"
            )
        sizes = (10_000, 100_000) if args.quick else (10_000, 100_000, 1_000_000)
        for size in sizes:
            path = directory / f"journal-{size}.db"
            begin = time.perf_counter()
            populate(path, size)
            built = time.perf_counter() - begin
            mb = path.stat().st_size / 1e6
            crash = restart(path, "full", crashed=True)
            clean = restart(path, "full")
            print(
                f"restart {size:>9,} trades ({mb:6.1f} MB, built {built:5.1f}s): after a crash "
                f"(integrity_check, every page) {crash['ready_ms']:8.1f} ms = "
                f"{crash['ready_ms'] / RESTART_TARGET_MS:5.2f}x the {RESTART_TARGET_MS:.0f} ms "
                f"target  | after a clean stop (sealed) {clean['ready_ms']:7.1f} ms = "
                f"{clean['ready_ms'] / RESTART_TARGET_MS:5.2f}x  load() {clean['load_ms']:6.2f} ms"
            )
            path.unlink()


if __name__ == "__main__":
    main()
