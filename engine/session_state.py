"""Session values: loop settings, counters that survive restarts, and why a run ended."""

from __future__ import annotations

import base64
import binascii
import math
import struct
import sys
from array import array
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from engine.model import Bar
from engine.session_config import SessionConfig as SessionConfig  # re-exported


@runtime_checkable
class MarketSimulator(Protocol):
    """A venue that needs market data to fill orders (the paper broker)."""

    def on_bar(self, bar: Bar) -> None:
        """Let the venue see a new bar (fills pending orders)."""
        ...


@runtime_checkable
class WarmupSized(Protocol):
    """A strategy that says how many fresh bars rebuild a symbol's indicators (after a gap)."""

    def warmup_bars(self, symbol: str) -> int:
        """Return how many bars of symbol a cold start needs before it may signal."""
        ...


@dataclass(slots=True)
class SessionCounters:
    """Counts that end up in the summary and survive restarts through the snapshot."""

    bars: int = 0
    bad_bars: int = 0
    bad_bar_reasons: Counter[str] = field(default_factory=Counter)
    gaps: int = 0
    signals: int = 0
    signals_suppressed: int = 0

    def snapshot(self) -> dict[str, Any]:
        """Return a JSON-ready copy."""
        return {
            "bars": self.bars,
            "bad_bars": self.bad_bars,
            "bad_bar_reasons": dict(sorted(self.bad_bar_reasons.items())),
            "gaps": self.gaps,
            "signals": self.signals,
            "signals_suppressed": self.signals_suppressed,
        }

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> SessionCounters:
        """Rebuild counters from a snapshot section."""
        return cls(
            bars=int(data.get("bars", 0)),
            bad_bars=int(data.get("bad_bars", 0)),
            bad_bar_reasons=Counter(data.get("bad_bar_reasons", {})),
            gaps=int(data.get("gaps", 0)),
            signals=int(data.get("signals", 0)),
            signals_suppressed=int(data.get("signals_suppressed", 0)),
        )


@dataclass(frozen=True, slots=True)
class SessionEnd:
    """Why run() returned."""

    stopped_by_breaker: bool
    reason: str
    last_bar: datetime | None


@dataclass(slots=True)
class SessionProgress:
    """The session's own snapshot section: counters, per-symbol cursors, the loss window."""

    counters: SessionCounters = field(default_factory=SessionCounters)
    cursors: dict[str, datetime] = field(default_factory=dict)
    loss_window: deque[tuple[datetime, float]] = field(default_factory=deque)
    # True when an earlier process wrote this section and did not end cleanly.
    unclean: bool = False

    def snapshot(self, clean_shutdown: bool) -> dict[str, Any]:
        """Return the section, JSON-ready, marked clean only at a clean end."""
        section = self.counters.snapshot()
        section["cursors"] = {s: t.isoformat() for s, t in sorted(self.cursors.items())}
        section["loss_window"] = pack_window(self.loss_window)
        section["clean_shutdown"] = clean_shutdown
        return section

    @classmethod
    def from_snapshot(cls, section: dict[str, Any]) -> SessionProgress:
        """Rebuild the section an earlier process committed (empty: a fresh start)."""
        return cls(
            counters=SessionCounters.from_snapshot(section),
            cursors={s: datetime.fromisoformat(t) for s, t in section.get("cursors", {}).items()},
            loss_window=unpack_window(section.get("loss_window", [])),
            unclean=bool(section) and not section.get("clean_shutdown", False),
        )


# The loss window is rewritten with the session section at every commit: packed as base64 of
# little-endian int64 epoch microseconds, then float64 equities (exact, and no per-commit
# float or time formatting). Sections written before hold a list of [ISO time, equity].
_PACKED_WINDOW = "t64f64:"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def pack_window(window: deque[tuple[datetime, float]]) -> str:
    """Return a (time, equity) window as one short string."""
    count = len(window)
    # One struct.pack, little-endian whatever the machine: the times, then the equities.
    raw = struct.pack(
        f"<{count}q{count}d",
        *[(t - _EPOCH) // _MICROSECOND for t, _ in window],
        *[e for _, e in window],
    )
    return _PACKED_WINDOW + base64.b64encode(raw).decode("ascii")


def unpack_window(value: Any) -> deque[tuple[datetime, float]]:
    """Return the window pack_window wrote, or the list of [ISO time, equity] of older stores."""
    if not isinstance(value, str):
        return deque((datetime.fromisoformat(t), float(e)) for t, e in value)
    if not value.startswith(_PACKED_WINDOW):
        message = "session.loss_window must be a list of [time, equity] or a packed window"
        raise ValueError(message)
    try:
        raw = base64.b64decode(value[len(_PACKED_WINDOW):], validate=True)
    except binascii.Error as e:
        message = f"session.loss_window is not a valid packed window ({e})"
        raise ValueError(message) from e
    if len(raw) % 16:
        message = f"session.loss_window holds {len(raw)} bytes, not (int64, float64) pairs"
        raise ValueError(message)
    half = len(raw) // 2
    times, values = array("q"), array("d")
    times.frombytes(raw[:half])
    values.frombytes(raw[half:])
    if sys.byteorder != "little":  # pragma: no cover
        times.byteswap()
        values.byteswap()
    if not all(math.isfinite(v) for v in values):
        message = "session.loss_window holds a non-finite equity"
        raise ValueError(message)
    return deque(
        (_EPOCH + t * _MICROSECOND, v) for t, v in zip(times, values, strict=True)
    )
