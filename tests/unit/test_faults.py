"""Fault plans: parsing, validation messages and window lookup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.errors import ConfigurationError, FaultPlanError
from engine.faults import FaultPlan, FaultWindow
from tradeguard.faultplan import load_fault_plan, parse_fault_plan

T0 = datetime(2022, 1, 21, 10, 0, tzinfo=UTC)

FULL = """
[[fault]]
start = "2022-01-21T10:00:00Z"
end = "2022-01-21T10:10:00Z"
reject_rate = 0.25
timeout_rate = 0.5
latency_ms = 1500
slippage_pct = 0.3
outage = false
unfunded = true

[[fault]]
start = 2022-01-21T12:00:00Z
end = 2022-01-21T14:00:00+01:00
outage = true
"""


def entry(**fields: str) -> str:
    base = {"start": '"2022-01-21T10:00:00Z"', "end": '"2022-01-21T10:10:00Z"'}
    base.update(fields)
    body = "\n".join(f"{key} = {value}" for key, value in base.items() if value != "DROP")
    return f"[[fault]]\n{body}\n"


def test_full_plan_parses_every_field_and_converts_offsets_to_utc() -> None:
    plan = parse_fault_plan(FULL, "faults.toml")

    first, second = plan.windows
    assert first == FaultWindow(
        start=T0,
        end=T0 + timedelta(minutes=10),
        reject_rate=0.25,
        timeout_rate=0.5,
        latency_ms=1500.0,
        slippage_pct=0.3,
        outage=False,
        unfunded=True,
    )
    assert second.start == datetime(2022, 1, 21, 12, 0, tzinfo=UTC)
    assert second.end == datetime(2022, 1, 21, 13, 0, tzinfo=UTC)
    assert second.outage and second.reject_rate == 0.0 and second.latency_ms == 0.0


def test_toml_datetime_with_offset_and_iso_string_mean_the_same_instant() -> None:
    text = entry(start="2022-01-21T11:00:00+01:00", end='"2022-01-21T10:10:00Z"')

    (window,) = parse_fault_plan(text, "f.toml").windows

    assert window.start == T0
    assert window.start.tzinfo is UTC


def test_empty_document_is_an_empty_plan() -> None:
    plan = parse_fault_plan("", "empty.toml")

    assert len(plan) == 0
    assert plan.active(T0) is None


def test_active_covers_start_inclusive_and_end_exclusive() -> None:
    window = FaultWindow(T0, T0 + timedelta(minutes=10), reject_rate=1.0)
    plan = FaultPlan([window])

    assert plan.active(T0 - timedelta(microseconds=1)) is None
    assert plan.active(T0) is window
    assert plan.active(T0 + timedelta(minutes=9, seconds=59)) is window
    assert plan.active(T0 + timedelta(minutes=10)) is None


def test_active_picks_the_right_window_among_many_given_out_of_order() -> None:
    windows = [
        FaultWindow(T0 + timedelta(hours=h), T0 + timedelta(hours=h, minutes=30), latency_ms=h)
        for h in (5, 1, 3)
    ]
    plan = FaultPlan(windows)

    assert [w.latency_ms for w in plan.windows] == [1, 3, 5]
    found = plan.active(T0 + timedelta(hours=3, minutes=15))
    assert found is not None and found.latency_ms == 3
    assert plan.active(T0 + timedelta(hours=3, minutes=45)) is None
    assert plan.active(T0 + timedelta(hours=10)) is None


def test_adjacent_windows_are_allowed_and_each_owns_its_start() -> None:
    text = entry(latency_ms="1") + entry(
        start='"2022-01-21T10:10:00Z"', end='"2022-01-21T10:20:00Z"', latency_ms="2"
    )

    plan = parse_fault_plan(text, "f.toml")

    found = plan.active(T0 + timedelta(minutes=10))
    assert found is not None and found.latency_ms == 2


def test_load_fault_plan_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "faults.toml"
    path.write_text(FULL, encoding="utf-8")

    plan = load_fault_plan(path)

    assert len(plan) == 2


def test_missing_plan_file_is_reported_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"

    with pytest.raises(FaultPlanError, match=r"nope\.toml: cannot read fault plan"):
        load_fault_plan(path)


def test_fault_plan_error_is_a_configuration_error() -> None:
    assert issubclass(FaultPlanError, ConfigurationError)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            entry() + entry(start='"2022-01-21T10:00:00Z"', reject_rate="1.5"),
            "faults.toml: fault[2].reject_rate: must be between 0 and 1 (got 1.5)",
            id="rate-above-one",
        ),
        pytest.param(
            entry(timeout_rate="-0.1"),
            "faults.toml: fault[1].timeout_rate: must be between 0 and 1 (got -0.1)",
            id="negative-rate",
        ),
        pytest.param(
            entry(reject_rate="0.6", timeout_rate="0.5"),
            "faults.toml: fault[1].reject_rate+timeout_rate: must not exceed 1 together",
            id="rates-sum-above-one",
        ),
        pytest.param(
            entry(rejectrate="0.5"),
            "faults.toml: fault[1].rejectrate: unknown key",
            id="unknown-key",
        ),
        pytest.param(
            entry(start="DROP"),
            "faults.toml: fault[1].start: missing",
            id="missing-start",
        ),
        pytest.param(
            entry(end="DROP"),
            "faults.toml: fault[1].end: missing",
            id="missing-end",
        ),
        pytest.param(
            entry(end='"2022-01-21T10:00:00Z"'),
            "faults.toml: fault[1].end: must be after start",
            id="end-equals-start",
        ),
        pytest.param(
            entry(end='"2022-01-21T09:00:00Z"'),
            "faults.toml: fault[1].end: must be after start",
            id="end-before-start",
        ),
        pytest.param(
            entry(start='"2022-01-21T10:00:00"'),
            "faults.toml: fault[1].start: must carry a time zone",
            id="naive-iso-string",
        ),
        pytest.param(
            entry(start="2022-01-21T10:00:00"),
            "faults.toml: fault[1].start: must carry a time zone",
            id="naive-toml-datetime",
        ),
        pytest.param(
            entry(start="2022-01-21"),
            "faults.toml: fault[1].start: must be a date and time with a time zone",
            id="toml-date-only",
        ),
        pytest.param(
            entry(start='"yesterday"'),
            "faults.toml: fault[1].start: must be an ISO-8601 time",
            id="unparseable-time-string",
        ),
        pytest.param(
            entry(start="12"),
            "faults.toml: fault[1].start: must be a TOML datetime or ISO-8601 string (got int)",
            id="time-wrong-type",
        ),
        pytest.param(
            entry(reject_rate='"half"'),
            "faults.toml: fault[1].reject_rate: must be a number (got str 'half')",
            id="rate-string",
        ),
        pytest.param(
            entry(reject_rate="true"),
            "faults.toml: fault[1].reject_rate: must be a number (got bool True)",
            id="rate-bool",
        ),
        pytest.param(
            entry(latency_ms="-5"),
            "faults.toml: fault[1].latency_ms: must be >= 0 (got -5)",
            id="negative-latency",
        ),
        pytest.param(
            entry(latency_ms="inf"),
            "faults.toml: fault[1].latency_ms: must be finite",
            id="infinite-latency",
        ),
        pytest.param(
            entry(slippage_pct="100"),
            "faults.toml: fault[1].slippage_pct: must be below 50",
            id="slippage-100-percent",
        ),
        pytest.param(
            entry(outage='"yes"'),
            "faults.toml: fault[1].outage: must be true or false (got 'yes')",
            id="outage-string",
        ),
        pytest.param(
            entry(unfunded="1"),
            "faults.toml: fault[1].unfunded: must be true or false (got 1)",
            id="unfunded-int",
        ),
        pytest.param(
            "fault = 3\n",
            "faults.toml: fault: must be a list of [[fault]] tables (got int)",
            id="fault-not-a-list",
        ),
        pytest.param(
            "fault = [1, 2]\n",
            "faults.toml: fault[1]: must be a [[fault]] table (got int)",
            id="fault-list-of-scalars",
        ),
        pytest.param(
            "[fault]\nstart = 2022-01-21T10:00:00Z\n",
            "faults.toml: fault: must be a list of [[fault]] tables (got dict)",
            id="single-table-instead-of-array",
        ),
        pytest.param(
            "[[faults]]\nstart = 2022-01-21T10:00:00Z\n",
            "faults.toml: faults: unknown top-level key",
            id="unknown-top-level-key",
        ),
        pytest.param(
            entry() + "reject_rate = = 1\n",
            "faults.toml: invalid TOML: Invalid value (at line 4, column 15)",
            id="invalid-toml-with-line",
        ),
        pytest.param(
            entry()
            + entry(start='"2022-01-21T10:05:00Z"', end='"2022-01-21T10:30:00Z"'),
            "faults.toml: fault[2].start: overlaps fault[1]",
            id="overlapping-windows",
        ),
    ],
)
def test_malformed_plan_is_refused_naming_file_entry_and_field(text: str, expected: str) -> None:
    with pytest.raises(FaultPlanError) as raised:
        parse_fault_plan(text, "faults.toml")

    assert str(raised.value).startswith(expected), str(raised.value)


def test_overlap_is_reported_against_the_earlier_window_even_when_listed_later() -> None:
    later_first = entry(start='"2022-01-21T10:05:00Z"', end='"2022-01-21T10:30:00Z"') + entry()

    with pytest.raises(FaultPlanError, match=r"fault\[1\]\.start: overlaps fault\[2\]"):
        parse_fault_plan(later_first, "faults.toml")


def test_programmatic_plan_refuses_overlapping_or_naive_windows() -> None:
    a = FaultWindow(T0, T0 + timedelta(minutes=10))
    b = FaultWindow(T0 + timedelta(minutes=5), T0 + timedelta(minutes=15))
    naive = FaultWindow(datetime(2022, 1, 1), datetime(2022, 1, 2))

    with pytest.raises(FaultPlanError, match="overlap"):
        FaultPlan([a, b])
    with pytest.raises(FaultPlanError, match="timezone-aware"):
        FaultPlan([naive])
