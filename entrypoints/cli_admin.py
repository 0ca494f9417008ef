"""Sub-commands of the console command: `state`, `config` and `data`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from entrypoints.cli_checks import checks_app
from entrypoints.cli_support import (
    EXIT_GATE_FAILED,
    AppState,
    FullHelpGroup,
    JsonOpt,
    UsageError,
    app_of,
    dumps,
    existing_file,
    require_state_dir,
    settings_of,
    state_of,
)

if TYPE_CHECKING:
    from tradeguard.settings_doc import FieldView

state_app = typer.Typer(
    cls=FullHelpGroup, help="Back up, restore and archive the state store.",
    no_args_is_help=True,
)
config_app = typer.Typer(
    cls=FullHelpGroup,
    help="Show the effective configuration or write a commented template.", no_args_is_help=True
)
faults_app = typer.Typer(
    cls=FullHelpGroup, help="Check fault-plan files before a replay.", no_args_is_help=True
)
data_app = typer.Typer(
    cls=FullHelpGroup, help="Check the market data files.", no_args_is_help=True
)
data_app.add_typer(checks_app)  # merges `data check` (Great Expectations) into the data group


@state_app.command("backup")
def state_backup(ctx: typer.Context) -> None:
    """Write an online backup of the state store and print its path."""
    settings = settings_of(ctx)
    require_state_dir(settings)
    from tradeguard import services

    typer.echo(str(services.backup_state(app_of(ctx))))


@state_app.command("archive")
def state_archive(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Move the journal rows of state.db to history.db now (stop any running session first)."""
    settings = settings_of(ctx)
    require_state_dir(settings)
    from tradeguard import services

    move = services.archive_state(app_of(ctx))
    if as_json:
        typer.echo(dumps(None if move is None else {"epoch": move.epoch, "moved": move.moved}))
    elif move is None:
        typer.echo("nothing to archive: every journal row is in the history file already")
    else:
        tables = ", ".join(f"{table}={rows}" for table, rows in move.moved.items() if rows)
        typer.echo(f"archived {move.rows} rows (epoch {move.epoch}): {tables or 'final intents'}")


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


ChangedOpt = Annotated[
    bool, typer.Option("--changed", help="Only the fields whose value differs from the default.")
]


@config_app.command("show")
def config_show(ctx: typer.Context, as_json: JsonOpt = False, changed: ChangedOpt = False) -> None:
    """Print every setting with its value, where it came from and what it means (secrets masked)."""
    state = state_of(ctx)
    settings = state.settings()
    if as_json and not changed:
        typer.echo(dumps(settings.model_dump_safe()))
        return
    views = [v for v in explained_fields(state) if v.changed or not changed]
    if as_json:
        typer.echo(dumps({v.path: {"value": v.value, "default": v.default, "source": v.source}
                          for v in views}))
        return
    for view in views:
        typer.echo(f"{view.path} = {dumps(view.value)}  [{view.source}]")
        typer.echo(f"    {view.description}")
    if changed and not views:
        typer.echo("every setting is at its default")


def explained_fields(state: AppState) -> list[FieldView]:
    """Return the settings' field views with the TOML file and overrides that built them."""
    import os
    import tomllib

    from tradeguard.settings import resolve_config_file
    from tradeguard.settings_doc import field_views

    settings = state.settings()  # validates the file first: reading it below cannot fail
    path, _ = resolve_config_file(state.config)
    toml: dict[str, Any] = {}
    if path is not None:
        with path.open("rb") as handle:
            toml = tomllib.load(handle)
    overrides = {"store": {"state_dir": state.state_dir}} if state.state_dir else {}
    views = field_views(settings, toml=toml, config_file=path, environ=os.environ,
                        overrides=overrides)
    # The safe dump masks secrets but keeps what helps (an alert URL's scheme).
    safe = settings.model_dump_safe()
    return [replace(v, value=safe[group][name]) if group in safe and name in safe[group] else v
            for v in views for group, name in [v.path.split(".", 1)]]


@config_app.command("init")
def config_init(
    out: Annotated[
        Path | None,
        typer.Option("--out", metavar="FILE", help="Write here (refuses an existing file); "
                     "default: print to stdout."),
    ] = None,
) -> None:
    """Write a commented TOML of every setting at its default."""
    from tradeguard.settings_doc import toml_template

    text = toml_template()
    if out is None:
        typer.echo(text, nl=False)
        return
    target = out.expanduser()
    if target.exists():
        message = f"--out: {target} already exists; choose another file or delete it first"
        raise UsageError(message)
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as e:
        message = f"--out: cannot write {target}: {e.strerror}"
        raise UsageError(message) from e
    typer.echo(f"wrote {target}")


@faults_app.command("check")
def faults_check(
    plan: Annotated[Path, typer.Argument(metavar="PLAN", help="Fault plan TOML file.")],
    as_json: JsonOpt = False,
) -> None:
    """Validate a fault plan and print its windows (exit 2 naming entry and field if bad)."""
    from tradeguard.faultplan import load_fault_plan

    path = existing_file(plan, "PLAN", "fault plan")
    assert path is not None  # plan is a required argument
    windows = load_fault_plan(path).windows
    rows = [
        {"start": w.start.isoformat(), "end": w.end.isoformat(),
         **{k: v for k, v in vars_of(w).items() if k not in {"start", "end"} and v}}
        for w in windows
    ]
    if as_json:
        typer.echo(dumps({"plan": str(path), "windows": rows}))
        return
    typer.echo(f"{path}: {len(rows)} fault window(s), valid")
    for number, row in enumerate(rows, start=1):
        faults = ", ".join(f"{k}={v}" for k, v in row.items() if k not in {"start", "end"})
        typer.echo(f"  fault[{number}] {row['start']} .. {row['end']}: {faults or 'no fault'}")


def vars_of(window: Any) -> dict[str, Any]:
    """Return a frozen dataclass's fields as a dict."""
    from dataclasses import asdict

    return asdict(window)


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
