"""Incident, session and validation reports: Markdown and self-contained HTML with PNG charts."""

from tradeguard.reports.api import (
    IncidentOutcome,
    incident_reports,
    load_validation_result,
    reports_dir,
    session_report,
    validation_report,
)
from tradeguard.reports.document import Chart, Report, Section, Table
from tradeguard.reports.render import WrittenReport, data_uri, to_html, to_markdown, write_report

__all__ = [
    "Chart",
    "IncidentOutcome",
    "Report",
    "Section",
    "Table",
    "WrittenReport",
    "data_uri",
    "incident_reports",
    "load_validation_result",
    "reports_dir",
    "session_report",
    "to_html",
    "to_markdown",
    "validation_report",
    "write_report",
]
