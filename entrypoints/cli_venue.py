"""`tradeguard venue ...`: readiness check, loopback exchange emulator, live session."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from entrypoints.cli_support import (
    EXIT_GATE_FAILED,
    FullHelpGroup,
    JsonOpt,
    UsageError,
    dumps,
    echo_data,
    existing_file,
    parse_utc,
    settings_of,
)
from tradeguard.data import resolve_data_dir

if TYPE_CHECKING:
    from tradeguard.settings import Settings
    from tradeguard.venues.readiness import ReadinessReport

venue_app = typer.Typer(
    cls=FullHelpGroup,
    help="Live venues through ccxt: readiness check, loopback emulator, live session.",
    no_args_is_help=True,
)
# `tradeguard run` (entrypoints/cli_lazy.py lists it) is the live session of issue 10: the
# same command as `venue run`, registered at the end of this module.
top_commands = typer.Typer()

DEFAULT_MARKET_FILE = "btc-perp_ftx_1m.csv.gz"
EXIT_INTERRUPTED = 130
DEFAULT_START = "2022-01-21T12:00:00Z"


def _settings(ctx: typer.Context) -> Settings:
    return settings_of(ctx)


def render_readiness(report: ReadinessReport) -> list[str]:
    """Render the readiness table and its verdict line."""
    width = max(len("check"), *(len(c.name) for c in report.checks))
    lines = [f"{'check':<{width}}  result  observed / expected"]
    for check in report.checks:
        verdict = "PASS" if check.ok else "FAIL"
        lines.append(f"{check.name:<{width}}  {verdict:<6}  {check.observed} / {check.expected}")
    if report.ready:
        lines.append(f"venue {report.exchange} READY ({len(report.checks)} checks)")
    else:
        names = "; ".join(f"{c.name}: {c.observed}" for c in report.failed())
        lines.append(f"venue {report.exchange} NOT READY: {names}")
    return lines


@venue_app.command("check")
def check(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Connect, check credentials, markets, balances, clock skew and rate limits; no trading."""
    from tradeguard.venues.service import venue_check

    report = venue_check(_settings(ctx))
    if as_json:
        rows = [{"name": c.name, "ok": c.ok, "observed": c.observed, "expected": c.expected}
                for c in report.checks]
        typer.echo(dumps({"exchange": report.exchange, "ready": report.ready, "checks": rows}))
    else:
        for line in render_readiness(report):
            typer.echo(line)
    if not report.ready:
        raise typer.Exit(EXIT_GATE_FAILED)


@venue_app.command("emulator")
def emulator(
    ctx: typer.Context,
    market: Annotated[
        list[str] | None,
        typer.Option("--market", metavar="BASE/QUOTE=PATH",
                     help=f"Market and its bar file (repeatable; default BTC/USDT from "
                     f"{DEFAULT_MARKET_FILE} in the data folder)."),
    ] = None,
    start: Annotated[
        str, typer.Option(metavar="ISO", help="Data time served as the current minute.")
    ] = DEFAULT_START,
    port: Annotated[
        int, typer.Option(metavar="PORT", help="Loopback port (0 = any free port).")
    ] = 8765,
    faults: Annotated[
        Path | None, typer.Option(metavar="PLAN", help="JSON list of HTTP fault rules.")
    ] = None,
    skew_ms: Annotated[
        int, typer.Option(metavar="MS", help="Server clock skew to inject (ms).")
    ] = 0,
) -> None:
    """Serve a loopback Binance spot emulator (keys = venue.api_key/api_secret) until Ctrl-C."""
    from tradeguard.venues.config import VenueCredentials
    from tradeguard.venues.emulator.market import SymbolSpec
    from tradeguard.venues.service import EmulatorRequest, build_emulator

    settings = _settings(ctx)
    credentials = VenueCredentials.resolve(settings.venue)
    default_file = resolve_data_dir(settings.replay.data_dir) / DEFAULT_MARKET_FILE
    specs = [SymbolSpec.parse(m) for m in market] if market else [
        SymbolSpec("BTCUSDT", "BTC", "USDT", default_file)
    ]
    begin = parse_utc(start, "--start")
    if begin is None:
        message = "--start: a time is required"
        raise UsageError(message)
    request = EmulatorRequest(
        markets=tuple(specs), start=begin, port=port,
        api_key=credentials.api_key.get_secret_value(),
        api_secret=credentials.api_secret.get_secret_value(),
        faults=existing_file(faults, "--faults", "fault plan"), skew_ms=skew_ms,
    )
    server = build_emulator(request)
    typer.echo(f"emulator listening on {server.url} (set TRADEGUARD_VENUE__API_URL={server.url})")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        typer.echo("emulator stopped")
    finally:
        server.stop()


@venue_app.command("run")
def run(
    ctx: typer.Context,
    paper: Annotated[
        bool, typer.Option("--paper", help="Live bars, paper venue (forward paper trading).")
    ] = False,
    symbols: Annotated[
        list[str] | None,
        typer.Option("--symbol", metavar="BASE/QUOTE", help="Symbol (repeatable; default "
                     "venue.symbols)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a live session on the configured venue until SIGINT/SIGTERM/SIGHUP."""
    from tradeguard.venues.service import live_session

    settings = _settings(ctx)
    venue = settings.venue
    if symbols:
        try:
            venue = venue.model_validate({**venue.model_dump(), "symbols": symbols})
        except ValueError as e:
            message = f"--symbol: {e}"
            raise UsageError(message) from e
    summary = live_session(settings, venue, paper=paper)
    echo_data(summary, as_json)
    if summary.get("reason") == "stopped by signal SIGINT":
        raise typer.Exit(EXIT_INTERRUPTED)  # the shell's 128 + SIGINT; SIGTERM/SIGHUP exit 0


top_commands.command(
    "run", help="Run a live session on the configured venue (same as `venue run`)."
)(run)
