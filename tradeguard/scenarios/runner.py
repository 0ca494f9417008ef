"""Run the scenario matrix: each scenario on a fresh state directory, judged by its expectations."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from engine.clock import Clock
from engine.errors import ConfigurationError, DataError, TradeguardError
from tradeguard.requests import DataSpec, ReplayRequest
from tradeguard.scenarios import drill as drills
from tradeguard.scenarios.expectations import DrillOutcome, Verdict, build
from tradeguard.scenarios.model import Scenario, fault_plan_toml
from tradeguard.scenarios.observe import observe, store_health
from tradeguard.settings import Settings
from tradeguard.workspace import SqliteWorkspace

log = logging.getLogger(__name__)

Replay = Callable[[Settings, ReplayRequest], Any]
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ScenarioResult:
    """One scenario's verdicts, or the error that kept it from running."""

    name: str
    description: str
    passed: bool
    verdicts: tuple[Verdict, ...]
    error: str | None
    state_dir: Path
    engine_seconds: float
    drill_seconds: float
    check_seconds: float = 0.0

    def with_verdict(self, verdict: Verdict, seconds: float = 0.0) -> ScenarioResult:
        """Return the result with one more verdict (a check run outside the runner)."""
        return replace(self, verdicts=(*self.verdicts, verdict),
                       passed=self.passed and verdict.passed,
                       check_seconds=self.check_seconds + seconds)


@dataclass(frozen=True)
class MatrixResult:
    """The whole matrix: every scenario's result, the verdict and the time it took."""

    scenarios: tuple[ScenarioResult, ...]
    started_at: datetime
    seconds: float
    run_dir: Path
    passed: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "passed", bool(self.scenarios) and all(s.passed for s in self.scenarios)
        )


@dataclass(frozen=True)
class MatrixContext:
    """What the composition root hands the runner: settings, data, where to work, how to replay."""

    settings: Settings
    data_dir: Path
    run_dir: Path
    replay: Replay
    replay_argv: Sequence[str]
    clock: Clock
    config_file: Path | None = None


def scenario_settings(base: Settings, scenario: Scenario, state_dir: Path) -> Settings:
    """Apply the scenario's overrides to the base settings; errors name the scenario field."""
    data: dict[str, Any] = {name: getattr(base, name) for name in Settings.model_fields}
    for group, fields in scenario.settings.items():
        if group not in Settings.model_fields or group == "store":
            message = f"scenario {scenario.name}: settings.{group}: not a settings group"
            raise ConfigurationError(message)
        current = getattr(base, group).model_dump()
        data[group] = {**current, **fields}
    data["store"] = base.store.model_copy(update={"state_dir": state_dir})
    try:
        return Settings.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = f"scenario {scenario.name}: settings.{where}: {first['msg']}"
        raise ConfigurationError(message) from e


def scenario_request(scenario: Scenario, data_dir: Path, faults: Path | None) -> ReplayRequest:
    """Build the replay request of a scenario; a missing data file is a DataError."""
    specs = []
    for ref in scenario.data:
        path = data_dir / ref.file
        if not path.is_file():
            message = (
                f"scenario {scenario.name}: data file {path} is missing "
                "(see docs/data.md for how to obtain the market data)"
            )
            raise DataError(message)
        specs.append(DataSpec(path, ref.resolved_symbol))
    return ReplayRequest(tuple(specs), scenario.start, scenario.end, faults, scenario.seed)


def replay_argv(ctx: MatrixContext, request: ReplayRequest, state_dir: Path) -> list[str]:
    """Return the command line a crash drill restarts again and again."""
    argv = [*ctx.replay_argv, "--state-dir", str(state_dir)]
    if ctx.config_file is not None:
        argv += ["--config", str(ctx.config_file)]
    argv.append("replay")
    for spec in request.data:
        argv += ["--data", f"{spec.path}:{spec.symbol}"]
    if request.start is not None:
        argv += ["--start", request.start.isoformat()]
    if request.end is not None:
        argv += ["--end", request.end.isoformat()]
    argv += ["--seed", str(request.seed), "--json"]
    if request.faults is not None:
        argv += ["--faults", str(request.faults)]
    return argv


def run_scenario(ctx: MatrixContext, scenario: Scenario) -> ScenarioResult:
    """Run one scenario (and its crash drill) and judge every expectation."""
    work = ctx.run_dir / scenario.name
    work.mkdir(parents=True, exist_ok=True)
    state_dir = work / "state"
    engine_s = drill_s = 0.0
    try:
        faults = None
        if scenario.fault:
            faults = work / "faults.toml"
            faults.write_text(fault_plan_toml(scenario.fault), encoding="utf-8")
        settings = scenario_settings(ctx.settings, scenario, state_dir)
        request = scenario_request(scenario, ctx.data_dir, faults)
        started = time.perf_counter()
        ctx.replay(settings, request)
        engine_s = time.perf_counter() - started
        drill = None
        if scenario.crash_drill is not None:
            started = time.perf_counter()
            drill = _drill(ctx, scenario, request, work / "drill")
            drill_s = time.perf_counter() - started
        obs = observe(state_dir, settings.strategy.order_quantity)
        obs = replace(obs, health=store_health(
            SqliteWorkspace(state_dir, settings.store.durability)))
    except TradeguardError as e:
        log.warning("scenario_error name=%s error=%s", scenario.name, e)
        return ScenarioResult(scenario.name, scenario.description, False, (), str(e),
                              state_dir, engine_s, drill_s)
    verdicts = tuple(rule.judge(obs, drill) for rule in build(scenario.expect))
    passed = all(v.passed for v in verdicts)
    log.info("scenario_done name=%s passed=%s engine_s=%.3f drill_s=%.3f",
             scenario.name, passed, engine_s, drill_s)
    return ScenarioResult(scenario.name, scenario.description, passed, verdicts, None,
                          state_dir, engine_s, drill_s)


def _drill(
    ctx: MatrixContext, scenario: Scenario, request: ReplayRequest, state_dir: Path
) -> DrillOutcome:
    failpoints = scenario.crash_drill.failpoints if scenario.crash_drill else []
    env = drills.child_env(scenario.settings)
    argv = replay_argv(ctx, request, state_dir)
    run = drills.run_drill(argv, failpoints, state_dir, env)
    reference = drills.outcome(ctx.run_dir / scenario.name / "state")
    return DrillOutcome(run.kills, drills.differences(run.outcome, reference))


def run_matrix(
    ctx: MatrixContext, scenarios: Sequence[Scenario], progress: Progress | None = None
) -> MatrixResult:
    """Run every scenario in order and collect the verdicts."""
    started_at = ctx.clock.now()
    started = time.perf_counter()
    results = []
    for index, scenario in enumerate(scenarios):
        if progress is not None:
            progress(scenario.name, index, len(scenarios))
        results.append(run_scenario(ctx, scenario))
    if progress is not None:
        progress("", len(scenarios), len(scenarios))
    return MatrixResult(tuple(results), started_at, time.perf_counter() - started, ctx.run_dir)
