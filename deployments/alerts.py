"""The Prefect automation that alerts on failed or crashed runs of tradeguard deployments."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import Any, cast
from uuid import UUID

from prefect.automations import (
    Automation,
    EventTrigger,
    Posture,
    ResourceSpecification,
    RunDeployment,
)

log = logging.getLogger(__name__)

AUTOMATION_NAME = "tradeguard-alert-on-failed-or-crashed-run"
ALERT_FLOW = "alerts-flow-run"


def failure_automation(
    alert_deployment: UUID, flow_names: Iterable[str], common: dict[str, Any]
) -> Automation:
    """Return the automation: Failed/Crashed run of a tradeguard flow -> alerts-flow-run."""
    watched = sorted({name for name in flow_names if name != ALERT_FLOW})
    return Automation(
        name=AUTOMATION_NAME,
        description="Alert operators (outbox, every channel) when a tradeguard flow run fails "
        "or crashes, even if the run's own hooks never ran.",
        trigger=EventTrigger(
            expect={"prefect.flow-run.Failed", "prefect.flow-run.Crashed"},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related=ResourceSpecification(
                {"prefect.resource.role": "flow", "prefect.resource.name": watched}
            ),
            posture=Posture.Reactive,
            threshold=1,
            within=timedelta(0),
        ),
        actions=[
            RunDeployment(
                source="selected",
                deployment_id=alert_deployment,
                parameters={
                    **common,
                    "flow_run_id": "{{ event.resource.id }}",
                    "flow_name": "{{ flow.name }}",
                    "state_name": "{{ flow_run.state.name }}",
                    "message": "{{ flow_run.state.message }}",
                    "occurred": "{{ event.occurred }}",
                },
                job_variables=None,
            )
        ],
    )


def ensure_failure_automation(
    deployment_ids: dict[str, UUID], common: dict[str, Any]
) -> Automation | None:
    """Create or replace the failure automation (idempotent); None without the alert flow."""
    alert_id = next(
        (i for name, i in deployment_ids.items() if name.startswith(f"{ALERT_FLOW}/")), None
    )
    if alert_id is None:
        return None
    wanted = failure_automation(alert_id, (n.split("/")[0] for n in deployment_ids), common)
    try:
        existing = cast("Automation", Automation.read(name=AUTOMATION_NAME))
    except ValueError:  # not found
        existing = None
    if existing is not None:
        existing.delete()
    created = cast("Automation", wanted.create())
    log.info("automation_registered name=%s id=%s", AUTOMATION_NAME, created.id)
    return created
