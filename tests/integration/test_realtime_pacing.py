"""Real-time paper mode releases each replayed bar when its re-stamped close time comes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.feed import FeedItem
from engine.model import Bar
from tradeguard.bootstrap import paced

HISTORY = datetime(2022, 1, 21, 9, 0, tzinfo=UTC)


def test_bars_are_restamped_to_now_and_released_at_their_close() -> None:
    wall = [datetime(2026, 11, 21, 15, 30, 12, tzinfo=UTC)]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        wall[0] += timedelta(seconds=seconds)

    items = [
        FeedItem("BTC", n + 2, HISTORY + timedelta(minutes=n),
                 Bar("BTC", HISTORY + timedelta(minutes=n), 1.0, 1.0, 1.0, 1.0, 1.0), None)
        for n in range(3)
    ]
    released = []
    for item in paced(items, 60, now=lambda: wall[0], sleep=sleep):
        released.append((item.ts, wall[0]))
    start = datetime(2026, 11, 21, 15, 30, tzinfo=UTC)
    assert [ts for ts, _ in released] == [start + timedelta(minutes=n) for n in range(3)]
    # Each bar is seen once its minute is over, never earlier.
    assert [at for _, at in released] == [start + timedelta(minutes=n + 1) for n in range(3)]
    assert waits == [48.0, 60.0, 60.0]
    assert all(item.bar is not None and item.bar.ts == item.ts for item in
               paced(items[:1], 60, now=lambda: wall[0], sleep=sleep))
