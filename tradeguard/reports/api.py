"""Report use cases: refresh analytics, build a report, write it under the reports directory."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.errors import ConfigurationError, DataError
from tradeguard.analytics.db import analytics_path
from tradeguard.analytics.refresh import default_bot, refresh
from tradeguard.reports.document import Report
from tradeguard.reports.incident import build_incident_report, load_episodes, select_episodes
from tradeguard.reports.journal import JournalView, Window
from tradeguard.reports.prices import find_price_files
from tradeguard.reports.render import WrittenReport, write_report
from tradeguard.reports.session import build_session_report
from tradeguard.reports.validation import build_validation_report

log = logging.getLogger(__name__)

REPORTS_DIR = "reports"


@dataclass(frozen=True)
class IncidentOutcome:
    """One incident episode: the report written for it, or why none was written."""

    slug: str
    written: WrittenReport | None
    report: Report | None
    skipped_reason: str = ""


def reports_dir(store_file: Path) -> Path:
    """Return the reports directory beside a state store."""
    return store_file.parent / REPORTS_DIR


def _existing_meta(directory: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((directory / "report.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _claim(directory: Path, closed_now: bool) -> str:
    """Take the episode's directory; return '' when this call writes it, else why not."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    try:
        directory.mkdir()  # atomic: of several concurrent runs exactly one gets here
    except FileExistsError:
        meta = _existing_meta(directory)
        if meta is None:
            return "another run is writing this episode's report"
        if closed_now and not meta.get("meta", {}).get("closed"):
            return ""  # the report was written while the episode was still open: finish it
        return "a report for this episode already exists"
    return ""


def incident_reports(
    store_file: Path,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    last: bool = False,
    out_dir: Path | None = None,
    data_dir: Path | None = None,
    only_new: bool = False,
) -> list[IncidentOutcome]:
    """Write one report per incident episode in the window (or the last one).

    only_new skips an episode whose report exists (the Prefect flow: one report per episode
    however many HALT events fire); otherwise reports are rewritten.
    """
    refresh(store_file)
    out_dir = out_dir or reports_dir(store_file)
    view = JournalView(analytics_path(store_file))
    try:
        episodes = select_episodes(load_episodes(view), since, until, last)
        prices = find_price_files(data_dir, view.symbols(default_bot(store_file)))
        outcomes = []
        for episode in episodes:
            target = out_dir / episode.slug
            why = _claim(target, episode.end_at is not None) if only_new else ""
            if why:
                log.info("incident_report_skipped episode=%s reason=%s", episode.slug, why)
                outcomes.append(IncidentOutcome(episode.slug, None, None, why))
                continue
            report = build_incident_report(view, episode, prices)
            outcomes.append(IncidentOutcome(episode.slug, write_report(report, target), report))
    finally:
        view.close()
    return outcomes


def session_report(
    store_file: Path,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    out_dir: Path | None = None,
    data_dir: Path | None = None,
) -> tuple[Report, WrittenReport]:
    """Write the session report of a state directory over a window (default: all of it)."""
    refresh(store_file)
    window = Window(since, until) if since is not None and until is not None else None
    bot = default_bot(store_file)
    view = JournalView(analytics_path(store_file))
    try:
        prices = find_price_files(data_dir, view.symbols(bot))
        report = build_session_report(view, bot, window, prices)
    finally:
        view.close()
    return report, write_report(report, (out_dir or reports_dir(store_file)) / report.slug)


def load_validation_result(path: Path) -> Mapping[str, Any] | None:
    """Read a validate_24h result (JSON); None when the file does not exist."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        message = f"cannot read validation result {path}: {e}"
        raise DataError(message) from e
    if not isinstance(data, dict):
        message = f"validation result {path} is not a JSON object"
        raise DataError(message)
    return data


def validation_report(
    store_file: Path,
    result: Mapping[str, Any] | None,
    *,
    out_dir: Path | None = None,
) -> tuple[Report, WrittenReport]:
    """Write the validation report of one run's state store with its gate results."""
    if not store_file.is_file():
        message = f"validation run has no state store at {store_file}"
        raise ConfigurationError(message)
    refresh(store_file)
    run = store_file.parent.name
    view = JournalView(analytics_path(store_file))
    try:
        report = build_validation_report(view, default_bot(store_file), run, result)
    finally:
        view.close()
    target = (out_dir or reports_dir(store_file)) / report.slug
    return report, write_report(report, target)
