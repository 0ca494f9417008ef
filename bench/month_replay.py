"""Shared by the benches: replay the FTX month through tradeguard as `tradeguard replay` wires it.

The bars are parsed once (parsing is not part of the timed loop, as NautilusTrader's bars are
wrangled before `run()`); each run gets a fresh state directory, so the SQLite journal, the
paper book and the state-dir lock are the real ones of `services.run_session`.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.feed import FeedItem
from tradeguard import bootstrap
from tradeguard.data import find_data_dir
from tradeguard.requests import DataSpec, ReplayRequest
from tradeguard.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
MONTH_FILE = "btc-perp_ftx_1m.csv.gz"
SYMBOL = "BTC-PERP"


@dataclass(frozen=True)
class MonthRun:
    """One timed session.run() over the month."""

    bars: int
    seconds: float
    orders: int
    cpu_seconds: float

    @property
    def bars_per_second(self) -> float:
        """Return the replay throughput (wall time)."""
        return self.bars / self.seconds

    @property
    def cpu_bars_per_second(self) -> float:
        """Return the replay throughput per second of this process's CPU time."""
        return self.bars / self.cpu_seconds


def month_path() -> Path:
    """Return the FTX January 2022 month file in the shared data directory."""
    return find_data_dir(REPO) / MONTH_FILE


def load_month(path: Path) -> list[FeedItem]:
    """Parse and check the month's bars once, as the replay use case reads them."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(store={"state_dir": Path(tmp)})
        request = ReplayRequest(data=(DataSpec(path=path, symbol=SYMBOL),))
        return list(bootstrap.feed_items(settings, request))


def replay_month(
    items: list[FeedItem], *, dry_run: bool, strategy_class: str | None = None
) -> MonthRun:
    """Run one fresh session over items with the SQLite journal; time session.run() alone.

    strategy_class replaces the default SMA crossover (`strategy.class`), e.g. the bench's
    strategy that never signals (bench/noop_strategy.py).
    """
    overrides: dict[str, Any] = {}
    if strategy_class is not None:
        overrides["strategy"] = {"class": strategy_class}
    with tempfile.TemporaryDirectory(prefix="tg-bench-") as tmp:
        settings = load_settings(
            store={"state_dir": Path(tmp)}, session={"dry_run": dry_run}, **overrides
        )
        first, stream = bootstrap.first_bar_time(items)
        runtime = bootstrap.build_runtime(settings, seed=0, faults=None, first_bar=first)
        try:
            runtime.session.recover(runtime.recovered.open_intents)
            began, cpu_began = time.perf_counter(), time.process_time()
            runtime.session.run(stream)
            seconds, cpu_seconds = time.perf_counter() - began, time.process_time() - cpu_began
            execution = runtime.session.snapshot()["execution"]
        finally:
            runtime.close()
    return MonthRun(len(items), seconds, int(execution["orders_submitted"]), cpu_seconds)
