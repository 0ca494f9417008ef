"""`tradeguard analytics` and `tradeguard report ...`: typer sub-apps over analytics and reports."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from entrypoints.cli_support import (
    FullHelpGroup,
    UsageError,
    parse_utc,
    require_state_dir,
    settings_of,
)
from tradeguard.data import resolve_data_dir_or_none

if TYPE_CHECKING:
    from datetime import datetime

    from tradeguard.reports.render import WrittenReport
    from tradeguard.settings import Settings

analytics_app = typer.Typer(
    cls=FullHelpGroup,
    help="Query the analytics database (DuckDB beside the state store, refreshed first).",
    invoke_without_command=True,
    # A group stops parsing options at its first positional; QUERY may come before options.
    context_settings={"allow_interspersed_args": True},
)
report_app = typer.Typer(
    cls=FullHelpGroup,
    help="Write incident, session and validation reports (Markdown + HTML with charts).",
    no_args_is_help=True,
)

SinceOpt = Annotated[
    str | None, typer.Option("--since", metavar="ISO", help="Window start, ISO-8601 with zone.")
]
UntilOpt = Annotated[
    str | None, typer.Option("--until", metavar="ISO", help="Window end, ISO-8601 with zone.")
]
OutOpt = Annotated[
    Path | None,
    typer.Option("--out", metavar="DIR", help="Reports directory (default: <state dir>/reports)."),
]


def _settings(ctx: typer.Context) -> Settings:
    return settings_of(ctx)


def _data_dir(ctx: typer.Context) -> Path | None:
    return resolve_data_dir_or_none(_settings(ctx).replay.data_dir)


def store_file(state_dir: Path) -> Path:
    """Return the state store of a state directory (the composition root names the file)."""
    from tradeguard import bootstrap

    return bootstrap.store_path(state_dir)


def _store(ctx: typer.Context) -> Path:
    settings = _settings(ctx)
    require_state_dir(settings)
    path = store_file(settings.store.state_dir)
    if not path.is_file():
        message = f"state directory {settings.store.state_dir} holds no tradeguard state store"
        raise UsageError(message)
    return path


def _window(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    start, end = parse_utc(since, "--since"), parse_utc(until, "--until")
    if start is not None and end is not None and end < start:
        message = "--until must not be before --since"
        raise UsageError(message)
    return start, end


@analytics_app.callback(invoke_without_command=True)
def analytics(
    ctx: typer.Context,
    query: Annotated[
        str | None,
        typer.Argument(
            metavar="[QUERY]",
            help="daily-pnl, performance, slippage, failures, signals, breaker-time, incidents "
            "(none: a one-screen overview).",
        ),
    ] = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    fmt: Annotated[
        str, typer.Option("--format", metavar="FORMAT", help="table, csv or json.")
    ] = "table",
    combine_dirs: Annotated[
        list[Path] | None,
        typer.Option(
            "--combine", metavar="DIR",
            help="State directory to combine (repeat for each bot); builds one combined file.",
        ),
    ] = None,
) -> None:
    """Refresh the analytics file, then print a named query or the overview."""
    from tradeguard import analytics as an

    if fmt not in an.FORMATS:
        message = f"--format must be one of {', '.join(an.FORMATS)}, got {fmt!r}"
        raise UsageError(message)
    if query is not None and query not in an.QUERIES:
        message = f"unknown query {query!r}; choose one of {', '.join(an.QUERIES)}"
        raise UsageError(message)
    start, end = _window(since, until)
    if combine_dirs:
        stores = [store_file(d) for d in combine_dirs]
        missing = [str(s) for s in stores if not s.is_file()]
        if missing:
            message = f"--combine: no state store at {', '.join(missing)}"
            raise UsageError(message)
        _refuse_repeated(combine_dirs, stores)
    else:
        stores = [_store(ctx)]
    table = an.answer(stores, query, start, end)
    overview_screen = query is None and fmt == "table"
    text = an.as_key_values(table) if overview_screen else an.render(table, fmt)
    typer.echo(text, nl=False)


def _refuse_repeated(dirs: list[Path], stores: list[Path]) -> None:
    """Refuse one state store combined twice (under two spellings): its bot counted twice."""
    seen: dict[Path, Path] = {}
    for directory, store in zip(dirs, stores, strict=True):
        key = store.resolve()
        if key in seen:
            message = f"--combine: {directory} is the same state directory as {seen[key]}"
            raise UsageError(message)
        seen[key] = directory


def _echo_written(kind: str, written: WrittenReport) -> None:
    typer.echo(f"{kind}: {written.html}")
    typer.echo(f"  markdown: {written.markdown}")
    for chart in written.charts:
        typer.echo(f"  chart: {chart}")


@report_app.command("incident")
def report_incident(
    ctx: typer.Context,
    since: SinceOpt = None,
    until: UntilOpt = None,
    last: Annotated[bool, typer.Option("--last", help="Only the last incident.")] = False,
    out: OutOpt = None,
    new_only: Annotated[
        bool, typer.Option("--new-only", help="Skip episodes that already have a report.")
    ] = False,
) -> None:
    """Write one report per HALT/SHUTDOWN episode in the window (default: all; --last)."""
    from tradeguard.reports import incident_reports

    if last and (since or until):
        message = "--last cannot be combined with --since/--until"
        raise UsageError(message)
    start, end = _window(since, until)
    store = _store(ctx)
    outcomes = incident_reports(
        store, since=start, until=end, last=last, out_dir=out,
        data_dir=_data_dir(ctx), only_new=new_only,
    )
    if not outcomes:
        typer.echo("no HALT or SHUTDOWN episode in the journal for this window")
    for outcome in outcomes:
        if outcome.written is None:
            typer.echo(f"{outcome.slug}: skipped ({outcome.skipped_reason})")
        else:
            _echo_written(outcome.slug, outcome.written)


@report_app.command("session")
def report_session(
    ctx: typer.Context, since: SinceOpt = None, until: UntilOpt = None, out: OutOpt = None
) -> None:
    """Write the session report (P&L, equity, breaker timeline, orders, signals)."""
    from tradeguard.reports import session_report

    start, end = _window(since, until)
    if (start is None) != (end is None):
        message = "give both --since and --until, or neither (the whole journal)"
        raise UsageError(message)
    report, written = session_report(
        _store(ctx), since=start, until=end, out_dir=out, data_dir=_data_dir(ctx)
    )
    _echo_written(report.slug, written)


@report_app.command("validation")
def report_validation(
    ctx: typer.Context,
    run: Annotated[
        Path,
        typer.Argument(
            metavar="RUN",
            help="A validation run: its state directory, or the JSON of `validate --json`.",
        ),
    ],
    out: OutOpt = None,
) -> None:
    """Write the validation report of one run: gate matrix, P&L, breaker timeline, orders."""
    from tradeguard.reports import load_validation_result, validation_report

    del ctx
    result = None
    run_dir = run
    if run.is_file():
        result = load_validation_result(run)
        state_dir = (result or {}).get("state_dir")
        if not isinstance(state_dir, str):
            message = f"{run}: not a validation result (no state_dir)"
            raise UsageError(message)
        run_dir = Path(state_dir)
    elif run.is_dir():
        result = load_validation_result(run / "validation.json")
        state_dir = (result or {}).get("state_dir")
        if not store_file(run).is_file() and isinstance(state_dir, str):
            run_dir = Path(state_dir)  # a matrix run: the journal is its first scenario's
    else:
        message = f"validation run {run} does not exist"
        raise UsageError(message)
    report, written = validation_report(store_file(run_dir), result, out_dir=out)
    _echo_written(report.slug, written)
