"""Maintenance and operator tasks, each a thin wrapper over one services function."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from tradeguard import services

if TYPE_CHECKING:
    from tradeguard.app import App
    from tradeguard.requests import CleanReport, CommandReceipt


@task(name="reset-daily", retries=3, retry_delay_seconds=5, cache_policy=NO_CACHE)
def reset_daily_task(app: App, source: str = "schedule") -> dict[str, Any]:
    """Reset daily P&L and trade count; idempotent per trading day, so retries are safe."""
    return services.reset_daily(app, source=source)


@task(name="clean-state", retries=1, retry_delay_seconds=5, cache_policy=NO_CACHE)
def clean_state_task(app: App, older_than_seconds: float, dry_run: bool) -> CleanReport:
    """Remove stale locks and temp files, rotate backups, prune old reports."""
    return services.clean_state(app, older_than_seconds=older_than_seconds, dry_run=dry_run)


@task(name="operator-command", cache_policy=NO_CACHE)
def operator_command_task(app: App, action: str, reason: str, who: str) -> CommandReceipt:
    """Queue or apply one operator command (never retried: commands are not idempotent)."""
    return services.operator_command(app, action, reason, who)
