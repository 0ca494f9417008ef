"""Trading session flow: reconcile, run the engine loop as one task, publish the summary."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow

from checks.report import DataChecksFailedError, JournalAuditFailedError
from flows._common import ALERT_HOOKS, build_app, build_request
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
) -> dict[str, Any]:
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
    result = run_session_task(app, request)
    audit = audit_task(app.settings, request)
    extra = {
        "reconciled_before_start": reconciled,
        "data_checks": preflight.summary(),
        "journal_audit": audit.summary(),
    }
    state_path = str(result.state_dir)
    publish_markdown_task(
        SESSION_SUMMARY_KEY,
        session_markdown(result.summary, state_path, extra),
        "Trading session summary",
    )
    summary = {**result.summary.to_json(), **extra}
    metrics = {k: v for k, v in summary.items() if k != "transitions"}
    publish_table_task(SESSION_TABLE_KEY, key_value_rows(metrics), "Trading session metrics")
    if result.summary.transitions:  # one row each, not a JSON list squeezed into a cell
        publish_table_task(
            SESSION_TRANSITIONS_KEY,
            [t.to_json() for t in result.summary.transitions],
            "Breaker transitions of the session",
        )
    if not audit.success:
        raise JournalAuditFailedError(audit.summary(), audit)
    return {"summary": summary, "stopped_by_breaker": result.stopped_by_breaker}
