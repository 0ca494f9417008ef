"""Live session task: the whole live engine loop is ONE task, retried after a crash."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prefect import task
from prefect.cache_policies import NO_CACHE

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
    stop_source: Callable[[Callable[[str], None]], None] | None = None,
) -> dict[str, Any]:
    """Run the live session; a retry after a crash reconciles with the venue before trading.

    stop_source (tasks.cancellation.SessionStop.subscribe) owns the stop requests.
    """
    venue = settings.venue
    if symbols:
        venue = venue.model_validate({**venue.model_dump(), "symbols": symbols})
    listener = breaker_event_listener(settings.store.state_dir)
    return live_session(settings, venue, paper=paper, listeners=[listener],
                        duration_seconds=duration_seconds, stop_source=stop_source)
