"""Fault injection for the paper venue: time windows of rejects, timeouts, latency, outages.

A plan is a TOML file with one `[[fault]]` table per window::

    [[fault]]
    start = "2022-01-21T10:00:00Z"   # TOML datetime or ISO-8601 string; naive times are refused
    end = "2022-01-21T10:10:00Z"     # exclusive: a window covers start <= t < end
    reject_rate = 1.0                # fraction of orders rejected
    timeout_rate = 0.0               # fraction never acknowledged (may or may not execute)
    latency_ms = 0                   # added acknowledgement latency
    slippage_pct = 0.0               # added adverse slippage, percent of price
    outage = false                   # broker unreachable: every call raises
    unfunded = false                 # every order rejected for insufficient funds

Every field but start and end is optional (default 0 / false). reject_rate and timeout_rate
share one draw per order, so their sum must not exceed 1. Overlapping windows are refused at
load time rather than merged: two overlapping windows almost always mean a typo in a time, and
silently combining their rates would hide it. Error messages name the source, the entry (counted
from 1 in file order: `fault[1]` is the first table) and the field.
"""

from __future__ import annotations

import bisect
import itertools
import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

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


_RATE_FIELDS = ("reject_rate", "timeout_rate")
_NON_NEGATIVE_FIELDS = ("latency_ms", "slippage_pct")
_BOOL_FIELDS = ("outage", "unfunded")
_TIME_FIELDS = ("start", "end")
_KNOWN_FIELDS = frozenset(_TIME_FIELDS + _RATE_FIELDS + _NON_NEGATIVE_FIELDS + _BOOL_FIELDS)
_MAX_SLIPPAGE_PCT = 100.0


def _fail(where: str, detail: str) -> FaultPlanError:
    return FaultPlanError(f"{where}: {detail}")


def _parse_time(value: Any, where: str) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        raise _fail(where, f"must be a date and time with a time zone (got date {value})")
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as e:
            detail = f"must be an ISO-8601 time such as 2022-01-21T10:00:00Z (got {value!r})"
            raise _fail(where, detail) from e
    else:
        detail = f"must be a TOML datetime or ISO-8601 string (got {type(value).__name__})"
        raise _fail(where, detail)
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        detail = f"must carry a time zone, e.g. a trailing Z (got naive {parsed.isoformat()})"
        raise _fail(where, detail)
    return parsed.astimezone(UTC)


def _parse_number(value: Any, where: str) -> float:
    # bool is an int subclass; `reject_rate = true` is a typo, not 1.0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(where, f"must be a number (got {type(value).__name__} {value!r})")
    number = float(value)
    if not math.isfinite(number):
        raise _fail(where, f"must be finite (got {value})")
    return number


def _parse_entry(entry: Mapping[str, Any], where: str) -> FaultWindow:
    unknown = sorted(set(entry) - _KNOWN_FIELDS)
    if unknown:
        allowed = ", ".join(sorted(_KNOWN_FIELDS))
        raise _fail(f"{where}.{unknown[0]}", f"unknown key (allowed: {allowed})")
    for name in _TIME_FIELDS:
        if name not in entry:
            raise _fail(f"{where}.{name}", "missing (every window needs start and end)")
    start = _parse_time(entry["start"], f"{where}.start")
    end = _parse_time(entry["end"], f"{where}.end")
    if end <= start:
        detail = f"must be after start (start={start.isoformat()}, end={end.isoformat()})"
        raise _fail(f"{where}.end", detail)
    values: dict[str, Any] = {}
    for name in _RATE_FIELDS:
        rate = _parse_number(entry.get(name, 0.0), f"{where}.{name}")
        if not 0.0 <= rate <= 1.0:
            raise _fail(f"{where}.{name}", f"must be between 0 and 1 (got {entry[name]})")
        values[name] = rate
    if values["reject_rate"] + values["timeout_rate"] > 1.0:
        detail = (
            f"must not exceed 1 together (got {values['reject_rate']} + "
            f"{values['timeout_rate']})"
        )
        raise _fail(f"{where}.reject_rate+timeout_rate", detail)
    for name in _NON_NEGATIVE_FIELDS:
        number = _parse_number(entry.get(name, 0.0), f"{where}.{name}")
        if number < 0:
            raise _fail(f"{where}.{name}", f"must be >= 0 (got {entry[name]})")
        values[name] = number
    if values["slippage_pct"] >= _MAX_SLIPPAGE_PCT:
        raise _fail(f"{where}.slippage_pct", f"must be below 100 (got {entry['slippage_pct']})")
    for name in _BOOL_FIELDS:
        flag = entry.get(name, False)
        if not isinstance(flag, bool):
            raise _fail(f"{where}.{name}", f"must be true or false (got {flag!r})")
        values[name] = flag
    return FaultWindow(start=start, end=end, **values)


def parse_fault_plan(text: str, source: str) -> FaultPlan:
    """Parse TOML text into a FaultPlan; source names the file in error messages."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise _fail(source, f"invalid TOML: {e}") from e
    unknown = sorted(set(document) - {"fault"})
    if unknown:
        raise _fail(f"{source}: {unknown[0]}", "unknown top-level key (expected [[fault]] tables)")
    entries = document.get("fault", [])
    if not isinstance(entries, list):
        detail = f"must be a list of [[fault]] tables (got {type(entries).__name__})"
        raise _fail(f"{source}: fault", detail)
    windows: list[tuple[str, FaultWindow]] = []
    for number, entry in enumerate(entries, start=1):
        where = f"{source}: fault[{number}]"
        if not isinstance(entry, dict):
            detail = f"must be a [[fault]] table (got {type(entry).__name__})"
            raise _fail(where, detail)
        windows.append((where, _parse_entry(entry, where)))
    windows.sort(key=lambda item: item[1].start)
    for (where_a, a), (where_b, b) in itertools.pairwise(windows):
        if b.start < a.end:
            label_a = where_a.rsplit(": ", 1)[1]
            detail = (
                f"overlaps {label_a} ({a.start.isoformat()}..{a.end.isoformat()}); "
                "windows must not overlap"
            )
            raise _fail(f"{where_b}.start", detail)
    return FaultPlan(window for _, window in windows)


def load_fault_plan(path: Path | str) -> FaultPlan:
    """Read and parse a TOML fault plan file."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise _fail(source, f"cannot read fault plan ({e.strerror or e})") from e
    except UnicodeDecodeError as e:
        raise _fail(source, f"not UTF-8 text ({e.reason})") from e
    return parse_fault_plan(text, source)
