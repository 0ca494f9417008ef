"""Incident report flow: timeline of breaker events, orders and operator actions."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from prefect import flow

from flows._common import ALERT_HOOKS, build_app
from tasks.reports import (
    INCIDENT_KEY,
    incident_reports_task,
    incident_timeline_task,
    publish_markdown_task,
    publish_report_task,
)
from tradeguard.render import incident_markdown


@flow(name="incident-report", **ALERT_HOOKS)
def incident_report(
    state_dir: str | None = None,
    config_file: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    trigger_event: str | None = None,
) -> dict[str, Any]:
    """Publish the incident timeline of a window, or of the last incident when none is given.

    Args:
        state_dir: State directory of the bot (default: store.state_dir of the settings).
        config_file: TOML settings file (default: $TRADEGUARD_CONFIG or none).
        start: Start of the window (UTC); none = one hour before the last HALT/SHUTDOWN.
        end: End of the window (UTC); none = shortly after the breaker closed again.
        trigger_event: The Prefect event that started this run (set by the automation).
    """
    app = build_app(config_file, state_dir)
    timeline = incident_timeline_task(app, start, end)
    if trigger_event:
        timeline = replace(timeline, trigger_event=trigger_event)
    publish_markdown_task(INCIDENT_KEY, incident_markdown(timeline), "Incident timeline")
    # One report per episode: a reject storm fires several HALT events, only the first writes.
    outcomes = incident_reports_task(app.settings, start, end)
    published = [publish_report_task(o.report) for o in outcomes if o.report is not None]
    skipped = {o.slug: o.skipped_reason for o in outcomes if o.report is None}
    return {**timeline.to_json(), "reports": published, "reports_skipped": skipped}
