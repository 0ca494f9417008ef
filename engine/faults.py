"""Fault injection for the paper venue: time windows of rejects, timeouts, latency, outages.

A `FaultPlan` holds non-overlapping `FaultWindow`s, each active from start (inclusive) to end
(exclusive). reject_rate and timeout_rate share one draw per order, so their sum must not exceed
1. The TOML file format and its loader live in the shell (`tradeguard/faultplan.py`); the engine
takes a parsed plan and does no I/O.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from engine.errors import FaultPlanError


@dataclass(frozen=True, slots=True)
class FaultWindow:
    """Faults active on the venue from start (inclusive) to end (exclusive), both aware UTC."""

    start: datetime
    end: datetime
    reject_rate: float = 0.0
    timeout_rate: float = 0.0
    latency_ms: float = 0.0
    slippage_pct: float = 0.0
    outage: bool = False
    unfunded: bool = False

    def covers(self, at: datetime) -> bool:
        """Return True when at lies in [start, end)."""
        return self.start <= at < self.end

    def describe(self) -> str:
        """Return a one-line key=value summary for logs."""
        return (
            f"start={self.start.isoformat()} end={self.end.isoformat()} "
            f"reject_rate={self.reject_rate} timeout_rate={self.timeout_rate} "
            f"latency_ms={self.latency_ms} slippage_pct={self.slippage_pct} "
            f"outage={self.outage} unfunded={self.unfunded}"
        )


class FaultPlan:
    """Non-overlapping fault windows sorted by start; looked up by time in O(log n)."""

    __slots__ = ("_starts", "_windows")

    def __init__(self, windows: Iterable[FaultWindow] = ()) -> None:
        ordered = sorted(windows, key=lambda w: w.start)
        for window in ordered:
            if window.start.tzinfo is None or window.end.tzinfo is None:
                message = f"fault window {window.describe()}: times must be timezone-aware"
                raise FaultPlanError(message)
            if window.end <= window.start:
                message = f"fault window {window.describe()}: end must be after start"
                raise FaultPlanError(message)
        for earlier, later in itertools.pairwise(ordered):
            if later.start < earlier.end:
                message = (
                    f"fault windows overlap: {earlier.start.isoformat()}..{earlier.end.isoformat()}"
                    f" and {later.start.isoformat()}..{later.end.isoformat()}"
                )
                raise FaultPlanError(message)
        self._windows: tuple[FaultWindow, ...] = tuple(ordered)
        self._starts: list[datetime] = [w.start for w in ordered]

    @property
    def windows(self) -> tuple[FaultWindow, ...]:
        """Return the windows, sorted by start."""
        return self._windows

    def __len__(self) -> int:
        return len(self._windows)

    def active(self, at: datetime) -> FaultWindow | None:
        """Return the window covering at (start <= at < end), or None."""
        index = bisect.bisect_right(self._starts, at) - 1
        if index < 0:
            return None
        window = self._windows[index]
        return window if at < window.end else None
