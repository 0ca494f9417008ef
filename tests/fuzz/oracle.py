"""Replay a generated bar file in-process the way `tradeguard replay` does, and judge it.

The verdict is a problem string (a hole) or None. Right outcomes: a TradeguardError with a
message (the CLI prints `error: ...` and exits 2), or a completed session in which every fill
happened on an untouched real bar, at its open within the price collar, in time order, and no
more bars were skipped than the generator touched.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from engine.errors import TradeguardError
from tests.fuzz.bar_cases import SYMBOL, BarCase, parse_ts
from tradeguard import bootstrap, services
from tradeguard.requests import DataSpec, ReplayRequest
from tradeguard.settings import Settings, load_settings
from tradeguard.store.files import store_path
from tradeguard.store.union import open_reader


@dataclass(frozen=True)
class Outcome:
    """What one in-process replay did: an error message, or the summary and the fills."""

    error: str | None
    bars: int = 0
    bad_bars: int = 0
    fills: tuple[tuple[datetime | None, float], ...] = ()


def replay(data: Path, state_dir: Path, faults: Path | None = None) -> Outcome:
    """Run the replay use case on data with a fresh state dir; only TradeguardError is caught."""
    settings = load_settings(store={"state_dir": state_dir})
    state_dir.mkdir(parents=True, exist_ok=True)
    request = ReplayRequest(data=(DataSpec(path=data, symbol=SYMBOL),), faults=faults, seed=3)
    try:
        result = services.run_session(bootstrap.bootstrap(settings), request)
    except TradeguardError as e:
        return Outcome(error=str(e) or f"<empty {type(e).__name__} message>")
    summary = result.summary
    return Outcome(None, summary.bars, summary.bad_bars, journal_fills(state_dir))


def journal_fills(state_dir: Path) -> tuple[tuple[datetime | None, float], ...]:
    """Return (bar time, price) of every fill journaled in the state store, in journal order."""
    with closing(open_reader(store_path(state_dir))) as conn:  # state.db with history.db
        rows = conn.execute("SELECT ts, price FROM trades ORDER BY id").fetchall()
    return tuple((parse_ts(str(ts)), float(price)) for ts, price in rows)


def collar(settings: Settings) -> float:
    """Return the widest honest distance of a fill from its bar open, as a fraction."""
    broker = settings.broker
    slippage = (broker.slippage_pct + broker.slippage_jitter_pct) / 100.0
    return max(slippage, settings.risk.price_collar_pct / 100.0) + 1e-9


def judge(case: BarCase, outcome: Outcome, tolerance: float) -> str | None:
    """Return why the outcome is wrong for the case, or None when it is right."""
    if outcome.error is not None:
        return None if outcome.error.strip() else "TradeguardError without a message"
    if case.must_refuse:
        return (f"unusable file accepted: session completed with bars={outcome.bars} "
                f"bad_bars={outcome.bad_bars} (expected a clear error, exit 2)")
    problem = _bad_fill(case, outcome, tolerance)
    if problem is None and case.max_bad is not None and outcome.bad_bars > case.max_bad:
        problem = (f"{outcome.bad_bars} bars skipped for {case.max_bad} bad row(s): good bars "
                   "after the bad one were lost")
    return problem


def _bad_fill(case: BarCase, outcome: Outcome, tolerance: float) -> str | None:
    last: datetime | None = None
    for ts, price in outcome.fills:
        if ts is None or ts not in case.valid:
            return f"fill at {price} on a bar that is not a valid input bar (ts={ts})"
        reference = case.valid[ts]
        if abs(price / reference - 1.0) > tolerance:
            return f"fill at {price} on bar {ts.isoformat()} whose open is {reference}"
        if last is not None and ts < last:
            return f"fill on bar {ts.isoformat()} after a fill on {last.isoformat()} (out of order)"
        last = ts
    return None


def run_case(case: BarCase, directory: Path, number: int, tolerance: float) -> str | None:
    """Write, replay and judge one case; any exception but TradeguardError is the hole."""
    path = case.write(directory, number)
    try:
        outcome = replay(path, directory / f"state-{number:04d}")
    except Exception as e:
        return f"traceback: {type(e).__name__}: {str(e)[:200]}"
    return judge(case, outcome, tolerance)
