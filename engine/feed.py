"""Market-data values and validation: the FeedItem stream, BarValidator, merging symbols.

The file readers (CSV, CSV.gz, Parquet) live in the shell (`tradeguard/marketdata.py`); the
engine takes any iterable of `FeedItem`s and does no I/O.

* `BarValidator` judges parsed bars per symbol: `check` (NaN/inf, non-positive or absurd prices
  above `max_price`, negative volume, inconsistent OHLC, a time outside [1970, 9000), duplicate
  or out-of-order time against the last good bar of that symbol, a time more than
  `max_future_seconds` after it (or after the stream's latest bar / a live clock for a symbol's
  first bar), a high or low outside the price band around the last good close) and `gap`
  (seconds since the last good bar when above `max_gap_seconds`; the bar itself is good, and
  the band does not apply across a gap). Both are pure; `accept` records a good bar; `observe`
  does all three in one call. A bad bar's verdict names its kind (one of the constants below:
  the keys of `bad_bar_reasons`) and its reason.
* `merge_sources` merges the items of several streams in (ts, symbol) order.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, NamedTuple

from engine.feed_config import FeedConfig as FeedConfig  # re-exported
from engine.model import Bar

COLUMNS = ("ts", "open", "high", "low", "close", "volume")
_VALUE_COLUMNS = COLUMNS[1:]
_PRICE_COLUMNS = COLUMNS[1:5]
_INF = math.inf

_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
# Far enough from datetime.max that every window and day boundary computed from a bar fits.
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)

# Kinds of bad bar: the keys of `bad_bar_reasons` (one per kind, never per value). Stable:
# they appear in summaries and journals.
UNPARSABLE = "unparsable row"
NAIVE_TIME = "naive timestamp"
NON_FINITE = "non-finite value"
NOT_POSITIVE = "non-positive price"
NEGATIVE_VOLUME = "negative volume"
INCONSISTENT = "inconsistent ohlc"
ABSURD_PRICE = "absurd price"
ABSURD_VOLUME = "absurd volume"
DUPLICATE = "duplicate timestamp"
OUT_OF_ORDER = "out of order"
OUT_OF_RANGE = "time out of range"
FAR_FUTURE = "far future"
PRICE_BAND = "price band"


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
    try:
        return ts.astimezone(UTC)
    except OverflowError as e:  # e.g. 9999-12-31T23:59:59-05:00 is past year 9999 in UTC
        message = f"ts {text!r} is out of the representable range"
        raise ValueError(message) from e



def _merge_key(item: FeedItem) -> tuple[datetime, str]:
    return item.ts, item.symbol


def merge_sources(*sources: Iterable[FeedItem]) -> Iterator[FeedItem]:
    """Merge per-file item streams (each in time order) into one stream by (ts, symbol)."""
    return heapq.merge(*sources, key=_merge_key)


@dataclass(frozen=True, slots=True)
class BarCheck:
    """Verdict on one bar: kind and reason when it is bad, gap_seconds for a gap before it."""

    reason: str | None
    gap_seconds: float | None
    kind: str | None = None

    @property
    def ok(self) -> bool:
        """Return True when the bar may be traded on."""
        return self.reason is None


# The one verdict on a good bar without a gap: the bar path tests for it by identity.
GOOD: Final = BarCheck(None, None)


class _LastGood:
    """A symbol's last good bar: its time, and the price range allowed on its next bar.

    Mutable and slotted, one per symbol: the per-bar fast path does one dict lookup and updates
    the record in place (no tuple built, no dict written per bar).
    """

    __slots__ = ("above", "below", "ceiling", "close", "floor", "ts")

    def __init__(self, ts: datetime) -> None:
        self.ts = ts
        # No close yet (first bar, restored validator): no band, and an empty range for the
        # fast path, so the next bar is judged (and anchors the band) the slow way.
        self.close: float | None = None
        self.floor = _INF
        self.ceiling = 0.0
        self.below = self.above = 1.0


class BarValidator:
    """Judge bars against the last good bar of their symbol and the stream's time.

    A bad bar never moves the last good time or close. `now`, when given (a live clock), also
    bounds the time of a symbol's first bar; in a replay the stream's latest good bar does.
    """

    __slots__ = (
        "_config", "_last", "_max_future", "_max_gap", "_max_price", "_max_volume", "_min_price",
        "_near", "_now",
    )

    def __init__(self, config: FeedConfig, now: Callable[[], datetime] | None = None) -> None:
        self._config = config
        self._max_gap = config.max_gap_seconds
        # A whole number of seconds <= max_gap_seconds: a step at most this long is no gap,
        # without a float conversion (a longer one within max_gap is judged the slow way).
        self._near = timedelta(seconds=math.floor(config.max_gap_seconds))
        self._max_future = config.max_future_seconds
        self._max_price = config.max_price
        self._min_price = config.min_price
        self._max_volume = config.max_volume
        self._now = now
        self._last: dict[str, _LastGood] = {}

    def check(self, bar: Bar) -> str | None:
        """Return why bar is bad, or None when it is good; does not change state."""
        return self._judge(bar).reason

    def gap(self, bar: Bar) -> float | None:
        """Return seconds since the last good bar of the symbol when above max_gap_seconds."""
        last = self._last.get(bar.symbol)
        if last is None or bar.ts.tzinfo is None:
            return None
        seconds = (bar.ts - last.ts).total_seconds()
        return seconds if seconds > self._max_gap else None

    def accept(self, bar: Bar) -> None:
        """Record bar as the last good bar of its symbol."""
        last = self._last.get(bar.symbol)
        if last is None:
            last = self._last[bar.symbol] = _LastGood(bar.ts)
        last.ts = bar.ts
        if last.close is None:
            band = self._config.band_pct(bar.symbol) / 100.0
            last.below, last.above = 1.0 - band, 1.0 + band
        close = last.close = bar.close
        last.floor, last.ceiling = close * last.below, close * last.above

    def observe(self, bar: Bar) -> BarCheck:
        """Check bar, measure its gap, and record it when good (the per-bar hot path)."""
        symbol, ts, o, h, low, c, v = bar
        last = self._last.get(symbol)
        if (last is not None
                and self._min_price <= low <= o <= h <= self._max_price and low <= c <= h
                and 0.0 <= v <= self._max_volume
                and ts.tzinfo is not None):
            previous = last.ts
            # Within whole seconds of max_gap_seconds: no gap for sure (the rest is judged).
            # ts < _LATEST: the documented time bound holds on the fast path too.
            if (previous < ts < _LATEST and ts - previous <= self._near
                    and last.floor <= low and h <= last.ceiling):
                last.ts = ts
                last.close = c
                last.floor = c * last.below
                last.ceiling = c * last.above
                return GOOD
        verdict = self._judge(bar)
        if verdict.reason is None:
            self.accept(bar)
        return verdict

    def last_good(self, symbol: str) -> datetime | None:
        """Return the time of the last good bar of symbol."""
        last = self._last.get(symbol)
        return None if last is None else last.ts

    def snapshot(self) -> dict[str, str]:
        """Return the last good bar time per symbol, JSON-ready."""
        return {symbol: last.ts.isoformat() for symbol, last in self._last.items()}

    @classmethod
    def from_snapshot(cls, config: FeedConfig, data: dict[str, str]) -> BarValidator:
        """Rebuild a validator from snapshot() (times only: the first bars re-anchor bands)."""
        validator = cls(config)
        for symbol, text in data.items():
            validator._last[symbol] = _LastGood(parse_bar_time(text))
        return validator

    # ------------------------------------------------------------------ slow path
    def _judge(self, bar: Bar) -> BarCheck:
        """Return the full verdict on a bar without changing state."""
        problem = _value_problem(bar, self._min_price, self._max_price, self._max_volume)
        if problem is not None:
            return BarCheck(problem[1], None, problem[0])
        ts = bar.ts
        if not _EARLIEST <= ts < _LATEST:
            reason = f"{ts.isoformat()} is outside [{_EARLIEST.year}, {_LATEST.year})"
            return BarCheck(reason, None, OUT_OF_RANGE)
        record = self._last.get(bar.symbol)
        if record is None:
            return self._judge_first(bar)
        last = record.ts
        if ts == last:
            return BarCheck(f"duplicate timestamp {ts.isoformat()}", None, DUPLICATE)
        if ts < last:
            reason = f"out of order: {ts.isoformat()} is before last good bar {last.isoformat()}"
            return BarCheck(reason, None, OUT_OF_ORDER)
        seconds = (ts - last).total_seconds()
        if seconds > self._max_future:
            return _far_future(ts, last, "the last good bar of " + bar.symbol, self._max_future)
        if seconds > self._max_gap:
            return BarCheck(None, seconds)
        return _judge_band(bar, record)

    def _judge_first(self, bar: Bar) -> BarCheck:
        ts = bar.ts
        # The stream's time: its latest good bar (a symbol's first bar is rare: no hot path).
        stream = max((last.ts for last in self._last.values()), default=None)
        if stream is not None and (ts - stream).total_seconds() > self._max_future:
            return _far_future(ts, stream, "the stream's latest bar", self._max_future)
        if self._now is not None:
            now = self._now()
            if (ts - now).total_seconds() > self._max_future:
                return _far_future(ts, now, "the clock", self._max_future)
        return GOOD


def _judge_band(bar: Bar, last: _LastGood) -> BarCheck:
    close = last.close
    if close is None:  # no good close since the validator was restored: no band yet
        return GOOD
    floor, ceiling = last.floor, last.ceiling
    if floor <= bar.low and bar.high <= ceiling:
        return GOOD
    band = last.above - 1.0
    worst = bar.high if bar.high > ceiling else bar.low
    move = (worst - close) / close * 100.0
    reason = (f"{'high' if worst == bar.high else 'low'} {worst:g} is {move:+.4g}% from the "
              f"last good close {close:g} (band {band * 100.0:g}%)")
    return BarCheck(reason, None, PRICE_BAND)


def _far_future(ts: datetime, reference: datetime, what: str, limit: float) -> BarCheck:
    seconds = (ts - reference).total_seconds()
    reason = (f"{ts.isoformat()} is {seconds:.0f}s after {what} {reference.isoformat()} "
              f"(max_future_seconds {limit:g})")
    return BarCheck(reason, None, FAR_FUTURE)


def _value_problem(
    bar: Bar, min_price: float, max_price: float, max_volume: float
) -> tuple[str, str] | None:
    """Return (kind, reason) for what is wrong with a bar's time zone, prices or volume."""
    if bar.ts.tzinfo is None:
        return NAIVE_TIME, f"naive timestamp {bar.ts.isoformat()}"
    values = dict(zip(_VALUE_COLUMNS, bar[2:], strict=True))
    for name, value in values.items():
        if not math.isfinite(value):
            return NON_FINITE, f"{name} is {'NaN' if math.isnan(value) else 'infinite'}"
    if bar.volume > max_volume:
        return ABSURD_VOLUME, f"volume {bar.volume:g} is above max_volume {max_volume:g}"
    return _price_problem(values, min_price, max_price) or _shape_problem(bar)


def _price_problem(
    values: dict[str, float], min_price: float, max_price: float
) -> tuple[str, str] | None:
    for name in _PRICE_COLUMNS:
        if values[name] <= 0:
            return NOT_POSITIVE, f"{name} {values[name]} is not positive"
        if values[name] > max_price:
            return ABSURD_PRICE, f"{name} {values[name]:g} is above max_price {max_price:g}"
        if values[name] < min_price:
            return ABSURD_PRICE, f"{name} {values[name]:g} is below min_price {min_price:g}"
    return None


def _shape_problem(bar: Bar) -> tuple[str, str] | None:
    if bar.volume < 0:
        return NEGATIVE_VOLUME, f"volume {bar.volume} is negative"
    low, high = bar.low, bar.high
    if high < low:
        return INCONSISTENT, f"high {high} is below low {low}"
    for name, value in (("open", bar.open), ("close", bar.close)):
        if not low <= value <= high:
            return INCONSISTENT, f"{name} {value} is outside [low {low}, high {high}]"
    return None
