"""Artifact publishing and the incident timeline task; rendering lives in tradeguard.render."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from tradeguard import services

if TYPE_CHECKING:
    from tradeguard.app import App
    from tradeguard.contracts import IncidentTimeline

SESSION_SUMMARY_KEY = "session-summary"
SESSION_TABLE_KEY = "session-summary-table"
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
