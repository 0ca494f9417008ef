"""Seeded generators of broken fault plans and scenario files.

A fault plan case breaks one field of one `[[fault]]` entry (or the document): the error must
name `fault[N]` and the field. A scenario case breaks one field of a real scenario file: the
error must name the file and the dotted field.
"""

from __future__ import annotations

import random
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fuzz.config_cases import toml_value, typo

FIELDS = ("start", "end", "reject_rate", "timeout_rate", "latency_ms", "slippage_pct", "outage",
          "unfunded")
EXTREME_TIMES = (
    "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z", "2022-01-21T10:00:00", "2022-01-21", "2022-02-30T00:00:00Z",
    "10:00:00", "not a time", "", "2022-01-21T10:00:00+24:00",
)
BAD_VALUES: dict[str, tuple[Any, ...]] = {
    "rate": (-0.1, 1.5, float("nan"), float("inf"), "0.5", True, [0.5], {"a": 1}, 10**30),
    "number": (-1, -1e-9, float("nan"), float("-inf"), "5", False, [1], 1e400),
    "flag": (1, 0, "yes", "true", [True], 0.0),
    "time": (5, 1.5, True, [1], {"a": 1}),
}
OVERFLOW_HOLE = ("hole §8: a time at the edge of the calendar with an offset (0001-01-01T00:00:00"
                 "+05:00, 9999-12-31T23:59:59-05:00) raises OverflowError in astimezone")
KIND = {"reject_rate": "rate", "timeout_rate": "rate", "latency_ms": "number",
        "slippage_pct": "number", "outage": "flag", "unfunded": "flag", "start": "time",
        "end": "time"}


@dataclass(frozen=True)
class PlanCase:
    """One fault-plan (or scenario) text and the names its error must carry."""

    name: str
    text: str | bytes
    names: tuple[str, ...]
    must_fail: bool = True
    known_hole: str = ""  # a hole another branch closes: judged apart, as an expected failure


def _entries(rng: random.Random) -> list[dict[str, Any]]:
    start = datetime(2022, 1, 21, tzinfo=UTC) + timedelta(minutes=rng.randrange(0, 600))
    out = []
    for _ in range(rng.randint(1, 4)):
        end = start + timedelta(minutes=rng.randint(1, 30))
        out.append({"start": start, "end": end, "reject_rate": round(rng.random() * 0.5, 2)})
        start = end + timedelta(minutes=rng.randint(0, 30))
    return out


def _plan_text(entries: list[dict[str, Any]]) -> str:
    lines = []
    for entry in entries:
        lines.append("[[fault]]")
        for key, value in entry.items():
            raw = isinstance(value, str) and value.startswith("\x00raw:")
            shown = value.removeprefix("\x00raw:") if raw else _value(value)
            lines.append(f"{key} = {shown}")
    return "\n".join(lines) + "\n"


def _value(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return toml_value(value)


def _break_entry(rng: random.Random, entry: dict[str, Any], previous: dict[str, Any] | None
                 ) -> str:
    """Break one field of entry in place; return the field the error must name."""
    choice = rng.randrange(6)
    if choice == 0:
        bad = typo(rng, rng.choice(FIELDS))
        entry[bad if bad not in FIELDS else bad + "x"] = 1
        return bad if bad not in FIELDS else bad + "x"
    if choice == 1:
        missing = rng.choice(("start", "end"))
        del entry[missing]
        return missing
    if choice == 2:
        which = rng.choice(("start", "end"))
        value = rng.choice(EXTREME_TIMES)
        # the first four are also TOML datetimes: written bare half of the time
        bare = value in EXTREME_TIMES[:4] and rng.random() < 0.5
        entry[which] = "\x00raw:" + value if bare else value
        return which
    if choice == 3:
        entry["end"] = entry["start"] - timedelta(minutes=rng.randint(0, 5))
        return "end"
    if choice == 4 and previous is not None:
        entry["start"] = previous["end"] - timedelta(minutes=1)
        entry["end"] = max(entry["end"], entry["start"] + timedelta(minutes=1))
        return "start"
    name = rng.choice(FIELDS[2:])
    entry[name] = rng.choice(BAD_VALUES[KIND[name]])
    if name in ("reject_rate", "timeout_rate") and rng.random() < 0.3:
        entry["reject_rate"], entry["timeout_rate"] = 0.6, 0.7
        return "reject_rate+timeout_rate"
    return name


def fault_plan_cases(rng: random.Random, count: int) -> Iterator[PlanCase]:
    """Yield count plans with one broken entry, plus document-level damage now and then."""
    for number in range(count):
        if number % 10 == 9:
            yield _document_case(rng, number)
            continue
        entries = _entries(rng)
        index = rng.randrange(len(entries))
        field = _break_entry(rng, entries[index], entries[index - 1] if index else None)
        # overlap and bad times may be judged after sorting: the later entry is named
        # an extreme time that is a valid UTC time may load; sorting may name another entry
        valid_extreme = any(str(v).endswith(("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"))
                            for v in entries[index].values())
        overflow = any(str(v).endswith(EXTREME_TIMES[:2]) for v in entries[index].values())
        yield PlanCase(f"plan#{number} fault[{index + 1}].{field}", _plan_text(entries),
                       names=(field, "overlaps"), must_fail=not valid_extreme,
                       known_hole=OVERFLOW_HOLE if overflow else "")


def _document_case(rng: random.Random, number: int) -> PlanCase:
    text = rng.choice((
        "fault = 5\n", "fault = [1, 2]\n", "[fault]\nstart = 1\n", "[[faults]]\nstart = 1\n",
        "title = 'x'\n", "[[fault]\n", "\xff",
        "[[fault]]\nstart = 2022-01-21T10:00:00Z\nstart = 1\n",
    ))
    payload = b"\xff\xfe" if text == "\xff" else text.encode()
    return PlanCase(f"plan#{number} document {text[:30]!r}", payload, names=("plan-",))


# -- scenarios --------------------------------------------------------------------------------

SCENARIO_BREAKS: tuple[tuple[str, Any], ...] = (
    ("start", "2022-01-21T00:00:00"), ("end", "2000-01-01T00:00:00Z"), ("seed", -1),
    ("seed", "seven"), ("name", "bad name!"), ("name", ""), ("data", []), ("data", "btc"),
    ("expect", 5), ("description", 12), ("crash_drill", {"failpoints": ["nowhere:1"]}),
    ("crash_drill", {"failpoints": []}), ("settings", {"risk": 5}), ("fault", [{"start": 1}]),
    ("fault", "none"), ("expect.highest_level", "PANIC"), ("expect.trades", "many"),
    ("expect.never_denied_by", "risk"), ("expect.transition", {"to": "HALT"}),
    ("expect.closed_by", "2022-01-21T10:00:00"), ("expect.no_order_in", [{"start": 1}]),
    ("data.0.file", ""), ("data.0.symbol", 5), ("data.0.extra", 1),
    ("expect.throttled_orders", {"size_factor": 2, "min_confidence": 0.5}),
)


def scenario_cases(rng: random.Random, bases: list[str], count: int) -> Iterator[PlanCase]:
    """Yield count real scenario files with one field broken (or a key misspelled)."""
    for number in range(count):
        raw = tomllib.loads(rng.choice(bases))
        if number % 4 == 3:
            group = rng.choice(("", "expect"))
            target = raw if not group else raw.setdefault("expect", {})
            key = typo(rng, rng.choice(sorted(target)))
            while key in target:
                key += "x"
            target[key] = 1
            dotted = f"{group}.{key}".lstrip(".")
        else:
            dotted, value = rng.choice(SCENARIO_BREAKS)
            _set(raw, dotted.split("."), value)
        yield PlanCase(f"scenario#{number} {dotted}", _toml_document(raw), names=(dotted,))


def _set(raw: dict[str, Any], path: list[str], value: Any) -> None:
    node: Any = raw
    for part in path[:-1]:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    node[path[-1]] = value


def _toml_document(raw: dict[str, Any]) -> str:
    """Render a scenario as TOML: scalars first, then every table as an inline table."""
    lines = [f"{k} = {_inline(v)}" for k, v in raw.items()]
    return "\n".join(lines) + "\n"


def _inline(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_inline(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    if isinstance(value, str) and value[:4].isdigit() and "T" in value:
        return value  # a TOML datetime literal written as text by SCENARIO_BREAKS
    return toml_value(value)
