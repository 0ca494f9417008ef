"""A cancelled session flow run stops like SIGTERM: between bars, committed, marked clean.

How Prefect 3.9 cancels a flow run it supervises (`serve` or a process worker; a run made by
`run_deployment` is executed by one of them): once the run is Cancelling, the runner offers the
run's process a "cancel" intent on its control channel, sends SIGTERM to the process group,
waits up to 30 s and then SIGKILLs it (prefect/runner/_cancellation_manager.py `cancel`,
prefect/runner/_process_manager.py `kill`). In that process the flow engine's SIGTERM handler
raises `TerminationSignal` wherever the main thread happens to be
(prefect/utilities/engine/__init__.py `capture_sigterm`): for a session, inside a bar. And a
Cancelling flow run may start no new task run (server rule PreventRunningTasksFromStoppedFlows).

`stop_on_cancellation` therefore wraps the session task only. In the main thread it replaces
that handler with one that only sets a flag, asked by the engine between bars (as
entrypoints/signals.py does for the CLI); Prefect's handler is back when the block ends.
Signal handlers can only be set from the main thread, and a flow called in-process has no
runner to send one: a poller thread reads the flow run's state every STATE_POLL_SECONDS (one
small GET, well inside the runner's 30 s grace) and sets the same flag once the run is
Cancelling or Cancelled. The flow then publishes the summary without new task runs and ends
Cancelled.
"""

from __future__ import annotations

import contextvars
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from uuid import UUID

    from prefect.client.orchestration import SyncPrefectClient

log = logging.getLogger(__name__)

STATE_POLL_SECONDS = 2.0
READ_TIMEOUT_SECONDS = 5.0  # one slow answer must not hold the poller past the runner's grace
POLL_ERROR_LOG_SECONDS = 300.0
CANCELLATION = "cancellation"
STOP_SIGNALS = ("SIGTERM", "SIGINT", "SIGHUP")


class SessionStop:
    """Why the session must stop: a stop signal to this process or the flow run's cancellation."""

    def __init__(self) -> None:
        self.cause: str | None = None
        self._listeners: list[Callable[[str], None]] = []

    @property
    def requested(self) -> bool:
        """Return True once a stop was requested."""
        return self.cause is not None

    def reason(self) -> str | None:
        """Return why the session must stop, or None to keep going (asked between bars)."""
        return None if self.cause is None else f"stopped by {self.cause}"

    def request(self, cause: str) -> None:
        """Record the first cause and tell the listeners (no lock: a signal handler calls it)."""
        if self.cause is not None:
            return
        self.cause = cause
        for listener in list(self._listeners):
            listener(cause)

    def subscribe(self, listener: Callable[[str], None]) -> None:
        """Call listener(cause) on the stop request (at once if one was already made)."""
        self._listeners.append(listener)
        if self.cause is not None:
            listener(self.cause)

    def handle(self, signum: int, frame: FrameType | None) -> None:
        """Signal handler: request the stop and return; the loop ends the session."""
        self.request(signal.Signals(signum).name)


def run_is_cancelled(client: SyncPrefectClient, run_id: UUID) -> bool:
    """Return True when the flow run is Cancelling or Cancelled on the server."""
    state = client.read_flow_run(run_id).state
    return state is not None and (state.is_cancelling() or state.is_cancelled())


def _poll(stop: SessionStop, run_id: UUID, done: threading.Event, every: float) -> None:
    """Poll the run's state until it is cancelled (then request the stop) or `done` is set."""
    from prefect.client.orchestration import get_client

    last_logged = float("-inf")
    with get_client({"timeout": READ_TIMEOUT_SECONDS}, sync_client=True) as client:
        while not done.wait(every):
            try:
                cancelled = run_is_cancelled(client, run_id)
            except Exception as e:  # the API away must not stop a session: the signal still does
                if time.monotonic() - last_logged >= POLL_ERROR_LOG_SECONDS:
                    last_logged = time.monotonic()
                    log.warning("cancel_watch_poll_failed run=%s error=%s", run_id,
                                type(e).__name__)
                continue
            if cancelled:
                log.warning("session_stop_requested cause=%s run=%s", CANCELLATION, run_id)
                stop.request(CANCELLATION)
                return


def current_flow_run_id() -> UUID | None:
    """Return the id of the flow run this code runs in, else None."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    run = context.flow_run if context is not None else None
    return run.id if run is not None else None


def _install_handlers(stop: SessionStop, stack: ExitStack) -> None:
    for name in STOP_SIGNALS:
        sig = getattr(signal, name, None)
        if sig is None:
            continue
        previous: Any = signal.signal(sig, stop.handle)
        # None: the previous handler was not set from Python; the default is the closest.
        stack.callback(signal.signal, sig, signal.SIG_DFL if previous is None else previous)


@contextmanager
def stop_on_cancellation(poll_seconds: float = STATE_POLL_SECONDS) -> Iterator[SessionStop]:
    """Turn SIGTERM/SIGINT/SIGHUP and the flow run's cancellation into a SessionStop request."""
    stop = SessionStop()
    run_id = current_flow_run_id()
    with ExitStack() as stack:
        if threading.current_thread() is threading.main_thread():
            _install_handlers(stop, stack)
        if run_id is not None:
            done = threading.Event()
            # The copied context carries Prefect's settings (API URL) into the thread.
            poller = threading.Thread(
                target=contextvars.copy_context().run,
                args=(_poll, stop, run_id, done, poll_seconds),
                name="tradeguard-cancel-watch",
                daemon=True,
            )
            poller.start()
            stack.callback(poller.join, READ_TIMEOUT_SECONDS)
            stack.callback(done.set)
        yield stop
