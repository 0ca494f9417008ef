"""Sub-commands of the console command: `state`, `config` and `data`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from entrypoints.cli_support import (
    EXIT_GATE_FAILED,
    JsonOpt,
    app_of,
    dumps,
    echo_data,
    existing_file,
    require_state_dir,
    settings_of,
    state_of,
)

state_app = typer.Typer(help="Back up and restore the state store.", no_args_is_help=True)
config_app = typer.Typer(help="Inspect the effective configuration.", no_args_is_help=True)
data_app = typer.Typer(help="Check the market data files.", no_args_is_help=True)


@state_app.command("backup")
def state_backup(ctx: typer.Context) -> None:
    """Write an online backup of the state store and print its path."""
    settings = settings_of(ctx)
    require_state_dir(settings)
    from tradeguard import services

    typer.echo(str(services.backup_state(app_of(ctx))))


@state_app.command("restore")
def state_restore(
    ctx: typer.Context,
    source: Annotated[
        Path | None,
        typer.Option("--from", metavar="BACKUP", help="Backup file (default: latest good backup)."),
    ] = None,
) -> None:
    """Restore the state store from a backup (stop any running session first)."""
    settings = settings_of(ctx)
    require_state_dir(settings)
    backup = existing_file(source, "--from", "backup")
    from tradeguard import services

    force = state_of(ctx).force
    typer.echo(f"restored from {services.restore_state(app_of(ctx), backup, force=force)}")


@config_app.command("show")
def config_show(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Print the effective settings (secrets masked)."""
    echo_data(settings_of(ctx).model_dump_safe(), as_json)


@data_app.command("verify")
def data_verify(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Check every data file's presence, sha256 and header against SOURCES.md; exit 1 if bad."""
    from tradeguard.data import resolve_data_dir, verify

    directory = resolve_data_dir(settings_of(ctx).replay.data_dir)

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
