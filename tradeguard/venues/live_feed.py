"""Live 1-minute bars: poll the venue's klines just after each minute closes.

The feed yields the same `FeedItem`s as a replay file, so the session validates them with the
same `BarValidator` (price sanity, order, gaps). Only closed bars are yielded (a kline whose
minute has not ended is still forming), each once, in (time, symbol) order. A symbol that
yields nothing new for `stale_after_seconds` is reported as a data-feed issue, once per window.
All time comes from the injected clock; `wait_until` is the only way the feed waits, so tests
drive it with a SimulatedClock and a live run sleeps on the wall clock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.clock import Clock
from engine.feed import FeedItem
from engine.model import Bar
from tradeguard.venues.failures import classify, describe_error

__all__ = ["LiveBarFeed", "LiveFeedConfig", "sleep_until"]

log = logging.getLogger(__name__)

BAR = timedelta(minutes=1)
Issue = Callable[[dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class LiveFeedConfig:
    """Polling delay after the minute, stale threshold and warm-up depth."""

    poll_delay_seconds: float = 2.0
    stale_after_seconds: float = 180.0
    warmup_bars: int = 200


def sleep_until(clock: Clock) -> Callable[[datetime], None]:
    """Return a wait_until that sleeps on the wall clock (live sessions)."""

    def wait(when: datetime) -> None:
        delay = (when - clock.now()).total_seconds()
        if delay > 0:
            time.sleep(delay)

    return wait


class LiveBarFeed:
    """Closed 1-minute bars of several symbols from a ccxt exchange, forever (or until stop)."""

    def __init__(
        self,
        exchange: Any,
        clock: Clock,
        symbols: Sequence[str],
        *,
        config: LiveFeedConfig,
        wait_until: Callable[[datetime], None],
        on_issue: Issue,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self._exchange = exchange
        self._clock = clock
        self._symbols = list(symbols)
        self._config = config
        self._wait_until = wait_until
        self._on_issue = on_issue
        self._should_stop = should_stop
        self._last: dict[str, datetime] = {}
        self._fresh_at: dict[str, datetime] = {}
        self._stale_reported: dict[str, datetime] = {}
        self._row = 0

    def warmup(self) -> list[FeedItem]:
        """Fetch recent closed bars of every symbol (the strategy's warm-up), oldest first."""
        items: list[FeedItem] = []
        now = self._clock.now()
        for symbol in self._symbols:
            limit = self._config.warmup_bars + 1
            items.extend(self._closed(symbol, self._fetch(symbol, None, limit), now))
            self._fresh_at[symbol] = now
        return sorted(items, key=lambda i: (i.ts, i.symbol))

    def __iter__(self) -> Iterator[FeedItem]:
        """Yield closed bars as their minutes end, until should_stop() says so."""
        while not self._should_stop():
            now = self._clock.now()
            boundary = _floor_minute(now) + BAR
            self._wait_until(boundary + timedelta(seconds=self._config.poll_delay_seconds))
            if self._should_stop():
                return
            yield from self.poll()

    def poll(self) -> list[FeedItem]:
        """Fetch every symbol once and return its newly closed bars; report stale symbols."""
        now = self._clock.now()
        items: list[FeedItem] = []
        for symbol in self._symbols:
            last = self._last.get(symbol)
            since = None if last is None else last + BAR
            fresh = self._recent(symbol, self._closed(symbol, self._fetch(symbol, since, 100),
                                                      now), now)
            if fresh:
                self._fresh_at[symbol] = now
                self._stale_reported.pop(symbol, None)
                items.extend(fresh)
            else:
                self._check_stale(symbol, now)
        return sorted(items, key=lambda i: (i.ts, i.symbol))

    def _recent(self, symbol: str, items: list[FeedItem], now: datetime) -> list[FeedItem]:
        """Drop bars that closed longer than the stale window ago (never trade old prices).

        They only arrive after an outage; the session's validator then reports the gap.
        """
        window = timedelta(seconds=self._config.stale_after_seconds)
        kept = [i for i in items if now - (i.ts + BAR) <= window]
        if len(kept) < len(items):
            log.warning("live_feed_old_bars_dropped symbol=%s count=%d first=%s", symbol,
                        len(items) - len(kept), items[0].ts.isoformat())
        return kept

    def _fetch(self, symbol: str, since: datetime | None, limit: int) -> list[list[Any]]:
        since_ms = None if since is None else int(since.timestamp() * 1000)
        try:
            rows: list[list[Any]] = self._exchange.fetch_ohlcv(symbol, "1m", since_ms, limit)
        except Exception as e:  # a failed poll is a data-feed issue, never the end of the feed
            kind = classify(e)
            log.warning("live_feed_fetch_failed symbol=%s kind=%s error=%s", symbol, kind.value,
                        type(e).__name__)
            self._on_issue({"kind": "fetch_failed", "symbol": symbol, "failure": kind.value,
                            "error": describe_error(e)})
            return []
        return rows

    def _closed(self, symbol: str, rows: list[list[Any]], now: datetime) -> list[FeedItem]:
        items: list[FeedItem] = []
        last = self._last.get(symbol)
        for row in rows:
            ts = datetime.fromtimestamp(int(row[0]) / 1000, UTC)
            if ts + BAR > now or (last is not None and ts <= last):
                continue  # still forming, or already yielded
            self._row += 1
            items.append(self._item(symbol, ts, row))
            last = ts
        if last is not None:
            self._last[symbol] = last
        return items

    def _item(self, symbol: str, ts: datetime, row: list[Any]) -> FeedItem:
        try:
            values = [float(v) for v in row[1:6]]
        except (TypeError, ValueError):
            return FeedItem(symbol, self._row, ts, None, f"unparseable kline {row[1:6]!r}")
        return FeedItem(symbol, self._row, ts, Bar(symbol, ts, *values), None)

    def _check_stale(self, symbol: str, now: datetime) -> None:
        window = timedelta(seconds=self._config.stale_after_seconds)
        since = self._stale_reported.get(symbol) or self._fresh_at.setdefault(symbol, now)
        if now - since < window:
            return
        self._stale_reported[symbol] = now
        last = self._last.get(symbol)
        silent = (now - self._fresh_at[symbol]).total_seconds()
        log.warning("live_feed_stale symbol=%s silent_seconds=%.0f last_bar=%s", symbol, silent,
                    last.isoformat() if last else None)
        self._on_issue({"kind": "stale_feed", "symbol": symbol, "silent_seconds": silent,
                        "last_bar": last.isoformat() if last else None})


def _floor_minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)
