"""Validation tasks: one scenario of the matrix per task, and its Great Expectations audit."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from engine.clock import SystemClock
from engine.errors import TradeguardError
from tradeguard.scenarios.runner import (
    MatrixContext,
    ScenarioResult,
    run_scenario,
    scenario_request,
    scenario_settings,
)
from tradeguard.scenarios.verdict import Verdict

if TYPE_CHECKING:
    from tradeguard.scenarios.model import Scenario

AUDIT_VERDICT = "gx_journal_audit"
# Breaker transitions of a scenario are the point of the scenario, not news for the console:
# while the matrix runs they go to each scenario's own log file.
_SCENARIO_LOGGERS = ("engine", "tradeguard")


@contextmanager
def matrix_logs() -> Iterator[None]:
    """Keep engine and library log records off the console for the block."""
    saved = [(logging.getLogger(n), logging.getLogger(n).propagate) for n in _SCENARIO_LOGGERS]
    for logger, _ in saved:
        logger.propagate = False
    try:
        yield
    finally:
        for logger, propagate in saved:
            logger.propagate = propagate


@contextmanager
def scenario_log(path: Path) -> Iterator[None]:
    """Write this thread's engine and library log records to path for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    thread = threading.get_ident()  # scenarios may run side by side in task threads
    handler.addFilter(lambda record: record.thread == thread)
    loggers = [logging.getLogger(n) for n in _SCENARIO_LOGGERS]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
        handler.close()


def audit_verdict(ctx: MatrixContext, scenario: Scenario, result: ScenarioResult) -> Verdict:
    """Run the Great Expectations journal and breaker audit on a scenario's state store."""
    from checks.runs import audit_for

    expected = "every GX expectation holds"
    try:
        settings = scenario_settings(ctx.settings, scenario, result.state_dir)
        request = scenario_request(scenario, ctx.data_dir, None)
        report = audit_for(settings, request, SystemClock().now(), store_dir=result.state_dir)
    except TradeguardError as e:
        return Verdict(AUDIT_VERDICT, expected, f"audit did not run: {e}", False)
    failed = sorted(report.failed_names())
    seen = f"{len(report.outcomes)} expectations, " + (
        "all hold" if not failed else f"failed: {', '.join(failed)}"
    )
    docs = report.docs_url()
    if docs:
        seen += f" (Data Docs {docs})"
    return Verdict(AUDIT_VERDICT, expected, seen, report.success)


@task(name="gx-journal-audit", cache_policy=NO_CACHE)
def audit_verdict_task(
    ctx: MatrixContext, scenario: Scenario, result: ScenarioResult
) -> tuple[Verdict, float]:
    """Audit one scenario's store with Great Expectations; return the verdict and its seconds."""
    started = time.perf_counter()
    verdict = audit_verdict(ctx, scenario, result)
    return verdict, time.perf_counter() - started


@task(name="scenario", task_run_name="scenario-{scenario.name}", cache_policy=NO_CACHE)
def scenario_task(ctx: MatrixContext, scenario: Scenario) -> ScenarioResult:
    """Run one scenario (crash drill included), judge it and publish its verdicts."""
    with scenario_log(ctx.run_dir / scenario.name / "scenario.log"):
        result = run_scenario(ctx, scenario)
    publish_scenario(result)
    return result


def publish_scenario(result: ScenarioResult) -> None:
    """Publish one scenario's verdicts as a table artifact."""
    rows = [
        {"expectation": v.name, "expected": v.expected, "observed": v.observed,
         "verdict": "ok" if v.passed else "FAILED"}
        for v in result.verdicts
    ] or [{"expectation": "runs", "expected": "the scenario runs", "observed": result.error or "",
           "verdict": "FAILED"}]
    key = re.sub(r"[^a-z0-9-]+", "-", f"scenario-{result.name}".lower())
    create_table_artifact(
        table=rows, key=key,
        description=f"Scenario {result.name}: {'PASS' if result.passed else 'FAIL'}",
    )
