"""Alert tasks: the dead-man check and outbox delivery, thin wrappers over tradeguard.alerting."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from engine.clock import Clock, SimulatedClock, SystemClock
from tradeguard.alerting import service
from tradeguard.alerting.heartbeat import SessionSchedule
from tradeguard.store.files import store_path

if TYPE_CHECKING:
    from tradeguard.settings import Settings



@task(name="alerts-heartbeat-check", cache_policy=NO_CACHE)
def heartbeat_check_task(
    settings: Settings, now: datetime | None = None, scheduled: bool = True
) -> dict[str, Any]:
    """Alert on a stale or missing session, escalate unacked alerts, deliver pending ones.

    scheduled: also expect a session inside the orchestration.session_cron window.
    """
    db = store_path(settings.store.state_dir)
    if not db.exists():
        return {"state": "no state store", "stale": False, "alert_id": None, "delivered": {}}
    clock: Clock = SimulatedClock(now) if now is not None else SystemClock()
    orch = settings.orchestration
    schedule = SessionSchedule(orch.session_cron, orch.schedule_timezone,
                               orch.session_duration_minutes) if scheduled else None
    return service.check_heartbeat(
        settings.alerts,
        orch.schedule_timezone,
        db,
        clock,
        settings.alerts.drain_timeout_seconds,
        schedule,
    )
