"""State cleanup flow: stale locks, temp files, backup rotation, old report pruning."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows._common import ALERT_HOOKS, build_app
from tasks.maintenance import clean_state_task
from tasks.reports import CLEANUP_KEY, publish_markdown_task
from tradeguard.render import markdown_table


@flow(name="state-cleanup", **ALERT_HOOKS)
def state_cleanup(
    state_dir: str | None = None,
    config_file: str | None = None,
    older_than_seconds: float = 3600.0,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Remove stale files older than `older_than_seconds` from the state dir.

    Args:
        state_dir: State directory of the bot (default: store.state_dir of the settings).
        config_file: TOML settings file (default: $TRADEGUARD_CONFIG or none).
        older_than_seconds: Age from which a lock or temporary file counts as stale.
        dry_run: List what would be removed, remove nothing.
    """
    app = build_app(config_file, state_dir)
    report = clean_state_task(app, older_than_seconds, dry_run)
    rows = [
        {"file": str(p), "action": "would remove" if dry_run else "removed"} for p in report.removed
    ]
    rows += [{"file": str(p), "action": "kept"} for p in report.kept]
    publish_markdown_task(
        CLEANUP_KEY, "# State cleanup\n\n" + markdown_table(rows), "State cleanup"
    )
    return {
        "removed": [str(p) for p in report.removed],
        "kept": [str(p) for p in report.kept],
        "dry_run": report.dry_run,
    }
