"""A validation scenario as a file: data, faults, settings and the outcome it must produce.

A scenario is a small TOML file::

    name = "reject-storm"                      # optional; defaults to the file name
    description = "..."
    start = 2022-01-21T00:00:00Z               # aware times only
    end = 2022-01-22T00:00:00Z
    seed = 7

    [[data]]
    file = "btc-perp_ftx_1m.csv.gz"            # a name in the market data directory
    symbol = "BTC-PERP"                        # optional: the file name up to the first "_"

    [[fault]]                                  # inline fault windows (engine/faults.py fields)
    start = 2022-01-21T09:13:00Z
    end = 2022-01-21T09:23:00Z
    reject_rate = 1.0

    [settings.risk]                            # overrides, validated like any settings file
    max_daily_trades = 1000

    [crash_drill]                              # optional: SIGKILL the replay at these points
    failpoints = ["before_broker:2", "inside_broker:1", "after_commit:40"]

    [expect]                                   # every key is one expectation (expectations.py)
    highest_level = "HALT"

Unknown keys are refused: a typo in an expectation must not silently drop it.
"""

from __future__ import annotations

import re
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from engine.errors import ConfigurationError

State = Literal["CLOSED", "ALERT", "THROTTLE", "HALT", "HALF_OPEN", "SHUTDOWN"]
FAILPOINTS = ("before_broker", "inside_broker", "after_commit")


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class DataRef(_Strict):
    """One market data file of the scenario."""

    file: str = Field(description="File name inside the market data directory.", min_length=1)
    symbol: str | None = Field(None, description="Symbol of its bars; default from the name.")

    @property
    def resolved_symbol(self) -> str:
        """Return the symbol, defaulting to the file name up to the first underscore."""
        return self.symbol or self.file.split("_")[0].upper()


class FaultEntry(_Strict):
    """One fault window, with the fields of engine.faults.FaultWindow."""

    start: AwareDatetime
    end: AwareDatetime
    reject_rate: float = Field(0.0, ge=0.0, le=1.0)
    timeout_rate: float = Field(0.0, ge=0.0, le=1.0)
    latency_ms: float = Field(0.0, ge=0.0)
    slippage_pct: float = Field(0.0, ge=0.0)
    outage: bool = False
    unfunded: bool = False


class CrashDrill(_Strict):
    """Kill the replaying process at each failpoint in turn, then let it finish."""

    failpoints: list[str] = Field(
        min_length=1, description="`<point>:<n>`: SIGKILL the n-th time the point is reached."
    )

    @model_validator(mode="after")
    def _points(self) -> CrashDrill:
        for value in self.failpoints:
            point, _, count = value.partition(":")
            if point not in FAILPOINTS or not count.isdigit() or int(count) < 1:
                message = f"{value!r}: expected <point>:<n> with point one of {FAILPOINTS}"
                raise ValueError(message)
        return self


class TransitionAt(_Strict):
    """A transition to `to` at `at`, within `tolerance_minutes`."""

    to: State
    at: AwareDatetime
    tolerance_minutes: float = Field(1.0, ge=0.0, le=1440.0)
    trigger: str | None = None


class DailyReset(_Strict):
    """The daily counters reset exactly at `at`, after the trade limit was reached before it."""

    at: AwareDatetime
    limit_reached_before: bool = True


class ThrottledOrders(_Strict):
    """Opening orders sent in THROTTLE are cut to size_factor and need confidence > min."""

    size_factor: float = Field(gt=0.0, le=1.0)
    min_confidence: float = Field(ge=0.0, lt=1.0)


class Window(_Strict):
    """A time window [start, end)."""

    start: AwareDatetime
    end: AwareDatetime


class Expect(_Strict):
    """The outcome a scenario must produce; every key set is judged."""

    highest_level: State | None = Field(None, description="Highest breaker level reached.")
    never_above: State | None = Field(None, description="No state above this is ever reached.")
    escalation_trigger: str | None = Field(
        None, description="Trigger of the first escalation to highest_level."
    )
    transition: TransitionAt | None = None
    trades: Literal["zero", "positive"] | None = None
    never_denied_by: list[str] = Field(default_factory=list)
    half_open_probing: bool | None = Field(None, description="HALT went through HALF_OPEN.")
    closed_by: AwareDatetime | None = Field(None, description="Back to CLOSED by this time.")
    no_opening_order_in_halt: bool | None = None
    flat_after_halt: bool | None = Field(None, description="Positions flat after HALT.")
    throttled_orders: ThrottledOrders | None = None
    data_feed_issue_at: AwareDatetime | None = None
    no_order_in: list[Window] = Field(default_factory=list)
    trades_after: AwareDatetime | None = None
    symbols_traded: list[str] = Field(default_factory=list)
    daily_reset: DailyReset | None = None
    crash_equivalent: bool | None = Field(None, description="Crash drill equals a clean run.")
    no_duplicate_fills: bool = True
    no_duplicate_client_order_ids: bool = Field(
        True, description="No client order id ordered twice (the old validation gate)."
    )
    store_intact: bool = Field(True, description="PRAGMA integrity_check = ok after the run.")
    journal_invariants: bool = Field(True, description="Every journal invariant holds.")


class Scenario(_Strict):
    """One scenario of the validation matrix."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    start: AwareDatetime
    end: AwareDatetime
    seed: int = Field(7, ge=0)
    data: list[DataRef] = Field(min_length=1)
    fault: list[FaultEntry] = Field(default_factory=list)
    settings: dict[str, dict[str, Any]] = Field(default_factory=dict)
    crash_drill: CrashDrill | None = None
    expect: Expect
    source: Path | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _window(self) -> Scenario:
        if self.end <= self.start:
            message = "end must be after start"
            raise ValueError(message)
        return self

    @field_validator("settings")
    @classmethod
    def _known_settings(cls, groups: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        # A typo is a malformed file (exit 2 before Prefect starts), not a scenario that fails.
        from tradeguard.settings import Settings  # imported on use: it loads every group

        for group, fields in groups.items():
            if group not in Settings.model_fields or group == "store":
                message = f"{group}: not a settings group a scenario may set"
                raise ValueError(message)
            known = getattr(Settings.model_fields[group].annotation, "model_fields", None)
            unknown = sorted(set(fields) - set(known)) if known is not None else []
            if unknown:
                message = f"{group}.{unknown[0]}: not a setting of the {group} group"
                raise ValueError(message)
        return groups

    @field_validator("data")
    @classmethod
    def _each_file_once(cls, data: list[DataRef]) -> list[DataRef]:
        # Read twice, every bar of the second copy would be a duplicate timestamp reported to
        # the breaker as a data-feed issue: the scenario would judge a breaker fed bad data.
        seen: set[tuple[str, str]] = set()
        for entry in data:
            key = (entry.file, entry.resolved_symbol)
            if key in seen:
                message = f"{entry.file} is listed twice as {key[1]}: list each file once"
                raise ValueError(message)
            seen.add(key)
        return data


def default_scenarios_dir() -> Path:
    """Return the scenarios/ folder shipped next to the tradeguard package."""
    return Path(__file__).resolve().parents[2] / "scenarios"


def load_scenario(path: Path) -> Scenario:
    """Read one scenario file; errors name the file and the dotted field."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        message = f"scenario {path}: cannot be read: {e}"
        raise ConfigurationError(message) from e
    except tomllib.TOMLDecodeError as e:
        message = f"scenario {path}: not valid TOML: {e}"
        raise ConfigurationError(message) from e
    # "03-reject-storm.toml" is named "reject-storm": the prefix only orders the files.
    raw.setdefault("name", re.sub(r"^\d+[-_]", "", path.stem))
    try:
        return Scenario.model_validate({**raw, "source": path})
    except ValidationError as e:
        first = e.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(file)"
        message = f"scenario {path}: {field}: {first['msg']}"
        raise ConfigurationError(message) from e


def load_scenarios(directory: Path, only: str | None = None) -> list[Scenario]:
    """Load every *.toml of a directory in name order; `only` keeps the one with that name."""
    if not directory.is_dir():
        message = f"scenario directory {directory} does not exist"
        raise ConfigurationError(message)
    scenarios = [load_scenario(p) for p in sorted(directory.glob("*.toml"))]
    names = [s.name for s in scenarios]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        message = f"scenario directory {directory}: duplicate names {duplicated}"
        raise ConfigurationError(message)
    if only is not None:
        scenarios = [s for s in scenarios if s.name == only]
        if not scenarios:
            message = f"no scenario named {only!r} in {directory} (have: {', '.join(names)})"
            raise ConfigurationError(message)
    if not scenarios:
        message = f"scenario directory {directory} has no *.toml scenario"
        raise ConfigurationError(message)
    return scenarios


def fault_plan_toml(entries: list[FaultEntry]) -> str:
    """Render inline fault windows as a fault-plan TOML document."""
    lines: list[str] = []
    for entry in entries:
        lines.append("[[fault]]")
        for key, value in entry.model_dump().items():
            lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return f'"{value.isoformat()}"'
    return repr(value)
