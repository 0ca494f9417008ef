"""Validation flow: the scenario matrix, one task per scenario, the verdict as artifacts."""

from __future__ import annotations

import logging
import sys
import time
from contextvars import ContextVar
from datetime import UTC
from pathlib import Path
from typing import Any, Literal

from prefect import flow
from prefect.client.schemas.objects import State
from prefect.futures import PrefectFuture
from prefect.states import Failed

from flows._common import ALERT_HOOKS, build_app
from tasks.reports import VALIDATION_KEY, VALIDATION_TABLE_KEY, publish_markdown_task
from tasks.validation import audit_verdict_task, matrix_logs, scenario_task
from tradeguard import services
from tradeguard.app import App
from tradeguard.bootstrap import bootstrap
from tradeguard.data import resolve_data_dir
from tradeguard.requests import ReplayRequest
from tradeguard.scenarios import report
from tradeguard.scenarios.model import Scenario, default_scenarios_dir, load_scenarios
from tradeguard.scenarios.runner import (
    MatrixContext,
    MatrixResult,
    Progress,
    ScenarioResult,
)
from tradeguard.scenarios.verdict import Verdict
from tradeguard.settings import Settings

log = logging.getLogger(__name__)

GxAudit = Literal["first", "all", "none"]

# Set by an interactive caller (the CLI's progress bar) around a direct call of the flow; a
# context variable, not a parameter, so deployments never see it.
progress_hook: ContextVar[Progress | None] = ContextVar("progress_hook", default=None)


def _replay(settings: Settings, request: ReplayRequest) -> object:
    return services.run_session(bootstrap(settings), request)


def matrix_context(app: App, config_file: str | None) -> MatrixContext:
    """Build the runner's context: a fresh run directory under the state directory."""
    stamp = app.clock.now().astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    run_dir = app.settings.store.state_dir / "validation" / stamp
    return MatrixContext(
        settings=app.settings,
        data_dir=resolve_data_dir(app.settings.replay.data_dir),
        run_dir=run_dir,
        replay=_replay,
        replay_argv=(sys.executable, "-m", "tradeguard"),
        clock=app.clock,
        config_file=Path(config_file) if config_file else None,
    )


def _audited(index: int, gx_audit: GxAudit) -> bool:
    return gx_audit == "all" or (gx_audit == "first" and index == 0)


def run_scenarios(
    ctx: MatrixContext, scenarios: list[Scenario], gx_audit: GxAudit
) -> MatrixResult:
    """Run each scenario as one task and collect the matrix in file order.

    Crash drills spend their time in child processes, and the Great Expectations audit of a
    finished store needs no engine: both run in task threads beside the in-process replays.
    """
    progress = progress_hook.get()
    started_at = ctx.clock.now()
    started = time.perf_counter()
    results: dict[str, ScenarioResult] = {}

    def record(name: str, result: ScenarioResult) -> None:
        results[name] = result
        if progress is not None:
            progress(name, len(results), len(scenarios))

    if progress is not None:
        progress("", 0, len(scenarios))
    with matrix_logs():
        drills = {s.name: scenario_task.submit(ctx, s) for s in scenarios if s.crash_drill}
        audits: dict[str, PrefectFuture[tuple[Verdict, float]]] = {}
        for index, scenario in enumerate(scenarios):
            if scenario.name not in drills:
                record(scenario.name, scenario_task(ctx, scenario))
            else:
                record(scenario.name, drills[scenario.name].result())
            result = results[scenario.name]
            if _audited(index, gx_audit) and result.error is None:
                audits[scenario.name] = audit_verdict_task.submit(ctx, scenario, result)
        waited = time.perf_counter()
        for name, audit in audits.items():
            results[name] = results[name].with_verdict(*audit.result())
        log.info("validation_audit_wait seconds=%.3f", time.perf_counter() - waited)
    ordered = tuple(results[s.name] for s in scenarios)
    return MatrixResult(ordered, started_at, time.perf_counter() - started, ctx.run_dir)


@flow(name="validation-24h", **ALERT_HOOKS)
def validation_24h(
    scenarios_dir: str | None = None,
    scenario: str | None = None,
    gx_audit: GxAudit = "first",
    state_dir: str | None = None,
    config_file: str | None = None,
) -> MatrixResult | State[Any]:
    """Run the validation matrix; the run ends Failed when any scenario fails.

    Args:
        scenarios_dir: Folder of scenario TOML files (default: the scenarios/ folder shipped
            with tradeguard).
        scenario: Run only the scenario of this name.
        gx_audit: Great Expectations journal audit on the first scenario's store, on every
            scenario's, or none (the plain-SQL journal invariants always run).
        state_dir: State directory; the run writes under <state_dir>/validation/<stamp>/.
        config_file: TOML settings file the scenarios' overrides apply to.
    """
    app = build_app(config_file, state_dir)
    folder = Path(scenarios_dir) if scenarios_dir else default_scenarios_dir()
    scenarios = load_scenarios(folder, scenario)
    ctx = matrix_context(app, config_file)
    result = run_scenarios(ctx, scenarios, gx_audit)
    report.write_reports(result, ctx.run_dir)
    publish_markdown_task(VALIDATION_KEY, report.markdown(result), "Validation matrix verdict")
    publish_markdown_task(
        VALIDATION_TABLE_KEY, report.summary_markdown(result), "Validation matrix: one row each"
    )
    if not result.passed:
        failed = [s.name for s in result.scenarios if not s.passed]
        message = f"validation failed: {len(failed)} scenario(s) failed: {', '.join(failed)}"
        # A Failed state carrying the verdict, not an exception: a failed scenario is a
        # verdict, and Prefect would print the traceback of an exception on every run.
        return Failed(message=message, data=result)
    return result
