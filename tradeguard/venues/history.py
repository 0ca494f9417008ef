"""Walk a venue's trade history the way Binance's myTrades allows: 24 h windows, 1000 a page."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

__all__ = ["PAGE", "WINDOW", "trade_order", "trades_between"]

WINDOW = timedelta(hours=24) - timedelta(milliseconds=1)  # startTime..endTime at most 24 h
PAGE = 1000  # trades per request at most

Page = Callable[[int, int], list[dict[str, Any]]]


def trades_between(page: Page, start: datetime, now: datetime) -> list[dict[str, Any]]:
    """Return every trade from start on, oldest first, deduplicated by trade id.

    page(cursor_ms, end_ms) answers one request (ccxt trade structures). Windows start at
    `start` and go on while they start at or before `now`; a full page continues from its
    newest trade's time (trades at that same millisecond come again and are deduplicated).
    """
    now_ms = _ms(now)
    window = _ms(start)
    span = int(WINDOW.total_seconds() * 1000)
    seen: dict[str, dict[str, Any]] = {}
    while window <= now_ms:
        end = window + span
        cursor = window
        while True:
            found = page(cursor, end)
            fresh = [t for t in found if str(t["id"]) not in seen]
            seen.update((str(t["id"]), t) for t in fresh)
            if len(found) < PAGE or not fresh:
                break
            cursor = max(int(t.get("timestamp") or 0) for t in found)
        window = end + 1
    return sorted(seen.values(), key=trade_order)


def trade_order(trade: dict[str, Any]) -> tuple[int, int, str]:
    """Sort key of a ccxt trade: time, then id (numeric ids compare as numbers)."""
    trade_id = str(trade["id"])
    return int(trade.get("timestamp") or 0), len(trade_id), trade_id


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)
