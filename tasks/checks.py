"""Data-check tasks: the market-data pre-flight and the post-session journal audit.

Each task runs its suites (checks/runs.py), writes the run's Data Docs under the state
directory and publishes the verdict as artifacts: a Markdown report (failures with sample
rows), a table with one row per expectation, and a link to the Data Docs page.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from prefect import task
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)
from prefect.cache_policies import NO_CACHE

from engine.clock import SystemClock

if TYPE_CHECKING:
    from checks.report import CheckReport
    from tradeguard.requests import ReplayRequest
    from tradeguard.settings import Settings

PREFLIGHT_KEY = "data-preflight"
AUDIT_KEY = "journal-audit"


def publish_report(report: CheckReport, key: str, description: str) -> None:
    """Publish a check report as Markdown, table and Data Docs link artifacts under key."""
    create_markdown_artifact(markdown=report.markdown(), key=key, description=description)
    create_table_artifact(
        table=report.table_rows(), key=f"{key}-table", description=f"{description}: expectations"
    )
    url = report.docs_url()
    if url is not None:
        create_link_artifact(
            link=url, link_text="Data Docs", key=f"{key}-docs", description=f"{description}: docs"
        )


@task(name="data-preflight", cache_policy=NO_CACHE)
def preflight_task(settings: Settings, request: ReplayRequest) -> CheckReport:
    """Run the market-data suite on the bars of the run and publish the report."""
    from checks.runs import preflight_for

    report = preflight_for(settings, request, SystemClock().now())
    publish_report(report, PREFLIGHT_KEY, "Market data pre-flight")
    return report


@task(name="journal-audit", cache_policy=NO_CACHE)
def audit_task(
    settings: Settings, request: ReplayRequest | None, store_dir: str | None = None
) -> CheckReport:
    """Audit the journal and breaker events after the run and publish the report."""
    from checks.runs import audit_for

    where = Path(store_dir) if store_dir else None
    report = audit_for(settings, request, SystemClock().now(), store_dir=where)
    publish_report(report, AUDIT_KEY, "Journal and breaker audit")
    return report
