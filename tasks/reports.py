"""Incident timeline and artifact publishing: Markdown and tables under stable keys."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
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
    from tasks.validation import GateResult
    from tradeguard.reports import IncidentOutcome, Report
    from tradeguard.settings import Settings

SESSION_SUMMARY_KEY = "session-summary"
SESSION_TABLE_KEY = "session-summary-table"
VALIDATION_KEY = "validation-result"
VALIDATION_TABLE_KEY = "validation-gates"
INCIDENT_KEY = "incident-report"
CLEANUP_KEY = "state-cleanup"
DAILY_RESET_KEY = "daily-reset"
OPERATOR_KEY = "operator-command"


def cell(value: Any) -> str:
    """Render one value for a Markdown table cell (JSON for containers, pipes escaped)."""
    if isinstance(value, Mapping | list | tuple):
        text = json.dumps(value, default=str, sort_keys=True)
    elif isinstance(value, float):
        text = f"{value:.6g}"
    else:
        text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Iterable[Mapping[str, Any]]) -> str:
    """Render dict rows as a Markdown table whose columns are the union of keys in order."""
    rows = list(rows)
    if not rows:
        return "_none_\n"
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def key_value_rows(data: Mapping[str, Any]) -> list[dict[str, str]]:
    """Flatten a summary dict into metric/value rows for a table artifact."""
    return [{"metric": str(k), "value": cell(v)} for k, v in data.items()]


def session_markdown(summary: Mapping[str, Any], stopped_by_breaker: bool, state_dir: str) -> str:
    """Render the session summary as Markdown."""
    verdict = "stopped by the circuit breaker" if stopped_by_breaker else "ran to its end"
    head = f"# Trading session summary\n\nState dir `{state_dir}`: session {verdict}.\n\n"
    return head + markdown_table(key_value_rows(summary))


def validation_markdown(gates: tuple[GateResult, ...], failed: tuple[GateResult, ...]) -> str:
    """Render the validation verdict with every gate's observed value."""
    verdict = "PASSED" if not failed else f"FAILED ({', '.join(g.name for g in failed)})"
    rows = [gate_row(g) for g in gates or failed]
    return f"# 24h validation: {verdict}\n\n" + markdown_table(rows)


def gate_row(gate: GateResult) -> dict[str, Any]:
    """Return one gate as a table row."""
    return {
        "gate": gate.name,
        "result": "pass" if gate.passed else "FAIL",
        "observed": cell(gate.observed),
        "expected": cell(gate.expected),
        "detail": gate.detail,
    }


def incident_markdown(timeline: Mapping[str, Any]) -> str:
    """Render an incident timeline: the service's Markdown if given, else tables per list."""
    prefix = ""
    if timeline.get("trigger_event"):
        prefix = f"Triggered by event `{timeline['trigger_event']}`.\n\n"
    rendered = timeline.get("markdown")
    if isinstance(rendered, str):
        return prefix + rendered
    parts = ["# Incident report\n", prefix]
    scalars = {k: v for k, v in timeline.items() if not isinstance(v, list)}
    if scalars:
        parts.append(markdown_table(key_value_rows(scalars)))
    for name, value in timeline.items():
        if isinstance(value, list):
            rows = [r if isinstance(r, Mapping) else {"value": r} for r in value]
            parts.append(f"\n## {name.replace('_', ' ')} ({len(rows)})\n\n{markdown_table(rows)}")
    return "\n".join(parts)


@task(name="incident-timeline", cache_policy=NO_CACHE)
def incident_timeline_task(
    settings: Settings, start: datetime | None, end: datetime | None
) -> dict[str, Any]:
    """Collect breaker events, orders and operator actions in a window (default: last incident)."""
    return services.incident_timeline(settings, start, end)


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
    from tradeguard.data import find_data_dir
    from tradeguard.reports import incident_reports

    prices: Path | None = settings.replay.data_dir
    if prices is None:
        try:
            prices = Path(find_data_dir(Path(__file__).resolve().parents[1]))
        except Exception:  # charts fall back to journal prices without market data
            prices = None
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
