"""Trading session flow: reconcile, run the engine loop as one task, publish the summary.

Cancelling a run (Prefect UI or API) stops the session like SIGTERM stops `replay`: the current
bar is finished and committed, the session is marked as cleanly stopped, the summary is
published and the run ends Cancelled (tasks/cancellation.py says how Prefect cancels).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prefect import flow
from prefect.client.schemas.objects import State

from checks.report import DataChecksFailedError, JournalAuditFailedError
from flows._common import ALERT_HOOKS, build_app, build_request
from tasks.cancellation import SessionStop, end_stopped
from tasks.checks import audit_task, preflight_task
from tasks.reports import (
    SESSION_SUMMARY_KEY,
    SESSION_TABLE_KEY,
    SESSION_TRANSITIONS_KEY,
    publish_markdown_task,
    publish_table_task,
)
from tasks.session import reconcile_task, run_session_task
from tradeguard.render import key_value_rows, session_markdown

if TYPE_CHECKING:
    from tradeguard.contracts import SessionResult

log = logging.getLogger(__name__)

AUDIT_SKIPPED = "skipped: the run was stopped (the next session's audit covers this journal)"


@flow(name="trading-session", log_prints=False, **ALERT_HOOKS)
def trading_session(
    data: list[str],
    start: datetime | None = None,
    end: datetime | None = None,
    duration_minutes: float | None = None,
    faults: str | None = None,
    state_dir: str | None = None,
    config_file: str | None = None,
    seed: int = 0,
    realtime: bool = False,
) -> dict[str, Any] | State[Any]:
    """Run (or resume) one trading session on `data` ('path' or 'SYMBOL=path' each).

    Args:
        data: Bar files, each 'path' or 'SYMBOL=path' (*.csv, *.csv.gz or *.parquet).
        start: First bar time (UTC); none = the first bar of the data.
        end: End of the replay (UTC, exclusive); none = start + duration_minutes or the data.
        duration_minutes: Length of the session from start, when end is not given.
        faults: Fault plan TOML file to inject (paper venue).
        state_dir: State directory of the bot (default: store.state_dir of the settings).
        config_file: TOML settings file (default: $TRADEGUARD_CONFIG or none).
        seed: Seed of the paper venue's randomness.
        realtime: Release bars at 1x wall-clock speed (a paper session on a replayed feed).
    """
    app = build_app(config_file, state_dir)
    request = build_request(data, start, end, duration_minutes, faults, seed, realtime)
    preflight = preflight_task(app.settings, request)
    if not preflight.success:  # bad data refuses the run; the report is the artifact
        raise DataChecksFailedError(preflight.summary(), preflight)
    # A fresh state dir has no intents to reconcile (and reconcile refuses to create state).
    fresh = not app.workspace.exists()
    reconciled = {"reconciled": 0, "skipped": "fresh state dir"} if fresh else reconcile_task(app)
    stop = SessionStop()
    result = run_session_task(app, request, stop)
    extra: dict[str, Any] = {
        "reconciled_before_start": reconciled,
        "data_checks": preflight.summary(),
    }
    if stop.requested:
        return stopped_session(result, extra, stop)
    audit = audit_task(app.settings, request)
    extra["journal_audit"] = audit.summary()
    summary = publish_session(result, extra, publish_markdown_task, publish_table_task)
    if not audit.success:
        raise JournalAuditFailedError(audit.summary(), audit)
    return {"summary": summary, "stopped_by_breaker": result.stopped_by_breaker}


def stopped_session(result: SessionResult, extra: dict[str, Any], stop: SessionStop) -> State[Any]:
    """Publish the summary of a session stopped on request, then end the run (cancelled)."""
    # A Cancelling run may start no task run: publish directly, and skip the audit.
    extra = {**extra, "journal_audit": AUDIT_SKIPPED}
    publish_session(result, extra, publish_markdown_task.fn, publish_table_task.fn)
    end = result.summary
    log.warning("session_flow_stopped reason=%s last_bar=%s bars=%d",
                end.stop_reason, end.last_bar, end.bars)
    message = (
        f"session stopped cleanly ({end.stop_reason}) after bar {end.last_bar}: committed "
        f"and marked as a clean stop; summary in artifact {SESSION_SUMMARY_KEY}"
    )
    return end_stopped(stop, message)


def publish_session(
    result: SessionResult,
    extra: dict[str, Any],
    markdown: Callable[[str, str, str], object],
    table: Callable[[str, list[dict[str, Any]], str], object],
) -> dict[str, Any]:
    """Publish the summary (Markdown, metrics, transitions) and return it JSON-ready."""
    state_path = str(result.state_dir)
    markdown(
        SESSION_SUMMARY_KEY,
        session_markdown(result.summary, state_path, extra),
        "Trading session summary",
    )
    summary = {**result.summary.to_json(), **extra}
    metrics = {k: v for k, v in summary.items() if k != "transitions"}
    table(SESSION_TABLE_KEY, key_value_rows(metrics), "Trading session metrics")
    if result.summary.transitions:  # one row each, not a JSON list squeezed into a cell
        table(
            SESSION_TRANSITIONS_KEY,
            [t.to_json() for t in result.summary.transitions],
            "Breaker transitions of the session",
        )
    return summary
