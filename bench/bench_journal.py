"""Journal cost per order in the FTX month vs the raw one-transaction floor (issue 15, target 1).

Run: .venv/bin/python bench/bench_journal.py [--repeat N] [--floor-orders N]

tradeguard side: the month replay with the default SMA 10/30 strategy, wired as `tradeguard
replay` wires it (kill9 durability, fresh state directory); every SqliteStore.commit is timed
(JSON encoding of the snapshot sections included, since it happens inside commit). The cost
per order is the time of the commits that carry an intent or a fill, divided by the orders
submitted; the time of all commits per order is shown too (signals, checkpoints, equity),
and the order commits that took 5 ms or more (a WAL checkpoint inside, or a disk stall).
The engine's own work to build the batches (snapshot()) is outside commit and not counted.

Floor, measured in the same run on the same disk: one raw-SQL transaction on a store of the
same schema (WAL, synchronous=NORMAL) inserting the intent, the acknowledgement update, the
fill row and the position upsert. Medians of N month runs; figures, not asserts.

Design floor: the statements and rows of the month's own order-carrying commits (as the store
planned them), replayed by raw sqlite3 on a fresh store in a tight loop, the way the floor
runs: what tradeguard's two commits per order cost with no Python conversion or bookkeeping
at all. Its ratio to the floor is the least the journal cost per order could reach while it
writes what it writes; the WAL frames (pages) written per order show why.
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_store import percentiles
from bench.month_replay import load_month, month_path, replay_month
from engine.feed import FeedItem
from engine.ports import Batch
from tradeguard.store import sqlite_store
from tradeguard.store.commit_plan import CommitPlan, plan_batch
from tradeguard.store.sqlite_store import SqliteStore

START = datetime(2022, 1, 1, tzinfo=UTC)
# An order commit this slow ran a WAL checkpoint (about 20 ms per 1000 pages here) or met a
# disk stall; checkpoints belong to order-free commits (tradeguard/store/wal.py).
STALL_MS = 5.0

FLOOR_SQL = (
    (
        "INSERT INTO order_intents VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        lambda i, ts: (f"sma-{i:08d}", "BTC-PERP", "BUY", 0.01, 47000.0, None, 0, 0.8,
                       "PENDING_SUBMIT", None, "", ts, ts),
    ),
    (
        "UPDATE order_intents SET status = ?, broker_order_id = ?, updated_at = ? "
        "WHERE client_order_id = ?",
        lambda i, ts: ("FILLED", f"paper-{i}", ts, f"sma-{i:08d}"),
    ),
    (
        "INSERT INTO trades (fill_id, client_order_id, symbol, side, quantity, price, fee, ts) "
        "VALUES (?,?,?,?,?,?,?,?)",
        lambda i, ts: (f"fill-{i:08d}", f"sma-{i:08d}", "BTC-PERP", "BUY", 0.01, 47003.5,
                       0.24, ts),
    ),
    (
        "INSERT INTO positions VALUES (?,?,?,?,?) ON CONFLICT(symbol) DO UPDATE SET "
        "quantity = excluded.quantity, average_price = excluded.average_price, "
        "realized_pnl = excluded.realized_pnl, updated_at = excluded.updated_at",
        lambda i, ts: ("BTC-PERP", 0.01 * (i % 2), 47003.5, 1.5 * i, ts),
    ),
)


@dataclass
class CommitTimes:
    """Durations of SqliteStore.commit calls, split by whether the batch carries an order."""

    order: list[float] = field(default_factory=list)
    other: list[float] = field(default_factory=list)
    intent: list[float] = field(default_factory=list)  # order commits without a fill
    fill: list[float] = field(default_factory=list)  # order commits with a fill
    plans: list[CommitPlan] = field(default_factory=list)  # of the order commits, in order


@contextmanager
def timed_commits() -> Iterator[CommitTimes]:
    """Wrap SqliteStore.commit with a timer (and keep its order commits' plans) in the block."""
    times = CommitTimes()
    original: Callable[[SqliteStore, Batch], None] = SqliteStore.commit
    planner = plan_batch
    planned: list[CommitPlan] = []

    def plan(batch: Batch, now: Callable[[], str], committed: Mapping[str, str]) -> CommitPlan:
        planned.append(planner(batch, now, committed))
        return planned[-1]

    def commit(self: SqliteStore, batch: Batch) -> None:
        planned.clear()
        began = time.perf_counter()
        try:
            original(self, batch)
        finally:
            elapsed = time.perf_counter() - began
            (times.order if batch.intents or batch.fills else times.other).append(elapsed)
            if batch.fills:
                times.fill.append(elapsed)
            elif batch.intents:
                times.intent.append(elapsed)
            if (batch.intents or batch.fills) and planned:
                times.plans.append(planned[-1])

    SqliteStore.commit = commit  # type: ignore[method-assign]
    sqlite_store.plan_batch = plan  # type: ignore[attr-defined]
    try:
        yield times
    finally:
        SqliteStore.commit = original  # type: ignore[method-assign,assignment]
        sqlite_store.plan_batch = planner  # type: ignore[attr-defined]


def floor_transactions(directory: Path, n: int) -> list[float]:
    """Time n raw one-transaction orders on a fresh store of tradeguard's schema."""
    path = directory / "floor.sqlite"
    SqliteStore(path, "kill9").close()  # the real schema, then raw SQL only
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        out = []
        for i in range(n):
            ts = (START + timedelta(minutes=i)).isoformat(timespec="microseconds")
            began = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            for statement, params in FLOOR_SQL:
                conn.execute(statement, params(i, ts))
            conn.execute("COMMIT")
            out.append(time.perf_counter() - began)
    finally:
        conn.close()
    return out


def _raw_store(directory: Path, name: str, *, checkpoints: bool) -> sqlite3.Connection:
    """Return a raw connection to a fresh store of tradeguard's schema (WAL, NORMAL)."""
    path = directory / name
    SqliteStore(path, "kill9").close()  # the real schema, then raw SQL only
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    if not checkpoints:  # the WAL keeps every frame, so its length counts the pages written
        conn.execute("PRAGMA wal_autocheckpoint=0")
    return conn


def _replay_plan(conn: sqlite3.Connection, plan: CommitPlan) -> None:
    """Run one planned commit as SqliteStore.commit runs it, without the store around it."""
    lone = plan.lone_row()
    if lone is not None:
        conn.execute(*lone)
        return
    conn.execute("BEGIN IMMEDIATE")
    plan.execute(conn)
    conn.execute("COMMIT")


def design_floor(directory: Path, plans: list[CommitPlan]) -> tuple[list[float], list[float]]:
    """Time the month's order commits replayed by raw sqlite3 (their SQL and nothing else).

    Returns the durations of the lone-statement commits (intents) and of the others.
    """
    conn = _raw_store(directory, "design.sqlite", checkpoints=True)
    lone: list[float] = []
    other: list[float] = []
    try:
        for plan in plans:
            began = time.perf_counter()
            _replay_plan(conn, plan)
            (lone if plan.lone_row() is not None else other).append(time.perf_counter() - began)
    finally:
        conn.close()
    return lone, other


def _wal_frames(conn: sqlite3.Connection) -> float:
    """Return the frames in the WAL of conn's database (checkpoints off: it only grows)."""
    name = str(conn.execute("PRAGMA database_list").fetchone()[2])
    page = int(conn.execute("PRAGMA page_size").fetchone()[0])
    wal = Path(f"{name}-wal")
    size = wal.stat().st_size if wal.exists() else 0
    return max(0, size - 32) / (page + 24)  # a 32-byte header, then a 24-byte one per frame


def frames_per_order(directory: Path, plans: list[CommitPlan], orders: int) -> tuple[float, float]:
    """Return WAL frames written per order by the floor and by the month's order commits."""
    floor = _raw_store(directory, "floor-frames.sqlite", checkpoints=False)
    design = _raw_store(directory, "design-frames.sqlite", checkpoints=False)
    try:
        start = _wal_frames(floor)
        for i in range(orders):
            ts = (START + timedelta(minutes=i)).isoformat(timespec="microseconds")
            floor.execute("BEGIN IMMEDIATE")
            for statement, params in FLOOR_SQL:
                floor.execute(statement, params(i, ts))
            floor.execute("COMMIT")
        floor_frames = (_wal_frames(floor) - start) / max(1, orders)
        start = _wal_frames(design)
        for plan in plans:
            _replay_plan(design, plan)
        design_frames = (_wal_frames(design) - start) / max(1, orders)
    finally:
        floor.close()
        design.close()
    return floor_frames, design_frames


@dataclass(frozen=True)
class MonthJournal:
    """Journal figures of one month replay with orders."""

    orders: int
    order_commits: int
    order_us: float  # order-carrying commit time per order
    all_us: float  # every commit's time per order
    commits: int
    bars_per_second: float
    commit_p50_us: float  # of the order-carrying commits
    commit_p99_us: float
    typical_us: float  # per order: sum over intent and fill commits of (count/order) x p50
    intent_p50_us: float
    fill_p50_us: float
    stalls: int  # order-carrying commits of STALL_MS or more (a checkpoint inside, typically)
    design_us: float  # the order commits' SQL replayed raw, per order (mean)
    design_typical_us: float  # the same by medians (as typical_us)
    floor_frames: float  # WAL frames per order: the floor's one transaction
    design_frames: float  # WAL frames per order: the month's order commits


def month_journal(items: list[FeedItem]) -> MonthJournal:
    """Replay the month with orders once, timing every store commit."""
    with timed_commits() as times:
        run = replay_month(items, dry_run=False)
    orders = max(1, run.orders)
    p50, p99 = percentiles(times.order) if times.order else (0.0, 0.0)
    intent_p50 = percentiles(times.intent)[0] if times.intent else 0.0
    fill_p50 = percentiles(times.fill)[0] if times.fill else 0.0
    with tempfile.TemporaryDirectory(prefix="tg-design-") as tmp:
        lone, other = design_floor(Path(tmp), times.plans)
        floor_frames, design_frames = frames_per_order(Path(tmp), times.plans, orders)
    return MonthJournal(
        orders=run.orders,
        order_commits=len(times.order),
        order_us=sum(times.order) / orders * 1e6,
        all_us=(sum(times.order) + sum(times.other)) / orders * 1e6,
        commits=len(times.order) + len(times.other),
        bars_per_second=run.bars_per_second,
        commit_p50_us=p50,
        commit_p99_us=p99,
        typical_us=(len(times.intent) * intent_p50 + len(times.fill) * fill_p50) / orders,
        intent_p50_us=intent_p50,
        fill_p50_us=fill_p50,
        stalls=sum(1 for t in times.order if t * 1e3 >= STALL_MS),
        design_us=(sum(lone) + sum(other)) / orders * 1e6,
        design_typical_us=sum(len(d) * percentiles(d)[0] for d in (lone, other) if d) / orders,
        floor_frames=floor_frames,
        design_frames=design_frames,
    )


def main() -> None:
    """Measure the floor and the month's journal cost, alternating; print the table."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--floor-orders", type=int, default=2000,
                        help="raw transactions per floor run")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    items = load_month(month_path())
    months: list[MonthJournal] = []
    floor_mean: list[float] = []
    floor_p50: list[float] = []
    floor_p99: list[float] = []
    for i in range(max(1, args.repeat)):
        print(f"run {i + 1}/{max(1, args.repeat)} ...", flush=True)
        with tempfile.TemporaryDirectory(prefix="tg-floor-") as tmp:
            samples = floor_transactions(Path(tmp), args.floor_orders)
        p50, p99 = percentiles(samples)
        floor_mean.append(statistics.fmean(samples) * 1e6)
        floor_p50.append(p50)
        floor_p99.append(p99)
        months.append(month_journal(items))
    print_table(months, statistics.median(floor_mean), statistics.median(floor_p50),
                statistics.median(floor_p99), sqlite3.sqlite_version)


def print_table(
    months: list[MonthJournal], mean: float, p50: float, p99: float, version: str
) -> None:
    """Print the per-order journal cost against the floor."""
    order_us = statistics.median(m.order_us for m in months)
    all_us = statistics.median(m.all_us for m in months)
    orders = int(statistics.median(m.orders for m in months))
    per_order = statistics.median(m.order_commits / max(1, m.orders) for m in months)
    commits = int(statistics.median(m.commits for m in months))
    rate = statistics.median(m.bars_per_second for m in months)
    ratio = order_us / mean
    c50 = statistics.median(m.commit_p50_us for m in months)
    c99 = statistics.median(m.commit_p99_us for m in months)
    # Disk stalls dominate means on a shared machine; medians show the CPU-bound cost. The
    # intent commit and the fill commit differ in size: each kind is counted at its own p50.
    typical_us = statistics.median(m.typical_us for m in months)
    typical = typical_us / p50
    i50 = statistics.median(m.intent_p50_us for m in months)
    f50 = statistics.median(m.fill_p50_us for m in months)
    stalls = statistics.median(m.stalls for m in months)
    design_us = statistics.median(m.design_us for m in months)
    design_typical = statistics.median(m.design_typical_us for m in months)
    floor_frames = statistics.median(m.floor_frames for m in months)
    design_frames = statistics.median(m.design_frames for m in months)
    print(f"sqlite {version}; medians of {len(months)} runs; kill9 durability (WAL, NORMAL)")
    print(f"{'measurement':<58} {'value':>12}")
    print("-" * 71)
    rows = [
        ("floor: 1 raw transaction per order, mean (us)", f"{mean:,.1f}"),
        ("floor: p50 / p99 (us)", f"{p50:,.1f} / {p99:,.1f}"),
        (f"tradeguard month: orders submitted ({rate:,.0f} bars/s)", f"{orders:,}"),
        ("tradeguard: order-carrying commits per order", f"{per_order:.2f}"),
        ("tradeguard: journal cost per order, order commits (us)", f"{order_us:,.1f}"),
        ("tradeguard: order-carrying commit p50 / p99 (us)", f"{c50:,.1f} / {c99:,.1f}"),
        ("tradeguard: intent commit p50 / fill commit p50 (us)", f"{i50:,.1f} / {f50:,.1f}"),
        ("tradeguard: per order by medians (us)", f"{typical_us:,.1f}"),
        (f"tradeguard: order-carrying commits of {STALL_MS:.0f} ms or more", f"{stalls:,.0f}"),
        ("tradeguard: all commits of the month per order (us)", f"{all_us:,.1f}"),
        ("  commits in the month", f"{commits:,}"),
        ("ratio: journal cost per order / floor mean", f"{ratio:.2f}x"),
        ("ratio by medians: per order by medians / floor p50", f"{typical:.2f}x"),
        ("design floor: the order commits' SQL replayed raw (us/order)", f"{design_us:,.1f}"),
        ("ratio: design floor / floor mean", f"{design_us / mean:.2f}x"),
        ("ratio by medians: design floor / floor p50", f"{design_typical / p50:.2f}x"),
        ("WAL frames per order: floor / tradeguard", f"{floor_frames:.1f} / {design_frames:.1f}"),
    ]
    for name, value in rows:
        print(f"{name:<58} {value:>12}")
    status = "met" if ratio <= 2 else "NOT met"
    print(f"target: journal cost per order <= 2x the floor: {status}")


if __name__ == "__main__":
    main()
