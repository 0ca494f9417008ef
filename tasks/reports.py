"""Artifact publishing and the incident timeline task; rendering lives in tradeguard.render."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prefect import task
from prefect.artifacts import (
    create_image_artifact,
    create_markdown_artifact,
    create_table_artifact,
)
from prefect.cache_policies import NO_CACHE

from tradeguard import services

if TYPE_CHECKING:
    from tradeguard.app import App
    from tradeguard.contracts import IncidentTimeline
    from tradeguard.reports import IncidentOutcome, Report
    from tradeguard.settings import Settings

SESSION_SUMMARY_KEY = "session-summary"
SESSION_TABLE_KEY = "session-summary-table"
SESSION_TRANSITIONS_KEY = "session-transitions"
VALIDATION_KEY = "validation-result"
VALIDATION_TABLE_KEY = "validation-gates"
INCIDENT_KEY = "incident-report"
CLEANUP_KEY = "state-cleanup"
DAILY_RESET_KEY = "daily-reset"
OPERATOR_KEY = "operator-command"


@task(name="incident-timeline", cache_policy=NO_CACHE)
def incident_timeline_task(
    app: App, start: datetime | None, end: datetime | None
) -> IncidentTimeline:
    """Collect breaker events, orders and operator actions in a window (default: last incident)."""
    return services.incident_timeline(app, start, end)


@task(name="publish-markdown", cache_policy=NO_CACHE)
def publish_markdown_task(key: str, markdown: str, description: str) -> str:
    """Publish a Markdown artifact under a stable key and return the key."""
    create_markdown_artifact(markdown=markdown, key=key, description=description)
    return key


@task(name="publish-table", cache_policy=NO_CACHE)
def publish_table_task(key: str, rows: list[dict[str, Any]], description: str) -> str:
    """Publish a table artifact under a stable key and return the key."""
    create_table_artifact(table=rows, key=key, description=description)
    return key


def artifact_key(slug: str) -> str:
    """Return a report slug as a Prefect artifact key (lowercase letters, digits, dashes)."""
    return re.sub(r"[^a-z0-9-]+", "-", slug.lower()).strip("-")


@task(name="incident-reports", cache_policy=NO_CACHE)
def incident_reports_task(
    settings: Settings, start: datetime | None, end: datetime | None
) -> list[IncidentOutcome]:
    """Write one report per new incident episode (the last one when no window is given)."""
    from pathlib import Path

    from tradeguard import bootstrap
    from tradeguard.data import resolve_data_dir_or_none
    from tradeguard.reports import incident_reports

    # Charts fall back to journal prices without market data.
    prices: Path | None = resolve_data_dir_or_none(settings.replay.data_dir)
    return incident_reports(
        bootstrap.store_path(settings.store.state_dir), since=start, until=end,
        last=start is None and end is None, data_dir=prices, only_new=True,
    )


@task(name="publish-report", cache_policy=NO_CACHE)
def publish_report_task(report: Report) -> str:
    """Publish a report as a Markdown artifact with its charts inline, plus one image each."""
    from tradeguard.reports import data_uri, to_markdown

    key = artifact_key(report.slug)
    create_markdown_artifact(
        markdown=to_markdown(report, inline_images=True), key=key, description=report.title
    )
    for chart in report.charts:
        create_image_artifact(
            image_url=data_uri(chart.png),
            key=artifact_key(f"{key}-{chart.name.removesuffix('.png')}"),
            description=chart.caption,
        )
    return key
