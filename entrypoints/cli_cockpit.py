"""`tradeguard status [--watch]` and `tradeguard api`: what an operator watches and drives."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from entrypoints.cli_support import (
    AppState,
    JsonOpt,
    UsageError,
    echo_data,
    require_state_dir,
    state_of,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tradeguard.settings import Settings
    from tradeguard.workspace import SqliteWorkspace

STORE_NAME = "state.db"

# `status` and `api` are top-level commands (entrypoints/cli_lazy.py lists them).
top_commands = typer.Typer()


def latest_validation_dir(state_dir: Path) -> Path | None:
    """Return the newest validation run's state directory under state_dir (make run's)."""
    runs = sorted(
        (p.parent for p in state_dir.glob(f"validation/*/{STORE_NAME}")), key=lambda p: p.name
    )
    return runs[-1] if runs else None


def _status_workspace(state: AppState) -> SqliteWorkspace:
    """The workspace to show: the named state directory, else its latest validation run."""
    workspace = state.workspace()
    if workspace.exists():
        return workspace
    latest = latest_validation_dir(workspace.state_dir)
    if latest is None:
        require_state_dir(state.settings())
        return workspace
    typer.echo(
        f"note: {workspace.state_dir} holds no session; showing the latest validation "
        f"run {latest}",
        err=True,
    )
    return workspace._replace(state_dir=latest)


def _session_now(status: Mapping[str, Any]) -> datetime:
    # A stopped replay lives in simulated time: ages are measured against its own clock.
    clock = status.get("clock")
    if clock and not status.get("running"):
        return datetime.fromisoformat(clock)
    return datetime.now(UTC)


@top_commands.command("status")
def status(
    ctx: typer.Context,
    as_json: JsonOpt = False,
    watch: Annotated[
        bool, typer.Option("--watch", help="Refresh a full-screen view until Ctrl-C.")
    ] = False,
    interval: Annotated[
        float,
        typer.Option("--interval", metavar="SECONDS", min=0.2, max=3600,
                     help="Refresh period of --watch."),
    ] = 2.0,
) -> None:
    """Show breaker state and time in it, current bar, today's P&L, positions, intents."""
    from engine.clock import SystemClock
    from tradeguard.cockpit.status_read import read_status

    workspace = _status_workspace(state_of(ctx))
    if watch:
        if as_json:
            message = "--watch and --json exclude each other"
            raise UsageError(message)
        _watch(workspace, interval)
        return
    echo_data(read_status(workspace, SystemClock()), as_json)


def _watch(workspace: SqliteWorkspace, interval: float) -> None:
    """Redraw the status screen every `interval` seconds (rich Live) until interrupted."""
    from rich.console import Console
    from rich.live import Live

    from engine.clock import SystemClock
    from tradeguard.cockpit.status_read import read_status
    from tradeguard.cockpit.view import render_status

    clock = SystemClock()
    console = Console()
    snapshot = read_status(workspace, clock)
    with Live(render_status(snapshot, _session_now(snapshot)), console=console,
              auto_refresh=False, screen=console.is_terminal) as live:
        try:
            while True:
                snapshot = read_status(workspace, clock)
                live.update(render_status(snapshot, _session_now(snapshot)), refresh=True)
                time.sleep(interval)  # the refresh period the operator asked for
        except KeyboardInterrupt:
            return


@top_commands.command("api")
def api(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option(metavar="ADDRESS", help="Bind address (default api.host).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(metavar="PORT", min=1, max=65535, help="TCP port (default api.port)."),
    ] = None,
) -> None:
    """Serve the HTTP control API (status, metrics, halt/resume/recover) until Ctrl-C."""
    from entrypoints.api import serve
    from tradeguard.cockpit.local import LocalControl

    state = state_of(ctx)
    settings = state.settings()
    require_state_dir(settings)
    config = _api_config(settings, host, port)
    if not config.tokens:
        message = (
            "api.tokens is empty: set TRADEGUARD_API__TOKENS='[{\"name\": \"ops\", "
            "\"token\": \"<24+ chars>\", \"scope\": \"operate\"}]' or [[api.tokens]] in the "
            "config file"
        )
        raise UsageError(message)
    typer.echo(f"api listening on http://{config.host}:{config.port} (docs at /docs)", err=True)
    serve(LocalControl(state.app()), config)


def _api_config(settings: Settings, host: str | None, port: int | None) -> Any:
    from pydantic import ValidationError

    from tradeguard.cockpit.config import ApiConfig

    updates = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    try:
        return ApiConfig.model_validate({**dict(settings.api), **updates})
    except ValidationError as e:
        problems = "; ".join(str(err["msg"]) for err in e.errors())
        message = f"api: {problems}"
        raise UsageError(message) from None
