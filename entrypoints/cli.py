"""The `tradeguard` console command: each command parses options and calls ONE use case."""

from __future__ import annotations

import logging
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

import typer

from entrypoints.cli_lazy import LazyGroup
from entrypoints.cli_support import (
    AppState,
    EndOpt,
    JsonOpt,
    StartOpt,
    UsageError,
    WhoOpt,
    app_of,
    configure_logging,
    dumps,
    echo_data,
    existing_file,
    os_user,
    parse_data_specs,
    parse_duration,
    parse_utc,
    render_rows,
    require_state_dir,
    settings_of,
    state_of,
)

log = logging.getLogger(__name__)

# Every command is listed in entrypoints/cli_lazy.py and built only when it is used.
app = typer.Typer(
    cls=LazyGroup,
    help="tradeguard: run a trading bot unattended and safely (breaker, risk limits, "
    "crash-safe state, Prefect orchestration).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
# The top-level commands defined in this module (the table in cli_lazy names them).
top_commands = typer.Typer()


def _services() -> ModuleType:
    # Imported on use so that --help and usage errors never depend on the whole engine.
    from tradeguard import services

    return services


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
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Take over a state-directory lock that names another host (check that no "
            "session runs there first); also lets `state restore` replace a locked store.",
        ),
    ] = False,
) -> None:
    """Global options shared by every command; they may also follow the command name."""
    configure_logging(log_level)
    ctx.obj = AppState(
        config=config, state_dir=state_dir, log_level=log_level.upper(), force=force
    )


@top_commands.command()
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
    settings = settings_of(ctx)
    start_at = parse_utc(start, "--start")
    end_at = parse_utc(end, "--end")
    if start_at is not None and end_at is not None and end_at <= start_at:
        message = f"--end {end} must be after --start {start}"
        raise UsageError(message)
    from tradeguard.data import resolve_data_dir_or_none

    data_dir = resolve_data_dir_or_none(settings.replay.data_dir)
    specs = parse_data_specs(list(data), data_dir)
    faults_file = existing_file(faults, "--faults", "fault plan")
    services = _services()
    request = services.ReplayRequest(
        data=tuple(services.DataSpec(path=path, symbol=symbol) for path, symbol in specs),
        start=start_at,
        end=end_at,
        faults=faults_file,
        seed=seed,
    )
    from tradeguard.store.files import ensure_private_dir

    ensure_private_dir(settings.store.state_dir)  # a file in its place: exit 2 naming it
    from entrypoints.progress import ReplayProgress
    from entrypoints.signals import stop_on_signals

    total = None
    if start_at is not None and end_at is not None:
        total = int((end_at - start_at).total_seconds() // settings.feed.bar_seconds) * len(specs)
    # The handlers stay until the summary is out: a repeated signal (a second Ctrl-C) must not
    # cut it short or turn the clean stop's exit code into a kill.
    with stop_on_signals() as stop:
        with ReplayProgress(total, None if not as_json else False) as bar:
            result = services.run_session(
                app_of(ctx), request, listeners=[bar.listen] if bar.enabled else [],
                should_stop=stop.reason, feed_tap=bar.tap if bar.enabled else None,
            )
        if as_json:
            typer.echo(dumps(result.summary.to_json()))
        else:
            from tradeguard.render import summary_lines

            for line in summary_lines(result.summary, settings.broker.starting_cash):
                typer.echo(line)
            typer.echo(f"state directory: {result.state_dir}")
    if stop.signal_name is not None:
        raise typer.Exit(stop.exit_code())


@top_commands.command()
def validate(
    ctx: typer.Context,
    scenarios: Annotated[
        Path | None,
        typer.Option(
            "--scenarios",
            metavar="DIR",
            help="Folder of scenario *.toml files (default: the scenarios/ shipped with "
            "tradeguard).",
        ),
    ] = None,
    scenario: Annotated[
        str | None, typer.Option("--scenario", metavar="NAME", help="Run only this scenario.")
    ] = None,
    gx_audit: Annotated[
        str,
        typer.Option(
            "--gx-audit",
            metavar="WHICH",
            help="Great Expectations journal audit on the first scenario, all, or none.",
        ),
    ] = "first",
    realtime: Annotated[
        bool,
        typer.Option(
            "--realtime",
            help="Keep a paper session running for --hours of wall-clock time instead.",
        ),
    ] = False,
    hours: Annotated[
        float,
        typer.Option("--hours", min=0.001, max=168.0, help="Length of the --realtime run."),
    ] = 24.0,
    as_json: JsonOpt = False,
) -> None:
    """Run the validation matrix (every scenario and its expected outcome) on real data."""
    state = state_of(ctx)
    settings = state.settings()  # fail fast, without a flow run, on a bad configuration
    if gx_audit not in ("first", "all", "none"):
        message = f"--gx-audit {gx_audit!r}: expected first, all or none"
        raise UsageError(message)
    if realtime:
        from entrypoints.cli_validate import run_realtime

        raise typer.Exit(run_realtime(ctx, settings, hours, as_json))
    from entrypoints.cli_validate import run_matrix_command

    code = run_matrix_command(
        settings, state.config, scenarios, scenario, gx_audit, as_json, state.log_level
    )
    raise typer.Exit(code)


def _reason(text: str) -> Any:
    return typer.Option("--reason", metavar="TEXT", help=text)


def _operator(ctx: typer.Context, action: str, reason: str, who: str | None) -> None:
    settings = settings_of(ctx)
    require_state_dir(settings)
    receipt = _services().operator_command(app_of(ctx), action, reason, who or os_user())
    how = "applied directly" if receipt.applied_directly else "queued for the running session"
    command_id = f" (command id {receipt.command_id})" if receipt.command_id is not None else ""
    typer.echo(f"{receipt.action}: {how}{command_id}")
    if receipt.outcome:
        typer.echo(f"  {receipt.outcome}")
    for line in render_rows(receipt.detail):
        typer.echo(f"  {line}")


@top_commands.command()
def halt(
    ctx: typer.Context,
    reason: Annotated[str, _reason("Why trading is halted (audited).")],
    who: WhoOpt = None,
) -> None:
    """Halt trading now (manual override): no new entries until resume/recover."""
    _operator(ctx, "halt", reason, who)


@top_commands.command()
def resume(
    ctx: typer.Context,
    reason: Annotated[str, _reason("Why trading resumes (audited).")] = "operator resume",
    who: WhoOpt = None,
) -> None:
    """Lift a manual halt; the breaker keeps its own state."""
    _operator(ctx, "resume", reason, who)


@top_commands.command()
def recover(
    ctx: typer.Context,
    reason: Annotated[str, _reason("Why recovery is forced (audited).")] = (
        "operator recovery"
    ),
    who: WhoOpt = None,
) -> None:
    """Confirm recovery from HALT/SHUTDOWN after investigating (operator confirmation)."""
    _operator(ctx, "recover", reason, who)


@top_commands.command()
def reset(
    ctx: typer.Context,
    reason: Annotated[str, _reason("Why the breaker is reset (audited).")] = (
        "operator reset"
    ),
    who: WhoOpt = None,
) -> None:
    """Reset the circuit breaker to CLOSED and clear its failure counters."""
    _operator(ctx, "reset", reason, who)


@top_commands.command("reset-daily")
def reset_daily(
    ctx: typer.Context,
    reason: Annotated[str, _reason("Why (audited).")] = "operator daily reset",
    who: WhoOpt = None,
) -> None:
    """Reset daily P&L and trade count for the current trading day (idempotent per day)."""
    _operator(ctx, "reset-daily", reason, who)


@top_commands.command("clean-state")
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
    settings = settings_of(ctx)
    require_state_dir(settings)
    report = _services().clean_state(app_of(ctx), seconds, dry_run)
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


@top_commands.command()
def reconcile(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Reconcile every unfinished order intent with the broker."""
    settings = settings_of(ctx)
    require_state_dir(settings)
    echo_data(_services().reconcile(app_of(ctx)), as_json)


@top_commands.command("incident-report")
def incident_report(
    ctx: typer.Context,
    start: StartOpt = None,
    end: EndOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print breaker events, orders and operator actions (default: the last incident)."""
    start_at = parse_utc(start, "--start")
    end_at = parse_utc(end, "--end")
    if start_at is not None and end_at is not None and end_at <= start_at:
        message = f"--end {end} must be after --start {start}"
        raise UsageError(message)
    settings = settings_of(ctx)
    require_state_dir(settings)
    timeline = _services().incident_timeline(app_of(ctx), start_at, end_at)
    if as_json:
        typer.echo(dumps(timeline.to_json()))
        return
    from tradeguard.render import timeline_markdown

    typer.echo(timeline_markdown(timeline))  # the same report Prefect publishes as an artifact


@top_commands.command()
def server(ctx: typer.Context) -> None:
    """Run the local Prefect server and a process worker (blocks until interrupted)."""
    settings = settings_of(ctx)
    from deployments.server import LocalPrefect, run_local_server, ui_url

    def ready(local: LocalPrefect) -> None:
        typer.echo(f"Prefect UI: {ui_url(local.api_url)}  (API {local.api_url})")
        typer.echo(f"PREFECT_HOME: {local.home}; logs in server.log and worker.log there")
        typer.echo("Ctrl-C stops the server and the worker.")

    run_local_server(settings, on_ready=ready)


@top_commands.command()
def deploy(ctx: typer.Context) -> None:
    """Register the work pool and every deployment with their schedules."""
    settings = settings_of(ctx)
    from deployments.register import deploy_all

    names = deploy_all(settings, state_of(ctx).config)  # Prefect prints the one table
    pool = settings.orchestration
    typer.echo(f"registered {len(names)} deployments on work pool {pool.work_pool} "
               f"({pool.work_pool_type})")


def main() -> None:
    """Run the console command."""
    app(prog_name="tradeguard")
