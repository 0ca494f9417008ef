"""Market-data values and validation: the FeedItem stream, BarValidator, merging symbols.

The file readers (CSV, CSV.gz, Parquet) live in the shell (`tradeguard/marketdata.py`); the
engine takes any iterable of `FeedItem`s and does no I/O.

* `BarValidator` judges parsed bars per symbol: `check` (NaN/inf, non-positive prices, negative
  volume, inconsistent OHLC, duplicate or out-of-order time against the last good bar of that
  symbol) and `gap` (seconds since the last good bar when above `max_gap_seconds`; the bar itself
  is good). Both are pure; `accept` records a good bar; `observe` does all three in one call.
* `merge_sources` merges the items of several streams in (ts, symbol) order.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine.model import Bar

COLUMNS = ("ts", "open", "high", "low", "close", "volume")
_VALUE_COLUMNS = COLUMNS[1:]
_INF = math.inf

class FeedConfig(BaseModel):
    """Bar spacing and the gap above which a data-feed issue is reported."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bar_seconds: int = Field(60, description="Length of one bar in seconds.", gt=0, le=86_400)
    max_gap_seconds: float = Field(
        900.0, description="A gap between good bars above this is reported.", gt=0
    )

    @model_validator(mode="after")
    def _gap_at_least_one_bar(self) -> Self:
        if self.max_gap_seconds < self.bar_seconds:
            message = "max_gap_seconds must be at least bar_seconds"
            raise ValueError(message)
        return self


class FeedItem(NamedTuple):
    """One data row: a parsed bar, or bar=None with the reason it could not be parsed.

    ts is the merge key: the bar time, or for an unparseable row the last time read before it.
    """

    symbol: str
    row: int
    ts: datetime
    bar: Bar | None
    reason: str | None

def parse_bar_time(text: str) -> datetime:
    """Return an ISO-8601 time with a zone as aware UTC; refuse a time without one."""
    ts = datetime.fromisoformat(text)
    if ts.tzinfo is UTC:
        return ts
    if ts.tzinfo is None or ts.utcoffset() is None:
        message = f"ts {text!r} has no time zone (expected e.g. 2022-01-21T21:52:00Z)"
        raise ValueError(message)
    return ts.astimezone(UTC)



def _merge_key(item: FeedItem) -> tuple[datetime, str]:
    return item.ts, item.symbol


def merge_sources(*sources: Iterable[FeedItem]) -> Iterator[FeedItem]:
    """Merge per-file item streams (each in time order) into one stream by (ts, symbol)."""
    return heapq.merge(*sources, key=_merge_key)


@dataclass(frozen=True, slots=True)
class BarCheck:
    """Verdict on one bar: reason is set for a bad bar, gap_seconds for a gap before a good one."""

    reason: str | None
    gap_seconds: float | None

    @property
    def ok(self) -> bool:
        """Return True when the bar may be traded on."""
        return self.reason is None


_GOOD = BarCheck(None, None)


class BarValidator:
    """Judge bars against the last good bar of their symbol."""

    __slots__ = ("_last", "_max_gap")

    def __init__(self, config: FeedConfig) -> None:
        self._max_gap = config.max_gap_seconds
        self._last: dict[str, datetime] = {}

    def check(self, bar: Bar) -> str | None:
        """Return why bar is bad, or None when it is good; does not change state."""
        _, ts, o, h, low, c, v = bar
        tz = ts.tzinfo
        if 0.0 < low <= o <= h < _INF and low <= c <= h and 0.0 <= v < _INF and tz is not None:
            last = self._last.get(bar.symbol)
            if last is None or ts > last:
                return None
        return self._explain(bar)

    def gap(self, bar: Bar) -> float | None:
        """Return seconds since the last good bar of the symbol when above max_gap_seconds."""
        last = self._last.get(bar.symbol)
        if last is None or bar.ts.tzinfo is None:
            return None
        seconds = (bar.ts - last).total_seconds()
        return seconds if seconds > self._max_gap else None

    def accept(self, bar: Bar) -> None:
        """Record bar as the last good bar of its symbol."""
        self._last[bar.symbol] = bar.ts

    def observe(self, bar: Bar) -> BarCheck:
        """Check bar, measure its gap, and record it when good (the per-bar hot path)."""
        symbol, ts, o, h, low, c, v = bar
        tz = ts.tzinfo
        if 0.0 < low <= o <= h < _INF and low <= c <= h and 0.0 <= v < _INF and tz is not None:
            last = self._last.get(symbol)
            if last is None:
                self._last[symbol] = ts
                return _GOOD
            if ts > last:
                self._last[symbol] = ts
                seconds = (ts - last).total_seconds()
                return _GOOD if seconds <= self._max_gap else BarCheck(None, seconds)
        return BarCheck(self._explain(bar), None)

    def last_good(self, symbol: str) -> datetime | None:
        """Return the time of the last good bar of symbol."""
        return self._last.get(symbol)

    def snapshot(self) -> dict[str, str]:
        """Return the last good bar time per symbol, JSON-ready."""
        return {symbol: ts.isoformat() for symbol, ts in self._last.items()}

    @classmethod
    def from_snapshot(cls, config: FeedConfig, data: dict[str, str]) -> BarValidator:
        """Rebuild a validator from snapshot()."""
        validator = cls(config)
        for symbol, text in data.items():
            validator._last[symbol] = parse_bar_time(text)
        return validator

    def _explain(self, bar: Bar) -> str:
        if bar.ts.tzinfo is None:
            return f"naive timestamp {bar.ts.isoformat()}"
        problem = _value_problem(bar)
        if problem is not None:
            return problem
        last = self._last.get(bar.symbol)
        if last is None:
            return "invalid bar"
        if bar.ts == last:
            return f"duplicate timestamp {bar.ts.isoformat()}"
        return f"out of order: {bar.ts.isoformat()} is before last good bar {last.isoformat()}"


def _value_problem(bar: Bar) -> str | None:
    """Explain what is wrong with a bar's prices or volume, or None when they are sound."""
    values = dict(zip(_VALUE_COLUMNS, bar[2:], strict=True))
    for name, value in values.items():
        if math.isnan(value):
            return f"{name} is NaN"
        if math.isinf(value):
            return f"{name} is infinite"
    for name in ("open", "high", "low", "close"):
        if values[name] <= 0:
            return f"{name} {values[name]} is not positive"
    if bar.volume < 0:
        return f"volume {bar.volume} is negative"
    if bar.high < bar.low:
        return f"high {bar.high} is below low {bar.low}"
    for name in ("open", "close"):
        if not bar.low <= values[name] <= bar.high:
            return f"{name} {values[name]} is outside [low {bar.low}, high {bar.high}]"
    return None
