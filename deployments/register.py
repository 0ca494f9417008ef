"""Register every tradeguard deployment (and its work pool) from the local source tree."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import Flow
from prefect.events import DeploymentEventTrigger
from prefect.events.schemas.automations import Posture
from prefect.schedules import Cron, Schedule

from deployments.alerts import ensure_failure_automation
from deployments.server import is_healthy, local_api_url
from engine.errors import ConfigurationError
from tasks.events import HALT_EVENTS

if TYPE_CHECKING:
    from tradeguard.settings import Settings

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class DeploymentSpec:
    """One deployment: which flow, under which name, when and with which defaults."""

    entrypoint: str
    name: str
    description: str
    schedules: tuple[Schedule, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)
    triggers: tuple[DeploymentEventTrigger, ...] = ()
    concurrency_limit: int | None = None


def resolve_api_url(settings: Settings) -> str | None:
    """Return the API to register against: PREFECT_API_URL, settings, a live local server."""
    from prefect.settings import PREFECT_API_URL

    orch = settings.orchestration
    ambient = PREFECT_API_URL.value()
    if ambient:  # an explicit PREFECT_API_URL always wins, as in the CLI
        return str(ambient)
    if orch.api_url:
        return orch.api_url
    local = local_api_url(orch.server_host, orch.server_port)
    return local if is_healthy(local) else None


def incident_trigger(common: dict[str, Any]) -> DeploymentEventTrigger:
    """Run incident_report when a session's breaker reaches HALT or SHUTDOWN."""
    return DeploymentEventTrigger(
        name="tradeguard-incident-on-breaker-halt",
        description="Publish an incident report when a breaker escalates to HALT or SHUTDOWN.",
        expect=set(HALT_EVENTS),
        match={"prefect.resource.id": "tradeguard.session.*"},
        posture=Posture.Reactive,
        threshold=1,
        within=timedelta(0),
        parameters={
            **common,
            "state_dir": "{{ event.payload.state_dir }}",
            "trigger_event": "{{ event.event }}",
        },
    )


def _cron(cron: str, tz: str, slug: str) -> Schedule:
    return Cron(cron, timezone=tz, slug=slug)


def _when(cron: str, tz: str) -> str:
    # The UI shows the schedule in the viewer's zone: the description says which zone it is.
    return f"cron `{cron}` in {tz}"


def deployment_specs(settings: Settings, config_file: Path | None = None) -> list[DeploymentSpec]:
    """Return every deployment with schedules and defaults taken from settings."""
    orch = settings.orchestration
    tz = orch.schedule_timezone
    common: dict[str, Any] = {"state_dir": str(settings.store.state_dir)}
    if config_file is not None:
        common["config_file"] = str(config_file)
    operator = [
        DeploymentSpec(
            f"flows/operator.py:{action}",
            "operator",
            f"Operator command {action} (on demand; `who` defaults to the run's creator).",
            parameters=common,
        )
        for action in ("halt", "resume", "recover")
    ]
    return [
        DeploymentSpec(
            "flows/trading_session.py:trading_session",
            "daily",
            "Daily paper session on the replayed feed at 1x speed, "
            f"{_when(orch.session_cron, tz)}; one run at a time per state directory.",
            (_cron(orch.session_cron, tz, f"daily-session-{_slug(tz)}"),),
            {
                **common,
                "data": _session_data(settings),
                # The replayed day runs at 1x from 00:00 for the session length (23:55 end).
                "start": f"{settings.replay.validation_day.isoformat()}T00:00:00Z",
                "duration_minutes": orch.session_duration_minutes,
                "realtime": True,
            },
            concurrency_limit=1,  # the deployment is bound to one state directory (account)
        ),
        DeploymentSpec(
            "flows/live_session.py:live_session",
            "live",
            "Live session (paper by default) on the venue's live feed, on demand; one run at "
            "a time per state directory (account).",
            parameters={**common, "paper": True},
            concurrency_limit=1,
        ),
        DeploymentSpec(
            "flows/daily_reset.py:daily_reset",
            "daily",
            f"Reset daily P&L and trade count, {_when(orch.reset_cron, tz)}.",
            (_cron(orch.reset_cron, tz, f"daily-reset-{_slug(tz)}"),),
            common,
        ),
        DeploymentSpec(
            "flows/validation_24h.py:validation_24h",
            "weekly",
            f"Validation scenario matrix, {_when(orch.validation_cron, tz)} and on demand.",
            (_cron(orch.validation_cron, tz, f"weekly-validation-{_slug(tz)}"),),
            common,
            concurrency_limit=1,
        ),
        DeploymentSpec(
            "flows/state_cleanup.py:state_cleanup",
            "hourly",
            "Stale locks, temp files, backup rotation, old reports, "
            f"{_when(orch.cleanup_cron, tz)}.",
            (_cron(orch.cleanup_cron, tz, f"hourly-cleanup-{_slug(tz)}"),),
            {**common, "older_than_seconds": settings.store.stale_after_seconds},
        ),
        DeploymentSpec(
            "flows/incident_report.py:incident_report",
            "on-breaker-halt",
            "Incident timeline, on demand and when the breaker reaches HALT/SHUTDOWN.",
            parameters=common,
            triggers=(incident_trigger(common),),
            concurrency_limit=1,  # HALT events of one episode queue up; the first writes
        ),
        *operator,
        DeploymentSpec(
            "flows/heartbeat.py:alerts_heartbeat",
            "dead-man",
            "Dead-man check: alert on a stale session heartbeat, deliver pending alerts, "
            f"{_when(settings.alerts.heartbeat_check_cron, tz)}.",
            (_cron(settings.alerts.heartbeat_check_cron, tz, f"dead-man-{_slug(tz)}"),),
            common,
        ),
        DeploymentSpec(
            "flows/alert_flow_run.py:alerts_flow_run",
            "on-failed-run",
            "Alert on a failed or crashed tradeguard flow run (run by the failure automation).",
            parameters=common,
        ),
    ]


def _slug(tz: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", tz.lower()).strip("-")


def _session_data(settings: Settings) -> list[str]:
    try:
        from flows._common import validation_data

        return validation_data(settings)
    except Exception as e:  # no data dir on this host: operators pass data at run time
        log.warning("session_default_data_missing error=%s", e)
        return []


def base_job_template(pool_type: str) -> dict[str, Any]:
    """Return the default job template of a work pool type (process, docker, kubernetes).

    The process template comes from the worker class; the others from the worker metadata
    Prefect ships, so registering a Docker or Kubernetes pool needs neither prefect-docker
    nor prefect-kubernetes here (only where their workers run).
    """
    if pool_type == "process":
        from prefect.workers.process import ProcessWorker

        return ProcessWorker.get_default_base_job_template()
    import prefect.server.api

    bundled = Path(prefect.server.api.__file__).parent / "collections_data" / "views"
    metadata = json.loads((bundled / "aggregate-worker-metadata.json").read_text())
    for workers in metadata.values():
        if pool_type in workers:
            return dict(workers[pool_type]["default_base_job_configuration"])
    message = f"orchestration.work_pool_type {pool_type!r}: no job template known"
    raise ConfigurationError(message)


def ensure_work_pool(name: str, pool_type: str = "process") -> bool:
    """Create the work pool if it is missing; return True when it was created."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            existing = client.read_work_pool(name)
        except ObjectNotFound:
            pass
        else:
            if existing.type != pool_type:
                log.warning("work_pool_type_differs name=%s existing=%s configured=%s",
                            name, existing.type, pool_type)
            return False
        pool = WorkPoolCreate(
            name=name, type=pool_type, base_job_template=base_job_template(pool_type)
        )
        try:
            client.create_work_pool(pool)
        except ObjectAlreadyExists:  # created concurrently (e.g. by a starting worker)
            return False
    log.info("work_pool_created name=%s type=%s", name, pool_type)
    return True


@contextmanager
def _api(url: str | None) -> Iterator[None]:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if url is None:
        log.warning("deploy_target_ephemeral reason=no api_url and no local server answering")
        yield
        return
    with temporary_settings(updates={PREFECT_API_URL: url}):
        yield


def deploy_all(settings: Settings, config_file: Path | None = None) -> list[str]:
    """Create the work pool if missing and register every deployment (idempotent).

    Prefect prints one table of every deployment registered.
    """
    from prefect.deployments.runner import RunnerDeployment, deploy

    from tradeguard.settings import resolve_config_file

    config_file = config_file or resolve_config_file(None)[0]
    orch = settings.orchestration
    names: list[str] = []
    ids: dict[str, Any] = {}
    with _api(resolve_api_url(settings)):
        ensure_work_pool(orch.work_pool, orch.work_pool_type)
        runners = []
        for spec in deployment_specs(settings, config_file):
            flow = Flow.from_source(source=str(REPO_ROOT), entrypoint=spec.entrypoint)
            assert isinstance(flow, Flow)  # sync context: never the coroutine variant
            runner = flow.to_deployment(
                name=spec.name,
                schedules=list(spec.schedules),
                parameters=spec.parameters,
                triggers=list(spec.triggers),
                concurrency_limit=spec.concurrency_limit,
                description=spec.description,
                tags=["tradeguard"],
            )
            assert isinstance(runner, RunnerDeployment)
            runners.append(runner)
            names.append(f"{flow.name}/{spec.name}")
        deployed = deploy(*runners, work_pool_name=orch.work_pool, build=False, push=False,
                          print_next_steps_message=False, ignore_warnings=True)
        assert isinstance(deployed, list)  # sync context: never the coroutine variant
        ids.update(zip(names, deployed, strict=True))
        ensure_failure_automation(ids, _common_parameters(settings, config_file))
    log.info("deployments_registered count=%d pool=%s", len(names), orch.work_pool)
    return names


def _common_parameters(settings: Settings, config_file: Path | None) -> dict[str, Any]:
    common: dict[str, Any] = {"state_dir": str(settings.store.state_dir)}
    if config_file is not None:
        common["config_file"] = str(config_file)
    return common
