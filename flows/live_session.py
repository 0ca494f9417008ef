"""Live session flow: one long-running flow run trading live bars until stopped.

`paper=True` (the default) is forward paper trading: live bars from the venue, orders to the
paper venue. `paper=False` trades the configured account (testnet by default; mainnet needs
venue.allow_mainnet). One session per state directory is enforced by the state-dir lock; give
each account its own state directory (and its deployment a concurrency limit of 1).
Cancelling the run stops the session like SIGTERM, publishes the summary and ends the run
Cancelled (see tasks/cancellation.py).
"""

from __future__ import annotations

import logging
from typing import Any

from prefect import flow
from prefect.client.schemas.objects import State

from flows._common import ALERT_HOOKS, build_settings
from tasks.cancellation import SessionStop, end_stopped
from tasks.live import run_live_task
from tasks.reports import publish_table_task
from tradeguard.render import key_value_rows

log = logging.getLogger(__name__)

LIVE_TABLE_KEY = "live-session-summary"


@flow(name="live-session", log_prints=False, **ALERT_HOOKS)
def live_session(
    paper: bool = True,
    symbols: list[str] | None = None,
    duration_minutes: float | None = None,
    state_dir: str | None = None,
    config_file: str | None = None,
) -> dict[str, Any] | State[Any]:
    """Run a live session (paper by default) until cancelled or for duration_minutes.

    Args:
        paper: Forward paper trading on live bars (default); false trades the configured
            account (testnet unless venue.allow_mainnet).
        symbols: Symbols to trade (default: the venue settings' symbols).
        duration_minutes: Stop after this long; none = until the run is cancelled.
        state_dir: State directory of the bot (default: store.state_dir of the settings).
        config_file: TOML settings file (default: $TRADEGUARD_CONFIG or none).
    """
    settings = build_settings(config_file, state_dir)
    duration = None if duration_minutes is None else duration_minutes * 60.0
    stop = SessionStop()
    summary = run_live_task(settings, paper, symbols, duration, stop)
    if stop.requested:
        # A Cancelling run may start no task run: publish directly.
        publish_table_task.fn(LIVE_TABLE_KEY, key_value_rows(summary), "Live session metrics")
        log.warning("live_flow_stopped reason=%s last_bar=%s", summary["reason"],
                    summary["last_bar"])
        message = (
            f"live session stopped cleanly ({summary['reason']}) after bar "
            f"{summary['last_bar']}; summary in artifact {LIVE_TABLE_KEY}"
        )
        return end_stopped(stop, message)
    publish_table_task(LIVE_TABLE_KEY, key_value_rows(summary), "Live session metrics")
    return summary
