"""The dead-man deployment's schedule and the failed/crashed-run automation `deploy` registers."""

from __future__ import annotations

import uuid
from pathlib import Path

from deployments.alerts import ALERT_FLOW, AUTOMATION_NAME, failure_automation
from deployments.register import deployment_specs
from tradeguard.settings import load_settings


def test_dead_man_check_is_scheduled_on_the_alerts_cron_in_the_schedule_zone(
    tmp_path: Path,
) -> None:
    settings = load_settings(
        None,
        store={"state_dir": tmp_path},
        replay={"data_dir": tmp_path},
        orchestration={"schedule_timezone": "Europe/Paris"},
        alerts={"heartbeat_check_cron": "*/2 * * * *"},
    )
    specs = {s.name: s for s in deployment_specs(settings)}
    schedule = specs["dead-man"].schedules[0]
    assert (schedule.cron, schedule.timezone) == ("*/2 * * * *", "Europe/Paris")
    assert specs["dead-man"].parameters["state_dir"] == str(tmp_path)
    assert not specs["on-failed-run"].schedules


def test_failure_automation_watches_every_flow_but_its_own_and_runs_the_alert_flow() -> None:
    target = uuid.uuid4()
    automation = failure_automation(
        target, ["trading-session", "daily-reset", ALERT_FLOW], {"state_dir": "/srv/tg"}
    )
    trigger = automation.trigger
    assert automation.name == AUTOMATION_NAME
    assert trigger.expect == {"prefect.flow-run.Failed", "prefect.flow-run.Crashed"}
    related = trigger.match_related
    assert not isinstance(related, list)
    assert related.root["prefect.resource.name"] == ["daily-reset", "trading-session"]
    action = automation.actions[0]
    assert action.deployment_id == target
    assert action.parameters is not None
    assert action.parameters["state_dir"] == "/srv/tg"
    assert action.parameters["flow_run_id"] == "{{ event.resource.id }}"


def test_failure_automation_registers_once_on_the_server_and_is_replaced_on_redeploy() -> None:
    from prefect.automations import Automation
    from prefect.client.orchestration import get_client

    from deployments.alerts import ensure_failure_automation

    ids = {f"{ALERT_FLOW}/on-failed-run": uuid.uuid4(), "trading-session/daily": uuid.uuid4()}
    first = ensure_failure_automation(ids, {"state_dir": "/srv/tg"})
    second = ensure_failure_automation(ids, {"state_dir": "/srv/tg"})
    with get_client(sync_client=True) as client:
        named = client.read_automations_by_name(AUTOMATION_NAME)
    assert first is not None and second is not None
    assert [a.id for a in named] == [second.id]
    stored = Automation.read(id=second.id)
    assert isinstance(stored, Automation)
    assert stored.trigger.expect == {"prefect.flow-run.Failed", "prefect.flow-run.Crashed"}
    assert ensure_failure_automation({"trading-session/daily": uuid.uuid4()}, {}) is None
