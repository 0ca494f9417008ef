"""Bars the emulator serves: real 1-minute bars read once from a data file, queried by time."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from engine.errors import DataError
from engine.feed import BarValidator, FeedConfig
from engine.model import Bar
from tradeguard.marketdata import read_bars

__all__ = ["MarketData", "SymbolSpec"]

BAR = timedelta(minutes=1)
_MS = 1000


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """One emulated spot market: Binance id (BTCUSDT), assets, and its bar file."""

    venue_id: str
    base: str
    quote: str
    path: Path

    @classmethod
    def parse(cls, text: str) -> SymbolSpec:
        """Parse BASE/QUOTE=PATH, e.g. BTC/USDT=../shared/data/btc-perp_ftx_1m.csv.gz."""
        pair, sep, path = text.partition("=")
        base, slash, quote = pair.partition("/")
        if not (sep and slash and base.isalnum() and quote.isalnum() and path):
            message = f"market {text!r} must look like BTC/USDT=PATH/TO/bars.csv.gz"
            raise DataError(message)
        return cls(f"{base.upper()}{quote.upper()}", base.upper(), quote.upper(), Path(path))


class MarketData:
    """Validated bars per venue symbol, with price lookups at an emulator time."""

    def __init__(self, bars: dict[str, list[Bar]]) -> None:
        self._bars = bars
        self._starts = {s: [b.ts for b in series] for s, series in bars.items()}

    @classmethod
    def load(
        cls, specs: Iterable[SymbolSpec], start: datetime | None = None, end: datetime | None = None
    ) -> MarketData:
        """Read the bar files (only good bars, through the replay's validator)."""
        bars: dict[str, list[Bar]] = {}
        for spec in specs:
            validator = BarValidator(FeedConfig.model_validate({}))
            good: list[Bar] = []
            for item in read_bars(spec.path, spec.venue_id, start, end):
                if item.bar is not None and validator.observe(item.bar).reason is None:
                    good.append(item.bar)
            if not good:
                message = f"{spec.path}: no good bars for {spec.venue_id} in the chosen window"
                raise DataError(message)
            bars[spec.venue_id] = good
        return cls(bars)

    def shifted(self, offset: timedelta) -> MarketData:
        """Return the same bars moved in time (serve history as if it were happening now)."""
        return MarketData({s: [b._replace(ts=b.ts + offset) for b in series]
                           for s, series in self._bars.items()})

    def symbols(self) -> list[str]:
        """Return the venue symbols served."""
        return sorted(self._bars)

    def price(self, symbol: str, at: datetime) -> float | None:
        """Return the trade price at a time: the open of the bar running then, else last close."""
        starts = self._starts[symbol]
        index = bisect.bisect_right(starts, at) - 1
        if index < 0:
            return None
        bar = self._bars[symbol][index]
        return bar.open if at < bar.ts + BAR else bar.close

    def bars_between(self, symbol: str, after: datetime, until: datetime) -> list[Bar]:
        """Return the bars that started after `after` and closed at or before `until`."""
        starts = self._starts[symbol]
        lo = bisect.bisect_right(starts, after)
        hi = bisect.bisect_right(starts, until - BAR)
        return self._bars[symbol][lo:hi]

    def klines(
        self, symbol: str, now: datetime, start_ms: int | None, end_ms: int | None, limit: int
    ) -> list[list[object]]:
        """Return Binance klines up to now; the running bar shows only its open (still forming)."""
        starts = self._starts[symbol]
        series = self._bars[symbol]
        hi = bisect.bisect_right(starts, now)
        if end_ms is not None:
            hi = min(hi, bisect.bisect_right(starts, _from_ms(end_ms)))
        lo = 0 if start_ms is None else bisect.bisect_left(starts, _from_ms(start_ms))
        if start_ms is None:
            lo = max(0, hi - limit)
        rows: list[list[object]] = []
        for bar in series[lo:hi][:limit]:
            if bar.ts + BAR > now:
                rows.append(_kline(bar._replace(high=bar.open, low=bar.open, close=bar.open,
                                                volume=0.0)))
            else:
                rows.append(_kline(bar))
        return rows


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / _MS, UTC)


def to_ms(at: datetime) -> int:
    """Return epoch milliseconds of an aware datetime."""
    return int(at.timestamp() * _MS)


def _kline(bar: Bar) -> list[object]:
    open_ms = to_ms(bar.ts)
    return [
        open_ms, repr(bar.open), repr(bar.high), repr(bar.low), repr(bar.close),
        repr(bar.volume), open_ms + 59_999, repr(bar.volume * bar.close), 1, "0", "0", "0",
    ]
