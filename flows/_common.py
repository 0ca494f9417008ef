"""What every flow shares: settings from parameters, failure alerts, request building."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.clock import ensure_utc
from engine.errors import ConfigurationError
from tradeguard.alerts import Alert, LogNotifier, Notifier, Severity
from tradeguard.data import symbol_of
from tradeguard.requests import DataSpec, ReplayRequest

if TYPE_CHECKING:
    from prefect import Flow
    from prefect.client.schemas.objects import FlowRun, State

    from tradeguard.app import App
    from tradeguard.settings import Settings

log = logging.getLogger(__name__)

def build_settings(config_file: str | None, state_dir: str | None) -> Settings:
    """Build the run's Settings once from the flow parameters (config path, state_dir)."""
    from tradeguard.settings import load_settings

    overrides: dict[str, Any] = {}
    if state_dir:
        overrides["store"] = {"state_dir": Path(state_dir)}
    return load_settings(Path(config_file) if config_file else None, **overrides)


def build_app(config_file: str | None, state_dir: str | None) -> App:
    """Build the use cases' runtime from the flow parameters (the flow's composition root)."""
    from tradeguard.bootstrap import bootstrap

    return bootstrap(build_settings(config_file, state_dir))


def run_creator(default: str = "prefect") -> str:
    """Return who created the running flow run (user, automation, deployment), else default."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    run = context.flow_run if context is not None else None
    creator = getattr(run, "created_by", None)
    if creator is not None:
        label = creator.display_value or (str(creator.id) if creator.id else "")
        kind = (creator.type or "").lower()
        if label:
            return f"{kind}:{label}" if kind else label
    if run is not None:
        return f"{default}:{run.name}"  # the audit trail then points at the run
    return default


def validation_data(settings: Settings) -> list[str]:
    """Return the data parameter of the calm control validation day from settings.replay."""
    from tradeguard.data import resolve_data_dir

    replay = settings.replay
    return [str(resolve_data_dir(replay.data_dir) / replay.validation_file)]


def build_notifier(settings: Settings | None) -> Notifier:
    """Return the composition root's notifier, or a LogNotifier when it cannot be built."""
    try:
        from tradeguard import bootstrap

        if settings is not None:
            return bootstrap.build_notifier(settings)
    except Exception as e:  # alerting about a failure must not fail itself
        log.warning("notifier_build_failed error=%s", type(e).__name__)
    return LogNotifier()


def parse_data_spec(spec: str) -> DataSpec:
    """Parse one data parameter: "path" or "SYMBOL=path"."""
    symbol, sep, path_text = spec.partition("=")
    if not sep:
        symbol, path_text = "", spec
    path = Path(path_text).expanduser()
    if not path_text:
        message = f"data spec {spec!r} has no file path (expected 'path' or 'SYMBOL=path')"
        raise ConfigurationError(message)
    return DataSpec(path=path, symbol=symbol.strip() or symbol_of(path))


def build_request(
    data: Sequence[str],
    start: datetime | None = None,
    end: datetime | None = None,
    duration_minutes: float | None = None,
    faults: str | None = None,
    seed: int = 0,
    realtime: bool = False,
) -> ReplayRequest:
    """Build a ReplayRequest from flow parameters; duration counts from start when end is unset."""
    if not data:
        message = "data: at least one data file is required ('path' or 'SYMBOL=path')"
        raise ConfigurationError(message)
    start_utc = ensure_utc(start, "start") if start is not None else None
    end_utc = ensure_utc(end, "end") if end is not None else None
    if end_utc is None and duration_minutes is not None:
        if start_utc is None:
            message = "duration_minutes needs start (or give end instead)"
            raise ConfigurationError(message)
        end_utc = start_utc + timedelta(minutes=duration_minutes)
    if start_utc is not None and end_utc is not None and end_utc <= start_utc:
        message = f"end ({end_utc.isoformat()}) must be after start ({start_utc.isoformat()})"
        raise ConfigurationError(message)
    return ReplayRequest(
        data=tuple(parse_data_spec(s) for s in data),
        start=start_utc,
        end=end_utc,
        faults=Path(faults) if faults else None,
        seed=seed,
        realtime=realtime,
    )


def day_window(day: date | str) -> tuple[datetime, datetime]:
    """Return [00:00, next 00:00) UTC of a calendar day."""
    first = date.fromisoformat(day) if isinstance(day, str) else day
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def _settings_for_alert(flow_run: FlowRun) -> Settings | None:
    params = flow_run.parameters or {}
    try:
        return build_settings(params.get("config_file"), params.get("state_dir"))
    except Exception:  # the failure may be the settings themselves
        return None


def flow_run_alert(
    settings: Settings | None, flow: str, run_id: str, state: str, message: str, at: datetime
) -> bool:
    """Notify through the outbox that a flow run failed or crashed; True when on its way."""
    from tradeguard.alerting.policy import flow_alert

    facts = flow_alert(flow, run_id, state, message or "no message", ensure_utc(at, "at"), None)
    severity = Severity(facts.priority.value)
    alert = Alert(f"flow_{state.lower()}", facts.summary, facts.reason, severity, facts)
    return build_notifier(settings).notify(alert)


def _send(event: str, severity: Severity, flow: Flow[..., Any], run: FlowRun, state: State) -> None:
    from tradeguard.alerting.policy import flow_alert

    at = state.timestamp if state.timestamp is not None else datetime.now(UTC)
    message = (state.message or "no message") + f" (flow run {run.name})"
    facts = flow_alert(flow.name, str(run.id), state.name or event, message, at, None)
    alert = Alert(
        event=event,
        title=f"tradeguard flow {flow.name} run {run.name} {state.name}",
        body=(state.message or "no message")
        + f"\nflow_run_id={run.id} parameters={run.parameters}",
        severity=severity,
        facts=facts,
    )
    failure: str | None = None
    try:
        delivered = build_notifier(_settings_for_alert(run)).notify(alert)
    except Exception as e:  # a broken channel must not mask the original failure
        failure, delivered = type(e).__name__, True
    if failure is not None:
        log.error("alert_send_failed event=%s error=%s", event, failure)
    elif not delivered:
        log.error("alert_not_delivered event=%s flow=%s", event, flow.name)


def alert_on_failure(flow: Flow[..., Any], flow_run: FlowRun, state: State) -> None:
    """Flow hook: alert operators that a flow run failed."""
    _send("flow_failed", Severity.CRITICAL, flow, flow_run, state)


def alert_on_crash(flow: Flow[..., Any], flow_run: FlowRun, state: State) -> None:
    """Flow hook: alert operators that a flow run crashed (infrastructure or process died)."""
    _send("flow_crashed", Severity.EMERGENCY, flow, flow_run, state)


ALERT_HOOKS: dict[str, Any] = {"on_failure": [alert_on_failure], "on_crashed": [alert_on_crash]}
