"""A cancelled session flow run stops like SIGTERM: between bars, committed, marked clean.

How Prefect 3.9 cancels a flow run it supervises (a process worker or `serve`; a run made by
`run_deployment` is executed by one of them): once the run is Cancelling, the runner offers the
run's process a "cancel" intent on its control channel, sends SIGTERM to the process group,
waits up to 30 s, SIGKILLs, and then writes the Cancelled state itself
(prefect/runner/_cancellation_manager.py `cancel`, _process_manager.py `kill`,
_cancel_finalizer.py). In that process the flow engine's SIGTERM handler raises
`TerminationSignal` in the main thread wherever it is (prefect/utilities/engine/__init__.py
`capture_sigterm`); the engine treats it as the cancellation only because the intent was
acknowledged, which needs that very handler installed. A Cancelling run may start no new task
run (server rule PreventRunningTasksFromStoppedFlows) and may only become Cancelled
(EnforceCancellingToCancelledTransition).

So Prefect's handler stays, and the trading loop runs in a thread of its own
(`run_until_stopped`): the TerminationSignal (or KeyboardInterrupt) lands in the main thread's
wait, never inside a bar. The wait turns it into a stop request the engine reads between bars,
lets the session finish cleanly, and keeps the exception; the flow publishes the summary
without new task runs and re-raises it, so Prefect ends the run exactly as it ends a cancelled
one (Cancelled, exit code 0). Signals only reach the main thread: when the task runs in another
thread (a flow called from a thread, a submitted task) a poller reads the flow run's state every
STATE_POLL_SECONDS and requests the stop once the run is Cancelling; that flow then returns a
Cancelled state (a task submitted from a flow under a runner: Prefect unwinds the flow at
once, and the session thread, not a daemon, is stopped by the poller before the process
exits). A SIGTERM with no cancellation behind it (no runner intent) is re-raised the same way
and Prefect marks the run Crashed, after the clean stop. No poller in the main thread: there
the runner's SIGTERM is the cancellation, and racing it would end the run through two paths at
once. (A flow called in-process in the main thread has no runner: SIGTERM or Ctrl-C stop it, a
cancellation in the UI does not, as for any in-process Prefect flow.)
"""

from __future__ import annotations

import contextvars
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from uuid import UUID

    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.objects import State

log = logging.getLogger(__name__)

T = TypeVar("T")

STATE_POLL_SECONDS = 2.0
READ_TIMEOUT_SECONDS = 5.0  # one slow answer must not hold the poller past the runner's grace
POLL_ERROR_LOG_SECONDS = 300.0
JOIN_SECONDS = 0.5
CANCELLATION = "cancellation"


class SessionStop:
    """Why the session must stop: an interruption of this process or the run's cancellation."""

    def __init__(self) -> None:
        self.cause: str | None = None
        self.interrupted: BaseException | None = None
        self._listeners: list[Callable[[str], None]] = []

    @property
    def requested(self) -> bool:
        """Return True once a stop was requested."""
        return self.cause is not None

    def reason(self) -> str | None:
        """Return why the session must stop, or None to keep going (asked between bars)."""
        return None if self.cause is None else f"stopped by {self.cause}"

    def request(self, cause: str) -> None:
        """Record the first cause and tell the listeners."""
        if self.cause is not None:
            return
        self.cause = cause
        log.warning("session_stop_requested cause=%s", cause)
        for listener in list(self._listeners):
            listener(cause)

    def interrupt(self, error: BaseException) -> None:
        """Keep the first interruption (to re-raise after the clean stop) and request the stop."""
        if self.interrupted is None:
            self.interrupted = error
        self.request(cause_of(error))

    def subscribe(self, listener: Callable[[str], None]) -> None:
        """Call listener(cause) on the stop request (at once if one was already made)."""
        self._listeners.append(listener)
        if self.cause is not None:
            listener(self.cause)


def cause_of(error: BaseException) -> str:
    """Name an interruption: the signal behind it when there is one."""
    from prefect.exceptions import TerminationSignal

    if isinstance(error, TerminationSignal):
        return signal.Signals(error.signal).name
    if isinstance(error, KeyboardInterrupt):
        return "SIGINT"
    return type(error).__name__


def run_until_stopped(stop: SessionStop, work: Callable[[], T]) -> T:
    """Run work (a session asking stop.reason between bars) in its own thread and wait.

    An exception raised into the wait (Prefect's TerminationSignal for SIGTERM, Ctrl-C)
    requests the stop; the session still ends cleanly, and the exception stays on
    stop.interrupted. The thread is not a daemon: the process never exits mid-bar.
    """
    done: list[T] = []
    failed: list[BaseException] = []
    finished = threading.Event()
    claimed = threading.Lock()

    def target() -> None:
        if not claimed.acquire(blocking=False):
            return  # a start interrupted after all did start: the work runs once
        try:
            done.append(work())
        except BaseException as e:  # handed to the waiting thread, re-raised there
            failed.append(e)
        finally:
            finished.set()

    with watch_run(stop):
        _start(stop, target)
        # Event.wait, not Thread.join: an exception raised into join can leave the thread
        # looking finished while it still runs (CPython 3.11).
        while True:
            try:
                if finished.wait(JOIN_SECONDS):
                    break
            except BaseException as e:  # interruption: end the session between bars
                stop.interrupt(e)
    if failed:
        raise failed[0]
    return done[0]


def _start(stop: SessionStop, target: Callable[[], None]) -> None:
    """Start target in a new thread, again if an interruption cut a start short."""
    started = False
    while not started:
        thread = threading.Thread(target=contextvars.copy_context().run, args=(target,),
                                  name="tradeguard-session")
        try:
            thread.start()
            started = True
        except BaseException as e:  # before or after the thread began: `claimed` decides
            stop.interrupt(e)


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
            except Exception as e:  # the API away must not stop a session; log once a window
                if time.monotonic() - last_logged >= POLL_ERROR_LOG_SECONDS:
                    last_logged = time.monotonic()
                    log.warning("cancel_watch_poll_failed run=%s error=%s", run_id,
                                type(e).__name__)
                continue
            if cancelled:
                stop.request(CANCELLATION)
                return


def current_flow_run_id() -> UUID | None:
    """Return the id of the flow run this code runs in, else None."""
    from prefect.context import FlowRunContext, TaskRunContext

    flow_context = FlowRunContext.get()
    if flow_context is not None and flow_context.flow_run is not None:
        return flow_context.flow_run.id
    task_context = TaskRunContext.get()
    return task_context.task_run.flow_run_id if task_context is not None else None


@contextmanager
def watch_run(stop: SessionStop, poll_seconds: float = STATE_POLL_SECONDS) -> Iterator[None]:
    """Poll the flow run's state while the block runs, unless signals reach this thread."""
    run_id = current_flow_run_id()
    if run_id is None or threading.current_thread() is threading.main_thread():
        yield
        return
    done = threading.Event()
    # The copied context carries Prefect's settings (the API URL) into the thread.
    poller = threading.Thread(
        target=contextvars.copy_context().run,
        args=(_poll, stop, run_id, done, poll_seconds),
        name="tradeguard-cancel-watch",
        daemon=True,
    )
    poller.start()
    try:
        yield
    finally:
        done.set()
        poller.join(READ_TIMEOUT_SECONDS)


def end_stopped(stop: SessionStop, message: str) -> State[Any]:
    """End a flow whose session stopped on request, once its summary is published.

    An interruption is re-raised: Prefect then ends the run as it ends any cancelled (or
    terminated) run. Otherwise (the poller saw the run Cancelling) return a Cancelled state.
    """
    from prefect.states import Cancelled

    if stop.interrupted is not None:
        raise stop.interrupted
    return Cancelled(message=message)
