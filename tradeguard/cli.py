"""The `tradeguard` console command: each command parses options and calls ONE use case."""

from __future__ import annotations

import logging
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tradeguard.cli_alerts import alerts_app
from tradeguard.cli_support import (
    EXIT_GATE_FAILED,
    AppState,
    EdgeGroup,
    EndOpt,
    JsonOpt,
    StartOpt,
    UsageError,
    WhoOpt,
    configure_logging,
    configure_prefect_api,
    data_dir,
    data_dir_or_none,
    dumps,
    echo_data,
    existing_file,
    os_user,
    parse_data_spec,
    parse_duration,
    parse_utc,
    render_gates,
    render_rows,
    render_summary,
    require_state_dir,
)

if TYPE_CHECKING:
    from tradeguard.settings import Settings

log = logging.getLogger(__name__)

app = typer.Typer(
    cls=EdgeGroup,
    help="tradeguard: run a trading bot unattended and safely (breaker, risk limits, "
    "crash-safe state, Prefect orchestration).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
state_app = typer.Typer(help="Back up and restore the state store.", no_args_is_help=True)
config_app = typer.Typer(help="Inspect the effective configuration.", no_args_is_help=True)
data_app = typer.Typer(help="Check the market data files.", no_args_is_help=True)
app.add_typer(state_app, name="state")
app.add_typer(config_app, name="config")
app.add_typer(data_app, name="data")
app.add_typer(alerts_app, name="alerts")


def _state(ctx: typer.Context) -> AppState:
    obj = ctx.find_root().obj
    if not isinstance(obj, AppState):
        obj = AppState()
        ctx.find_root().obj = obj
    return obj


def _services() -> ModuleType:
    # Imported on use so that --help and usage errors never depend on the whole engine.
    from tradeguard import services

    return services


def _settings(ctx: typer.Context) -> Settings:
    return _state(ctx).settings()


@app.callback()
def _global(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            metavar="FILE",
            help="TOML settings file (else $TRADEGUARD_CONFIG); must exist if named.",
        ),
    ] = None,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            "--state-dir", metavar="DIR", help="State directory (overrides store.state_dir)."
        ),
    ] = None,
    log_level: Annotated[
        str,
        typer.Option(
            "--log-level",
            metavar="LEVEL",
            envvar="TRADEGUARD_LOG_LEVEL",
            help="DEBUG, INFO, WARNING or ERROR.",
        ),
    ] = "WARNING",
) -> None:
    """Global options shared by every command."""
    configure_logging(log_level)
    ctx.obj = AppState(config=config, state_dir=state_dir, log_level=log_level.upper())


@app.command()
def replay(
    ctx: typer.Context,
    data: Annotated[
        list[str],
        typer.Option(
            "--data",
            metavar="PATH[:SYMBOL]",
            help="PATH[:SYMBOL] of a *.csv.gz bar file (repeatable); SYMBOL defaults to the "
            "file name before its first '_' (btc-perp_ftx_1m.csv.gz -> BTC-PERP); a bare "
            "name is also looked up in the data directory.",
        ),
    ],
    start: StartOpt = None,
    end: EndOpt = None,
    faults: Annotated[
        Path | None, typer.Option(metavar="PLAN", help="Fault plan file to inject.")
    ] = None,
    seed: Annotated[
        int, typer.Option(min=0, metavar="N", help="Seed of paper-broker randomness.")
    ] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Replay real bars through the engine (resumes the session in the state directory)."""
    settings = _settings(ctx)
    start_at = parse_utc(start, "--start")
    end_at = parse_utc(end, "--end")
    if start_at is not None and end_at is not None and end_at <= start_at:
        message = f"--end {end} must be after --start {start}"
        raise UsageError(message)
    data_dir = data_dir_or_none(settings)
    specs = [parse_data_spec(item, data_dir) for item in data]
    faults_file = existing_file(faults, "--faults", "fault plan")
    services = _services()
    request = services.ReplayRequest(
        data=tuple(services.DataSpec(path=path, symbol=symbol) for path, symbol in specs),
        start=start_at,
        end=end_at,
        faults=faults_file,
        seed=seed,
    )
    settings.store.state_dir.mkdir(parents=True, exist_ok=True)
    result = services.run_session(settings, request)
    if as_json:
        typer.echo(dumps(result.summary))
        return
    for line in render_summary(result.summary, result.stopped_by_breaker):
        typer.echo(line)
    typer.echo(f"state directory: {result.state_dir}")


@app.command()
def validate(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Run the 24h validation on real data (accelerated) and print the gate table."""
    state = _state(ctx)
    settings = state.settings()  # fail fast, without a flow run, on a bad configuration
    settings.store.state_dir.mkdir(parents=True, exist_ok=True)
    result = _run_validation(settings, state.config)
    lines, passed = render_gates(result)
    if as_json:
        typer.echo(dumps(result))
    else:
        for line in lines:
            typer.echo(line)
    if not passed:
        raise typer.Exit(EXIT_GATE_FAILED)


def _run_validation(settings: Settings, config_file: Path | None) -> dict[str, Any]:
    configure_prefect_api(settings)  # before prefect is imported: it reads its settings once
    from flows.validation_24h import validation_24h
    from tasks.validation import ValidationFailedError

    try:
        result: dict[str, Any] = validation_24h(
            state_dir=str(settings.store.state_dir),
            config_file=str(config_file) if config_file is not None else None,
        )
    except ValidationFailedError as e:
        # The flow run ends Failed on a failing gate; keep its gates when it attached them.
        return {"passed": False, "gates": list(getattr(e, "gates", ()) or []), "error": str(e)}
    return result


@app.command()
def status(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Show breaker state, counters, daily P&L/trades, positions and pending intents."""
    settings = _settings(ctx)
    require_state_dir(settings)
    echo_data(_services().status(settings), as_json)


def _operator(ctx: typer.Context, action: str, reason: str, who: str | None) -> None:
    settings = _settings(ctx)
    require_state_dir(settings)
    if not reason.strip():
        message = "--reason must not be empty"
        raise UsageError(message)
    receipt = _services().operator_command(settings, action, reason, who or os_user())
    how = "applied directly" if receipt.applied_directly else "queued for the running session"
    command_id = f" (command id {receipt.command_id})" if receipt.command_id is not None else ""
    typer.echo(f"{receipt.action}: {how}{command_id}")
    for line in render_rows(receipt.detail):
        typer.echo(f"  {line}")


@app.command()
def halt(
    ctx: typer.Context,
    reason: Annotated[str, typer.Option("--reason", help="Why trading is halted (audited).")],
    who: WhoOpt = None,
) -> None:
    """Halt trading now (manual override): no new entries until resume/recover."""
    _operator(ctx, "halt", reason, who)


@app.command()
def resume(
    ctx: typer.Context,
    reason: Annotated[str, typer.Option(help="Why trading resumes (audited).")] = "operator resume",
    who: WhoOpt = None,
) -> None:
    """Lift a manual halt; the breaker keeps its own state."""
    _operator(ctx, "resume", reason, who)


@app.command()
def recover(
    ctx: typer.Context,
    reason: Annotated[str, typer.Option(help="Why recovery is forced (audited).")] = (
        "operator recovery"
    ),
    who: WhoOpt = None,
) -> None:
    """Confirm recovery from HALT/SHUTDOWN after investigating (operator confirmation)."""
    _operator(ctx, "recover", reason, who)


@app.command()
def reset(
    ctx: typer.Context,
    reason: Annotated[str, typer.Option(help="Why the breaker is reset (audited).")] = (
        "operator reset"
    ),
    who: WhoOpt = None,
) -> None:
    """Reset the circuit breaker to CLOSED and clear its failure counters."""
    _operator(ctx, "reset", reason, who)


@app.command("reset-daily")
def reset_daily(
    ctx: typer.Context,
    reason: Annotated[str, typer.Option(help="Why (audited).")] = "operator daily reset",
    who: WhoOpt = None,
) -> None:
    """Reset daily P&L and trade count for the current trading day (idempotent per day)."""
    _operator(ctx, "reset-daily", reason, who)


@app.command("clean-state")
def clean_state(
    ctx: typer.Context,
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than", metavar="DURATION", help="Age of stale files: 90s, 10m, 2h, 1d."
        ),
    ] = "10m",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List, do not delete.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Remove stale locks and temporary files and rotate backups."""
    seconds = parse_duration(older_than, "--older-than")
    settings = _settings(ctx)
    require_state_dir(settings)
    report = _services().clean_state(settings, seconds, dry_run)
    if as_json:
        typer.echo(
            dumps(
                {
                    "dry_run": report.dry_run,
                    "removed": [str(p) for p in report.removed],
                    "kept": [str(p) for p in report.kept],
                }
            )
        )
        return
    verb = "would remove" if report.dry_run else "removed"
    for path in report.removed:
        typer.echo(f"{verb} {path}")
    typer.echo(f"{verb} {len(report.removed)} file(s), kept {len(report.kept)}")


@state_app.command("backup")
def state_backup(ctx: typer.Context) -> None:
    """Write an online backup of the state store and print its path."""
    settings = _settings(ctx)
    require_state_dir(settings)
    typer.echo(str(_services().backup_state(settings)))


@state_app.command("restore")
def state_restore(
    ctx: typer.Context,
    source: Annotated[
        Path | None,
        typer.Option("--from", metavar="BACKUP", help="Backup file (default: latest good backup)."),
    ] = None,
) -> None:
    """Restore the state store from a backup (stop any running session first)."""
    settings = _settings(ctx)
    require_state_dir(settings)
    backup = existing_file(source, "--from", "backup")
    typer.echo(f"restored from {_services().restore_state(settings, backup)}")


@app.command()
def reconcile(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Reconcile every unfinished order intent with the broker."""
    settings = _settings(ctx)
    require_state_dir(settings)
    echo_data(_services().reconcile(settings), as_json)


@app.command("incident-report")
def incident_report(
    ctx: typer.Context,
    start: StartOpt = None,
    end: EndOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print breaker events, orders and operator actions (default: the last incident)."""
    start_at = parse_utc(start, "--start")
    end_at = parse_utc(end, "--end")
    settings = _settings(ctx)
    require_state_dir(settings)
    timeline = _services().incident_timeline(settings, start_at, end_at)
    if not as_json and isinstance(timeline.get("markdown"), str):
        typer.echo(timeline["markdown"])  # the same report Prefect publishes as an artifact
        return
    echo_data(timeline, as_json)


@app.command()
def server(ctx: typer.Context) -> None:
    """Run the local Prefect server (blocks until interrupted)."""
    settings = _settings(ctx)
    from deployments.server import run_local_server

    run_local_server(settings)


@app.command()
def deploy(ctx: typer.Context) -> None:
    """Register the work pool and every deployment with their schedules."""
    settings = _settings(ctx)
    from deployments.register import deploy_all

    for name in deploy_all(settings, _state(ctx).config):
        typer.echo(name)


@config_app.command("show")
def config_show(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Print the effective settings (secrets masked)."""
    echo_data(_settings(ctx).model_dump_safe(), as_json)


@data_app.command("verify")
def data_verify(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Check every data file's presence, sha256 and header against SOURCES.md; exit 1 if bad."""
    directory = data_dir(_settings(ctx))
    from tradeguard.data import verify

    problems = verify(directory)
    if as_json:
        typer.echo(dumps({"data_dir": str(directory), "ok": not problems, "problems": problems}))
    else:
        for problem in problems:
            typer.echo(f"problem: {problem}")
        verdict = f"{len(problems)} problem(s)" if problems else "all data files verified"
        typer.echo(f"{directory}: {verdict}")
    if problems:
        raise typer.Exit(EXIT_GATE_FAILED)


def main() -> None:
    """Run the console command."""
    app(prog_name="tradeguard")
