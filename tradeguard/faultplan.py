"""Fault-plan files: TOML text into the engine's FaultPlan.

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

import itertools
import math
import tomllib
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from engine.errors import FaultPlanError
from engine.faults import FaultPlan, FaultWindow

_RATE_FIELDS = ("reject_rate", "timeout_rate")
_NON_NEGATIVE_FIELDS = ("latency_ms", "slippage_pct")
_BOOL_FIELDS = ("outage", "unfunded")
_TIME_FIELDS = ("start", "end")
_KNOWN_FIELDS = frozenset(_TIME_FIELDS + _RATE_FIELDS + _NON_NEGATIVE_FIELDS + _BOOL_FIELDS)
_MAX_SLIPPAGE_PCT = 50.0  # the venue's own slippage comes on top: keep fill prices positive


def _fail(where: str, detail: str, field: str = "") -> FaultPlanError:
    """Return the error for where (plus .field when given): `<where>[.<field>]: <detail>`."""
    place = f"{where}.{field}" if field else where
    return FaultPlanError(f"{place}: {detail}")


def _parse_time(value: Any, where: str) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        detail = f"must be a date and time with a time zone (got date {value})"
        raise _fail(where, detail)
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
    try:
        return parsed.astimezone(UTC)
    except OverflowError as e:
        detail = f"is outside the representable time range (got {parsed.isoformat()})"
        raise _fail(where, detail) from e


def _parse_number(value: Any, where: str) -> float:
    # bool is an int subclass; `reject_rate = true` is a typo, not 1.0
    if isinstance(value, bool) or not isinstance(value, int | float):
        detail = f"must be a number (got {type(value).__name__} {value!r})"
        raise _fail(where, detail)
    number = float(value)
    if not math.isfinite(number):
        detail = f"must be finite (got {value})"
        raise _fail(where, detail)
    return number


def _check_keys(entry: Mapping[str, Any], where: str) -> None:
    unknown = sorted(set(entry) - _KNOWN_FIELDS)
    if unknown:
        detail = f"unknown key (allowed: {', '.join(sorted(_KNOWN_FIELDS))})"
        raise _fail(where, detail, unknown[0])
    for name in _TIME_FIELDS:
        if name not in entry:
            raise _fail(where, "missing (every window needs start and end)", name)


def _parse_span(entry: Mapping[str, Any], where: str) -> tuple[datetime, datetime]:
    start = _parse_time(entry["start"], f"{where}.start")
    end = _parse_time(entry["end"], f"{where}.end")
    if end <= start:
        detail = f"must be after start (start={start.isoformat()}, end={end.isoformat()})"
        raise _fail(where, detail, "end")
    return start, end


def _parse_rates(entry: Mapping[str, Any], where: str) -> dict[str, float]:
    values: dict[str, float] = {}
    for name in _RATE_FIELDS:
        rate = _parse_number(entry.get(name, 0.0), f"{where}.{name}")
        if not 0.0 <= rate <= 1.0:
            detail = f"must be between 0 and 1 (got {entry[name]})"
            raise _fail(where, detail, name)
        values[name] = rate
    if values["reject_rate"] + values["timeout_rate"] > 1.0:
        detail = (
            f"must not exceed 1 together (got {values['reject_rate']} + "
            f"{values['timeout_rate']})"
        )
        raise _fail(where, detail, "reject_rate+timeout_rate")
    for name in _NON_NEGATIVE_FIELDS:
        number = _parse_number(entry.get(name, 0.0), f"{where}.{name}")
        if number < 0:
            detail = f"must be >= 0 (got {entry[name]})"
            raise _fail(where, detail, name)
        values[name] = number
    if values["slippage_pct"] >= _MAX_SLIPPAGE_PCT:
        detail = f"must be below {_MAX_SLIPPAGE_PCT:g} (got {entry['slippage_pct']})"
        raise _fail(where, detail, "slippage_pct")
    return values


def _parse_flags(entry: Mapping[str, Any], where: str) -> dict[str, bool]:
    flags: dict[str, bool] = {}
    for name in _BOOL_FIELDS:
        flag = entry.get(name, False)
        if not isinstance(flag, bool):
            detail = f"must be true or false (got {flag!r})"
            raise _fail(where, detail, name)
        flags[name] = flag
    return flags


def _parse_entry(entry: Mapping[str, Any], where: str) -> FaultWindow:
    _check_keys(entry, where)
    start, end = _parse_span(entry, where)
    rates = _parse_rates(entry, where)
    flags = _parse_flags(entry, where)
    return FaultWindow(
        start=start,
        end=end,
        reject_rate=rates["reject_rate"],
        timeout_rate=rates["timeout_rate"],
        latency_ms=rates["latency_ms"],
        slippage_pct=rates["slippage_pct"],
        outage=flags["outage"],
        unfunded=flags["unfunded"],
    )


def _entries(document: Mapping[str, Any], source: str) -> list[Any]:
    unknown = sorted(set(document) - {"fault"})
    if unknown:
        place = f"{source}: {unknown[0]}"
        raise _fail(place, "unknown top-level key (expected [[fault]] tables)")
    entries = document.get("fault", [])
    if not isinstance(entries, list):
        place = f"{source}: fault"
        detail = f"must be a list of [[fault]] tables (got {type(entries).__name__})"
        raise _fail(place, detail)
    return entries


def parse_fault_plan(text: str, source: str) -> FaultPlan:
    """Parse TOML text into a FaultPlan; source names the file in error messages."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise _fail(source, f"invalid TOML: {e}") from e
    windows: list[tuple[str, FaultWindow]] = []
    for number, entry in enumerate(_entries(document, source), start=1):
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
            raise _fail(where_b, detail, "start")
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
