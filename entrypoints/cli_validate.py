"""The body of `tradeguard validate`: the scenario matrix as a Prefect flow, or real time."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from entrypoints.cli_support import EXIT_GATE_FAILED, app_of, dumps
from entrypoints.prefect_api import TemporaryServer, prefect_api

if TYPE_CHECKING:
    from tradeguard.scenarios.runner import MatrixResult, Progress
    from tradeguard.settings import Settings


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Progress | None]:
    """Yield a progress callback drawing a rich bar on stderr, or None when disabled."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("validate"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.description}"), console=Console(stderr=True), transient=True,
    )
    task = bar.add_task("", total=None)

    def advance(name: str, done: int, total: int) -> None:
        bar.update(task, completed=done, total=total, description=name)

    with bar:
        yield advance


def run_matrix_command(
    settings: Settings,
    config_file: Path | None,
    scenarios_dir: Path | None,
    scenario: str | None,
    gx_audit: str,
    as_json: bool,
    log_level: str,
) -> int:
    """Run the matrix flow, print its verdict, return the exit code (0 passed, 1 failed)."""
    from tradeguard.scenarios.model import default_scenarios_dir, load_scenarios

    folder = scenarios_dir or default_scenarios_dir()
    load_scenarios(folder, scenario)  # a malformed scenario is refused before Prefect starts
    from tradeguard.store.files import ensure_private_dir

    ensure_private_dir(settings.store.state_dir)  # a file in its place: exit 2 naming it
    started = time.perf_counter()
    with prefect_api(settings, log_level) as server:  # before prefect is imported
        result = _run_flow(server, settings, config_file, folder, scenario, gx_audit, as_json)
        total = time.perf_counter() - started
    from tradeguard.scenarios import report

    data = report.matrix_data(result, {"prefect_and_startup_seconds": total - result.seconds,
                                       "total_seconds": total})
    if as_json:
        typer.echo(dumps(data))
    else:
        for line in report.terminal_lines(result):
            typer.echo(line)
        t = data["timings"]
        typer.echo(
            f"time: {total:.1f} s (engine {t['engine_seconds']:.1f} s, crash drills "
            f"{t['crash_drill_seconds']:.1f} s, GX audit {t['gx_audit_seconds']:.1f} s, "
            f"Prefect start-up and tasks {t['prefect_and_startup_seconds']:.1f} s)"
        )
        typer.echo(f"report: {result.run_dir / 'report.html'}")
    return 0 if result.passed else EXIT_GATE_FAILED


def _run_flow(
    server: TemporaryServer | None,
    settings: Settings,
    config_file: Path | None,
    folder: Path,
    scenario: str | None,
    gx_audit: str,
    as_json: bool,
) -> MatrixResult:
    from flows.validation_24h import progress_hook, validation_24h

    if server is not None:
        server.wait_ready()
    with progress_bar(not as_json and sys.stderr.isatty()) as progress:
        token = progress_hook.set(progress)
        try:
            state = validation_24h(
                scenarios_dir=str(folder),
                scenario=scenario,
                gx_audit=gx_audit,  # checked by the command
                state_dir=str(settings.store.state_dir),
                config_file=str(config_file) if config_file is not None else None,
                return_state=True,
            )
        finally:
            progress_hook.reset(token)
    value: Any = state.result(raise_on_failure=False)
    if isinstance(value, BaseException):
        raise value
    return value  # type: ignore[no-any-return]


def run_realtime(ctx: typer.Context, settings: Settings, hours: float, as_json: bool) -> int:
    """Run the real-time validation for `hours` of wall-clock time and print its verdict."""
    from tradeguard.store.files import ensure_private_dir
    from tradeguard.validation_realtime import realtime_lines, realtime_validation

    ensure_private_dir(settings.store.state_dir)  # a file in its place: exit 2 naming it
    verdict = realtime_validation(app_of(ctx), hours)
    if as_json:
        typer.echo(dumps(verdict.to_json()))
    else:
        for line in realtime_lines(verdict):
            typer.echo(line)
    return 0 if verdict.passed else EXIT_GATE_FAILED
