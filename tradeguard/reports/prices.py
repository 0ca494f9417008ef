"""Market prices for report charts: bars from the data files, equity marked to those bars."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from engine.errors import DataError
from tradeguard.marketdata import read_bars
from tradeguard.reports.charts import Candle
from tradeguard.reports.journal import JournalView, Window

DATA_SUFFIXES = (".csv.gz", ".csv", ".parquet")


def find_price_files(data_dir: Path | None, symbols: Sequence[str]) -> dict[str, Path]:
    """Return a data file per symbol found in data_dir (`<symbol>_*.csv.gz` and the like)."""
    if data_dir is None or not data_dir.is_dir():
        return {}
    found: dict[str, Path] = {}
    for symbol in symbols:
        prefix = f"{symbol.lower()}_"
        for path in sorted(data_dir.iterdir()):
            if path.name.lower().startswith(prefix) and path.name.endswith(DATA_SUFFIXES):
                found[symbol] = path
                break
    return found


def load_candles(path: Path, symbol: str, window: Window) -> list[Candle]:
    """Return the bars of symbol in the window from one data file (bad rows skipped)."""
    try:
        items = read_bars(path, symbol, window.start, window.end)
        return [
            Candle(i.bar.ts, i.bar.open, i.bar.high, i.bar.low, i.bar.close)
            for i in items
            if i.bar is not None
        ]
    except (OSError, ValueError) as e:
        message = f"cannot read prices for {symbol} from {path}: {e}"
        raise DataError(message) from e


def marked_equity(
    cash: float,
    positions: Mapping[str, float],
    fills: Sequence[Mapping[str, Any]],
    candles: Mapping[str, Sequence[Candle]],
    bar: timedelta = timedelta(minutes=1),
) -> list[tuple[datetime, float]]:
    """Return equity at each bar close: cash and positions after the fills, marked at closes.

    A fill stamped at a bar's start (the paper venue fills at the open) counts for that bar.
    """
    held = dict(positions)
    marks: dict[str, float] = {}
    events = sorted(
        (c.ts, symbol, c.close) for symbol, series in candles.items() for c in series
    )
    pending = sorted(fills, key=lambda f: f["ts"])
    out: list[tuple[datetime, float]] = []
    i = 0
    for ts, symbol, close in events:
        while i < len(pending) and pending[i]["ts"] <= ts:
            fill = pending[i]
            sign = 1.0 if fill["side"] == "BUY" else -1.0
            cash -= sign * fill["quantity"] * fill["price"] + fill["fee"]
            held[fill["symbol"]] = held.get(fill["symbol"], 0.0) + sign * fill["quantity"]
            marks.setdefault(fill["symbol"], fill["price"])
            i += 1
        marks[symbol] = close
        if any(q and s not in marks for s, q in held.items()):
            continue  # a held symbol without a price yet: no honest equity figure
        value = cash + sum(q * marks.get(s, 0.0) for s, q in held.items())
        out.append((ts + bar, value))
    return out


def equity_series(
    view: JournalView, bot: str, window: Window, candles: Mapping[str, Sequence[Candle]]
) -> tuple[list[tuple[datetime, float]], str]:
    """Return equity over the window and its caption: marked to bars when there are any."""
    before = window.start - timedelta(microseconds=1)
    cash = view.cash_at(before, bot)
    if candles and cash is not None:
        points = marked_equity(cash, view.positions_at(before, bot), view.fills(window, bot),
                               candles)
        return points, "Equity marked to bar closes (ledger cash and positions)"
    return view.equity_points(window, bot), "Equity points from the journal"
