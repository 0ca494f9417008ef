"""`tradeguard data check`: the market-data suite (Great Expectations) from the command line.

Merged into the `data` group of entrypoints/cli_admin.py. Great Expectations is imported only
when the command runs, so `--help` and every other command stay fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from entrypoints.cli_support import (
    EXIT_GATE_FAILED,
    EndOpt,
    FullHelpGroup,
    JsonOpt,
    StartOpt,
    UsageError,
    dumps,
    parse_data_spec,
    parse_utc,
    settings_of,
)
from tradeguard.data import resolve_data_dir, resolve_data_dir_or_none, symbol_of

checks_app = typer.Typer(
    cls=FullHelpGroup, help="Check the market data files.", no_args_is_help=True
)


def _default_files(directory: Path) -> list[tuple[Path, str]]:
    from tradeguard.data import KNOWN_FILES

    paths = [directory / known.name for known in KNOWN_FILES]
    present = [(path, symbol_of(path)) for path in paths if path.is_file()]
    if not present:
        message = f"no known market data file in {directory}; pass --data PATH[:SYMBOL]"
        raise UsageError(message)
    return present


@checks_app.command("check")
def data_check(
    ctx: typer.Context,
    data: Annotated[
        list[str] | None,
        typer.Option(
            "--data",
            metavar="PATH[:SYMBOL]",
            help="Bar file to check (repeatable; default: every known file in the data "
            "directory); a bare name is also looked up in the data directory.",
        ),
    ] = None,
    start: StartOpt = None,
    end: EndOpt = None,
    docs: Annotated[
        Path | None,
        typer.Option("--docs", metavar="DIR", help="Also write the Data Docs HTML into DIR."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the market-data expectations; print each failure with sample rows; exit 1 if any."""
    settings = settings_of(ctx)
    start_at = parse_utc(start, "--start")
    end_at = parse_utc(end, "--end")
    if start_at is not None and end_at is not None and end_at <= start_at:
        message = f"--end {end} must be after --start {start}"
        raise UsageError(message)
    if data:
        directory = resolve_data_dir_or_none(settings.replay.data_dir)
        specs = [parse_data_spec(item, directory) for item in data]
    else:
        specs = _default_files(resolve_data_dir(settings.replay.data_dir))
    from checks.market_data import preflight
    from checks.runs import bar_source, market_params

    sources = [bar_source(settings.feed, path, symbol) for path, symbol in specs]
    report = preflight(sources, market_params(settings), start_at, end_at, docs)
    if as_json:
        typer.echo(dumps(report.to_dict()))
    else:
        for line in report.text_lines():
            typer.echo(line)
    if not report.success:
        raise typer.Exit(EXIT_GATE_FAILED)
