"""Flow the failure automation runs: alert on a failed or crashed tradeguard flow run.

The flows' own on_failure/on_crashed hooks alert first; this catches runs whose process died
before a hook could run. Both write the same outbox condition with the same event time, so
the second within the dedup window only adds to the count.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow

from flows._common import build_settings, flow_run_alert


@flow(name="alerts-flow-run")  # no failure hooks: an alert about an alert must not loop
def alerts_flow_run(
    flow_run_id: str,
    flow_name: str = "",
    state_name: str = "Failed",
    message: str = "",
    occurred: datetime | None = None,
    state_dir: str | None = None,
    config_file: str | None = None,
) -> dict[str, Any]:
    """Queue the alert of one failed/crashed flow run in the outbox and deliver it."""
    settings = build_settings(config_file, state_dir)
    at = occurred or datetime.now(UTC)
    run_id = flow_run_id.removeprefix("prefect.flow-run.")
    delivered = flow_run_alert(settings, flow_name or "unknown", run_id, state_name, message, at)
    return {"flow_run_id": run_id, "state": state_name, "delivered": delivered}
