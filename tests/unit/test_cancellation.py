"""run_until_stopped: an interruption raised into the wait becomes a clean stop of the work."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType

import pytest
from prefect.exceptions import TerminationSignal

from tasks.cancellation import SessionStop, end_stopped, run_until_stopped


@pytest.fixture
def sigusr1_raises_termination() -> Iterator[None]:
    """SIGUSR1 raises TerminationSignal(SIGTERM), as Prefect's SIGTERM handler does."""

    def prefect_like(signum: int, frame: FrameType | None) -> None:
        raise TerminationSignal(signal.SIGTERM)

    previous = signal.signal(signal.SIGUSR1, prefect_like)
    try:
        yield
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_a_termination_signal_in_the_wait_stops_the_work_between_steps_and_is_kept(
    sigusr1_raises_termination: None,
) -> None:
    stop = SessionStop()
    steps: list[int] = []
    heard: list[str] = []
    stop.subscribe(heard.append)
    resume = threading.Event()
    stop.subscribe(lambda cause: resume.set())

    def work() -> str:
        for step in range(1_000_000):
            if stop.reason() is not None:
                return f"{stop.reason()} after step {step}"
            steps.append(step)
            if step == 3:  # the "runner" terminates the process mid-session
                os.kill(os.getpid(), signal.SIGUSR1)
                # Hold step 3 open until the main thread has turned the signal into a stop.
                assert resume.wait(30.0), "the interruption never became a stop request"
        return "end of data"

    result = run_until_stopped(stop, work)

    assert result == "stopped by SIGTERM after step 4"
    assert steps == [0, 1, 2, 3]  # step 3 finished, no step 4 begun
    assert isinstance(stop.interrupted, TerminationSignal)
    assert heard == ["SIGTERM"]
    with pytest.raises(TerminationSignal):  # the flow re-raises it for Prefect
        end_stopped(stop, "stopped")


def test_a_failure_of_the_work_is_raised_in_the_waiting_thread() -> None:
    def work() -> None:
        message = "venue down"
        raise RuntimeError(message)

    with pytest.raises(RuntimeError, match="venue down"):
        run_until_stopped(SessionStop(), work)


def test_a_stop_without_interruption_ends_the_flow_cancelled() -> None:
    stop = SessionStop()
    stop.request("cancellation")

    state = end_stopped(stop, "session stopped cleanly (stopped by cancellation)")

    assert state.is_cancelled()
    assert stop.reason() == "stopped by cancellation"
