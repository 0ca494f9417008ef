"""Dead-man check flow: a scheduled deployment that notices a session which died silently."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow

from flows._common import ALERT_HOOKS, build_settings
from tasks.alerts import heartbeat_check_task


@flow(name="alerts-heartbeat", **ALERT_HOOKS)
def alerts_heartbeat(
    state_dir: str | None = None,
    config_file: str | None = None,
    now: datetime | None = None,
    scheduled: bool = True,
) -> dict[str, Any]:
    """Alert when a session's heartbeat is stale or a scheduled one is missing; deliver.

    `now` overrides the wall clock (drills and tests with simulated time); `scheduled`
    also expects a session inside the orchestration.session_cron window.
    """
    settings = build_settings(config_file, state_dir)
    return heartbeat_check_task(settings, now, scheduled)
