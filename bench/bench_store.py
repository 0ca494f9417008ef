"""Print state-store figures: commit latency per durability mode vs raw fsync, restart time.

Run: python bench/bench_store.py [--quick] [--dir DIR] [--ten-million] [--single-file]
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
from tradeguard.store import archive, seal
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


def _insert_raw(path: Path, first: int, count: int) -> None:
    """Append `count` fills with their FILLED intents to the hot file with raw SQL (fast)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    chunk = 50_000
    for base in range(first, first + count, chunk):
        ids = range(base, min(first + count, base + chunk))
        stamps = [(START + timedelta(seconds=i)).isoformat(timespec="microseconds") for i in ids]
        conn.executemany(
            "INSERT INTO order_intents VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                (f"c-{i:09d}", "BTC", "BUY", 0.01, 97000.0, None, 0, 1.0, "FILLED", f"b-{i}",
                 "", ts, ts)
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


def populate(path: Path, trades: int, hot_trades: int, split: bool = True) -> float:
    """Build a journal of `trades` fills; return the seconds the archive moves took.

    split=True archives them into the history file through the production move, in steps of
    at most 1M rows (the hot file never holds more), then journals `hot_trades` more fills in
    the hot file (the rows since the last move) plus a few open intents. split=False keeps
    everything in state.db as a store before the split did (the old figures).
    """
    SqliteStore(path).close()
    moving = 0.0
    step = 1_000_000
    for first in range(0, trades, step):
        _insert_raw(path, first, min(step, trades - first))
        if split:
            begin = time.perf_counter()
            store = SqliteStore(path)
            store.archive()
            store.close()
            moving += time.perf_counter() - begin
    _insert_raw(path, trades, hot_trades)
    store = SqliteStore(path, archive_rows=10**9)
    store.commit(Batch(intents=[intent(i, "open") for i in range(3)], state=STATE))
    store.close()
    return moving


def restart(path: Path, verify: str, runs: int = 3, crashed: bool = False) -> dict[str, float]:
    """Return the best-of-runs open+check+load time and the load() time alone, in ms.

    crashed=True drops the hot file's clean-close seal before each open, as a killed process
    leaves it (the history file keeps the seal its last move wrote).
    """
    opens, loads = [], []
    for _ in range(runs):
        if crashed:
            seal.remove(path)
        begin = time.perf_counter()
        store = SqliteStore(path, verify=verify, archive_rows=10**9)  # type: ignore[arg-type]
        opened = time.perf_counter()
        recovered = store.load()
        done = time.perf_counter()
        history = store.history.verified if store.history is not None else "-"
        store.close()
        assert len(recovered.open_intents) == 3
        assert not crashed or history == "sealed", history
        opens.append(done - begin)
        loads.append(done - opened)
    return {"ready_ms": min(opens) * 1e3, "load_ms": min(loads) * 1e3}


def restart_figures(directory: Path, size: int, hot_trades: int, split: bool) -> None:
    """Build one journal and print its restart times against the target."""
    path = directory / f"journal-{size}.db"
    begin = time.perf_counter()
    moving = populate(path, size, hot_trades, split)
    built = time.perf_counter() - begin
    hot_mb = path.stat().st_size / 1e6
    history = archive.history_path(path)
    history_mb = history.stat().st_size / 1e6 if history.exists() else 0.0
    crash = restart(path, "full", crashed=True)
    clean = restart(path, "full")
    label = "split " if split else "1 file"
    print(
        f"restart {label} {size:>10,} trades (+{hot_trades:,} hot; state.db {hot_mb:6.1f} MB, "
        f"history.db {history_mb:7.1f} MB; built {built:6.1f}s, moves {moving:6.1f}s): "
        f"after a crash {crash['ready_ms']:8.1f} ms = "
        f"{crash['ready_ms'] / RESTART_TARGET_MS:5.2f}x the {RESTART_TARGET_MS:.0f} ms target"
        f"  | after a clean stop {clean['ready_ms']:6.1f} ms = "
        f"{clean['ready_ms'] / RESTART_TARGET_MS:5.2f}x  load() {clean['load_ms']:5.2f} ms"
    )
    for leftover in path.parent.glob(f"{path.stem}*"):
        leftover.unlink()


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10k/100k journals only")
    parser.add_argument("--dir", type=Path, default=None, help="directory on the disk to test")
    parser.add_argument("--ten-million", action="store_true", help="add a 10M-trade journal")
    parser.add_argument(
        "--hot-trades", type=int, default=archive.ARCHIVE_ROWS // 2,
        help="fills journaled since the last move (the hot file holds at most about "
        "ARCHIVE_ROWS journal rows between moves)",
    )
    parser.add_argument(
        "--single-file", action="store_true",
        help="also measure stores that keep everything in state.db (before the split)",
    )
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
        sizes = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
        if args.ten_million:
            sizes.append(10_000_000)
        for size in sizes:
            restart_figures(directory, size, args.hot_trades, split=True)
        if args.single_file:
            for size in sizes:
                restart_figures(directory, size, args.hot_trades, split=False)

if __name__ == "__main__":
    main()
