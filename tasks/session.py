"""Session tasks: the whole engine loop is ONE task; bars and orders never become tasks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from engine.errors import ConfigurationError, DataError, StateCorruptedError, StateLockedError
from tasks.cancellation import SessionStop, run_until_stopped
from tasks.events import breaker_event_listener
from tradeguard import services

if TYPE_CHECKING:
    from prefect import Task
    from prefect.client.schemas.objects import State, TaskRun

    from tradeguard.app import App
    from tradeguard.contracts import SessionResult
    from tradeguard.requests import ReplayRequest

# A retry cannot fix these: the operator must change config, data or state first.
NOT_RETRYABLE: tuple[type[BaseException], ...] = (
    ConfigurationError,
    DataError,
    StateCorruptedError,
    StateLockedError,
)
SESSION_RETRIES = 2
SESSION_RETRY_DELAY_SECONDS = 2


def retry_unless_operator_must_act(task: Task[..., Any], task_run: TaskRun, state: State) -> bool:
    """Retry a failed session only when the failure is not one a retry cannot fix."""
    error = state.data if isinstance(state.data, BaseException) else None
    if error is None:
        try:
            error = state.result(raise_on_failure=False)
        except Exception:
            return True
    return not isinstance(error, NOT_RETRYABLE)


@task(
    name="run-session",
    retries=SESSION_RETRIES,
    retry_delay_seconds=SESSION_RETRY_DELAY_SECONDS,
    retry_condition_fn=retry_unless_operator_must_act,
    cache_policy=NO_CACHE,
)
def run_session_task(
    app: App, request: ReplayRequest, stop: SessionStop | None = None
) -> SessionResult:
    """Run or resume the trading session; a retry after a crash resumes from the store.

    A SIGTERM (the runner cancelling the flow run), Ctrl-C or the run's cancellation ends the
    session cleanly between bars, recorded on `stop` (tasks/cancellation.py).
    """
    listener = breaker_event_listener(app.workspace.location)
    stop = stop or SessionStop()
    return run_until_stopped(stop, lambda: services.run_session(
        app, request, listeners=[listener], should_stop=stop.reason
    ))


@task(name="reconcile", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def reconcile_task(app: App) -> dict[str, Any]:
    """Reconcile every non-final order intent with the broker before trading."""
    return services.reconcile(app)
