"""`tradeguard alerts ...`: test channels, outbox status, ack, silences, delivery, dead-man check.

Each command parses options and calls one function of tradeguard.alerting.service.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from entrypoints.cli_support import (
    EXIT_GATE_FAILED,
    JsonOpt,
    WhoOpt,
    dumps,
    echo_data,
    os_user,
    parse_duration,
    settings_of,
)
from tradeguard.store.files import store_path

if TYPE_CHECKING:
    from tradeguard.settings import Settings

alerts_app = typer.Typer(
    help="Alert channels, outbox, acknowledgements, silences and the dead-man check.",
    no_args_is_help=True,
)

def _settings(ctx: typer.Context) -> Settings:
    return settings_of(ctx)


def _db(settings: Settings) -> Path:
    return store_path(settings.store.state_dir)


def _now() -> datetime:
    return datetime.now(UTC)


@alerts_app.command("test")
def test_command(
    ctx: typer.Context,
    channel: Annotated[
        str | None, typer.Option("--channel", metavar="NAME", help="Only this channel.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Send a test message to each channel; print success or the error; exit 1 on a failure."""
    from tradeguard.alerting.service import check_channels

    settings = _settings(ctx)
    zone = settings.orchestration.schedule_timezone
    results = check_channels(settings.alerts, zone, _now(), channel)
    if as_json:
        typer.echo(dumps([r.__dict__ for r in results]))
    elif not results:
        typer.echo("no channel configured (alerts.channels, alerts.urls, alerts.config_file)")
    for result in results if not as_json else ():
        outcome = "ok" if result.ok else f"FAILED {result.error}"
        typer.echo(f"{result.channel:<20} {outcome} ({result.seconds:.2f}s)")
    if any(not r.ok for r in results):
        raise typer.Exit(EXIT_GATE_FAILED)


@alerts_app.command("status")
def status_command(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Show the outbox: pending, delivered, failed per channel, last error, unacked alerts."""
    from tradeguard.alerting.service import status

    echo_data(status(_db(_settings(ctx)), _now()), as_json)


@alerts_app.command("ack")
def ack_command(
    ctx: typer.Context,
    alert_id: Annotated[int, typer.Argument(metavar="ID", help="Alert id (see alerts status).")],
    who: WhoOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Acknowledge an alert so it is not escalated."""
    from tradeguard.alerting.service import acknowledge

    echo_data(acknowledge(_db(_settings(ctx)), alert_id, who or os_user(), _now()), as_json)


@alerts_app.command("silence")
def silence_command(
    ctx: typer.Context,
    pattern: Annotated[
        str,
        typer.Argument(metavar="CONDITION", help="Condition or pattern, e.g. issue:DATA_FEED*."),
    ],
    duration: Annotated[str, typer.Option("--for", metavar="DURATION", help="90s/10m/2h/1d.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit trail).")],
    who: WhoOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Mute a condition for a window (SHUTDOWN-level alerts are never muted)."""
    from tradeguard.alerting.service import add_silence

    seconds = parse_duration(duration, "--for")
    silence = add_silence(
        _db(_settings(ctx)), pattern, timedelta(seconds=seconds), reason, who or os_user(), _now()
    )
    echo_data(_plain(silence.__dict__), as_json)


@alerts_app.command("silences")
def silences_command(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List active silences."""
    from tradeguard.alerting.service import silences

    rows = [_plain(s.__dict__) for s in silences(_db(_settings(ctx)), _now())]
    echo_data({"silences": rows}, as_json)


@alerts_app.command("unsilence")
def unsilence_command(
    ctx: typer.Context,
    silence_id: Annotated[int, typer.Argument(metavar="ID", help="Silence id.")],
    who: WhoOpt = None,
) -> None:
    """End a silence early."""
    from tradeguard.alerting.service import cancel_silence

    cancel_silence(_db(_settings(ctx)), silence_id, who or os_user(), _now())
    typer.echo(f"silence {silence_id} cancelled")


@alerts_app.command("deliver")
def deliver_command(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Escalate overdue acks and deliver every due alert now (bounded by drain_timeout)."""
    from engine.clock import SystemClock
    from tradeguard.alerting.service import deliver

    settings = _settings(ctx)
    sent = deliver(settings.alerts, settings.orchestration.schedule_timezone, _db(settings),
                   SystemClock(), settings.alerts.drain_timeout_seconds)
    echo_data({"delivered": sent}, as_json)


@alerts_app.command("heartbeat-check")
def heartbeat_command(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Dead-man check: alert when a running session's heartbeat is stale; deliver pending."""
    from engine.clock import SystemClock
    from tradeguard.alerting.service import check_heartbeat

    settings = _settings(ctx)
    result = check_heartbeat(settings.alerts, settings.orchestration.schedule_timezone,
                             _db(settings), SystemClock(), settings.alerts.drain_timeout_seconds)
    echo_data(result, as_json)
    if result["stale"]:
        raise typer.Exit(EXIT_GATE_FAILED)


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in data.items()}
