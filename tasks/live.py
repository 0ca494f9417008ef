"""Live session task: the whole live engine loop is ONE task, retried after a crash."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.cancellation import SessionStop, run_until_stopped
from tasks.events import breaker_event_listener
from tasks.session import (
    SESSION_RETRIES,
    SESSION_RETRY_DELAY_SECONDS,
    retry_unless_operator_must_act,
)
from tradeguard.venues.service import live_session

if TYPE_CHECKING:
    from tradeguard.settings import Settings


@task(
    name="run-live-session",
    retries=SESSION_RETRIES,
    retry_delay_seconds=SESSION_RETRY_DELAY_SECONDS,
    retry_condition_fn=retry_unless_operator_must_act,
    cache_policy=NO_CACHE,
)
def run_live_task(
    settings: Settings,
    paper: bool,
    symbols: list[str] | None,
    duration_seconds: float | None,
    stop: SessionStop | None = None,
) -> dict[str, Any]:
    """Run the live session; a retry after a crash reconciles with the venue before trading.

    A SIGTERM (the runner cancelling the flow run), Ctrl-C or the run's cancellation ends the
    session cleanly, recorded on `stop` (tasks/cancellation.py).
    """
    venue = settings.venue
    if symbols:
        venue = venue.model_validate({**venue.model_dump(), "symbols": symbols})
    listener = breaker_event_listener(settings.store.state_dir)
    stop = stop or SessionStop()
    return run_until_stopped(stop, lambda: live_session(
        settings, venue, paper=paper, listeners=[listener], duration_seconds=duration_seconds,
        stop_source=stop.subscribe,
    ))
