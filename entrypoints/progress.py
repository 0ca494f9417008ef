"""A progress line for long replays on a terminal: bars processed, simulated time, state."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from types import TracebackType
from typing import Any

from engine.events import BreakerTransitioned
from engine.feed import FeedItem

UPDATE_EVERY = 200  # items between redraws: a redraw per bar would cost more than the bar


class ReplayProgress:
    """Shows bars processed, simulated time and breaker state on stderr when it is a TTY."""

    def __init__(self, total: int | None, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._total = total
        self._bars = 0
        self._sim_time = "-"
        self._state = "CLOSED"
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> ReplayProgress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("replay"), BarColumn(bar_width=16), TextColumn("{task.description}"),
                TimeElapsedColumn(), console=Console(stderr=True), transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(self._describe(), total=self._total)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._redraw()
            self._progress.stop()

    def _describe(self) -> str:
        return f"{self._bars} bars  sim time {self._sim_time}  {self._state}"

    def _redraw(self) -> None:
        self._progress.update(self._task, completed=self._bars, description=self._describe())

    def tap(self, items: Iterator[FeedItem]) -> Iterator[FeedItem]:
        """Yield the feed unchanged, counting it for the progress line."""
        if self._progress is None:
            yield from items
            return
        for item in items:
            yield item
            self._bars += 1
            self._sim_time = item.ts.strftime("%Y-%m-%d %H:%MZ")
            if self._bars % UPDATE_EVERY == 0:
                self._redraw()

    def listen(self, event: Any) -> None:
        """Engine listener: follow the breaker's state."""
        if isinstance(event, BreakerTransitioned):
            self._state = event.to_state
