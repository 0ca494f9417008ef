"""Cancelling a paced trading-session flow run ends the session like SIGTERM (issue 8, section 5).

Both runs trade a real FTX day re-stamped to one bar per second (feed.bar_seconds = 1) at 1x
speed, so the session is still running when the test cancels it the way the Prefect UI does
(`set_flow_run_state(Cancelling)`). Afterwards: the store's session is marked as a clean stop,
the summary artifact says why it ended, the run is Cancelled, and the next start on the same
state directory is no crash recovery.
"""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect.artifacts import Artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun, State
from prefect.states import Cancelling

from deployments.server import stop_process
from engine.errors import TradeguardError
from flows.trading_session import trading_session
from tradeguard import services
from tradeguard.bootstrap import bootstrap
from tradeguard.requests import DataSpec, ReplayRequest
from tradeguard.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
ROWS = 1800  # 30 minutes of wall clock at one bar per second: the run never ends by itself
DEPLOYMENT = "cancel-test"
POOL = "tradeguard-cancel-test"
DEADLINE_SECONDS = 240.0


@dataclass(frozen=True)
class PacedDay:
    """A one-bar-per-second data file and the settings file that trades it."""

    data: Path
    config: Path

    def parameters(self, state_dir: Path) -> dict[str, Any]:
        return {
            "data": [f"BTC-PERP={self.data}"],
            "realtime": True,
            "state_dir": str(state_dir),
            "config_file": str(self.config),
        }

    def app(self, state_dir: Path) -> Any:
        return bootstrap(load_settings(self.config, store={"state_dir": state_dir}))


@pytest.fixture
def paced_day(data_dir: Path, tmp_path: Path) -> PacedDay:
    """Re-stamp 1800 real FTX minutes of 2022-01-21 to one bar per second."""
    with gzip.open(data_dir / "btc-perp_ftx_1m.csv.gz", "rt") as handle:
        header = next(handle)
        rows = [line for line in handle if line >= "2022-01-21T00:00:00Z"][:ROWS]
    lines = [header]
    for i, row in enumerate(rows):
        stamp = f"2022-01-21T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z"
        lines.append(stamp + row[row.index(","):])
    data = tmp_path / "btc-perp_paced_1s.csv"
    data.write_text("".join(lines), encoding="utf-8")
    config = tmp_path / "paced.toml"
    # Commit every 5 quiet bars, so the store shows the run's progress while it trades.
    config.write_text("[feed]\nbar_seconds = 1\n\n[session]\ncheckpoint_every_bars = 5\n",
                      encoding="utf-8")
    return PacedDay(data, config)


def wait_for(what: str, probe: Callable[[], Any], every: float = 0.5) -> Any:
    """Return probe()'s first truthy value, failing after DEADLINE_SECONDS."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"{what}: not within {DEADLINE_SECONDS:.0f}s")


def committed_bars(app: Any) -> int:
    """Return the bars the store has committed (0 while it does not exist yet)."""
    try:
        return int(services.status(app)["counters"].get("bars", 0))
    except TradeguardError:
        return 0


def cancel_like_the_ui(run_id: UUID) -> None:
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(run_id, Cancelling(message="cancelled from the test"))


def final_run(run_id: UUID) -> FlowRun:
    def read() -> FlowRun | None:
        with get_client(sync_client=True) as client:
            run = client.read_flow_run(run_id)
        return run if run.state is not None and run.state.is_final() else None

    return wait_for("the cancelled run reaching a final state", read)


def session_attempts(run_id: UUID) -> int:
    """Return how often the run's session task ran (a retry would be a second attempt)."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    this_run = FlowRunFilter(id=FlowRunFilterId(any_=[run_id]))
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=this_run)
    return sum(r.run_count for r in runs if r.name.startswith("run-session"))


def error_logs(run_id: UUID) -> list[str]:
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId, LogFilterLevel

    only = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id]), level=LogFilterLevel(ge_=40))
    with get_client(sync_client=True) as client:
        return [log.message for log in client.read_logs(log_filter=only)]


def assert_clean_stop_and_no_crash_recovery(
    day: PacedDay, state_dir: Path, run_id: UUID, reason: str
) -> None:
    """Store marked clean, summary published, next start not a crash recovery."""
    status = services.status(day.app(state_dir))
    assert status["running"] is False
    assert status["counters"]["clean_shutdown"] is True, "the session was left open"
    stopped_at = status["counters"]["bars"]
    assert 0 < stopped_at < ROWS
    artifact = Artifact.get("session-summary")
    assert artifact is not None and artifact.flow_run_id == run_id, "no summary of this run"
    markdown = str(artifact.data)
    assert f"ended early, cleanly ({reason})" in markdown
    assert "| last_bar | None |" not in markdown, "the stop came from a retry, not the session"
    assert f"| bars | {stopped_at} |" in markdown
    assert "journal_audit | skipped" in markdown
    # The next start is no crash recovery. (A paced run stamps bars with the wall clock, so
    # the replay of the same file only warms up on them: the check is the start itself.)
    request = ReplayRequest(data=(DataSpec(day.data, "BTC-PERP"),))
    again = services.run_session(day.app(state_dir), request)
    assert "crash_recovery" not in [t.trigger for t in again.summary.transitions]
    assert again.summary.stop_reason == "end of data"


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A process worker on its own pool, with the trading-session deployment registered on it.

    This is how `tradeguard deploy` runs sessions. (`trading_session.serve()` is no option:
    Prefect 3.9.1 runs a served in-memory flow through cloudpickle, and the copy loses the
    imports only its annotations use, so parameter validation fails on `datetime`.)
    """
    from prefect import Flow
    from prefect.deployments.runner import deploy
    from prefect.settings import PREFECT_API_URL

    from deployments.register import ensure_work_pool
    from deployments.server import prefect_env, start_worker

    ensure_work_pool(POOL, "process")
    flow = Flow.from_source(source=str(REPO), entrypoint="flows/trading_session.py:trading_session")
    assert isinstance(flow, Flow)
    deploy(flow.to_deployment(name=DEPLOYMENT), work_pool_name=POOL, build=False, push=False,
           print_next_steps_message=False, ignore_warnings=True)
    env = prefect_env(tmp_path / "worker-home", str(PREFECT_API_URL.value()),
                      {"PREFECT_WORKER_QUERY_SECONDS": "1"})
    env = {k: v for k, v in env.items() if not k.startswith("TRADEGUARD_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    process = start_worker(POOL, env, tmp_path / "worker.log")
    try:
        yield process
    finally:
        stop_process(process, (signal.SIGTERM, signal.SIGINT))


def test_cancelling_a_deployed_session_run_stops_it_cleanly_and_the_next_start_is_no_crash(
    paced_day: PacedDay, tmp_path: Path, worker: subprocess.Popen[bytes]
) -> None:
    from prefect.deployments import run_deployment

    state_dir = tmp_path / "state"
    run = run_deployment(f"trading-session/{DEPLOYMENT}",
                         parameters=paced_day.parameters(state_dir), timeout=0, as_subflow=False)
    app = paced_day.app(state_dir)

    def trading() -> bool:
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
        return committed_bars(app) >= 10

    wait_for("bars committed by the running session", trading)

    cancel_like_the_ui(run.id)

    final = final_run(run.id)
    assert final.state is not None and final.state.is_cancelled(), final.state
    # The runner delivers the cancellation as SIGTERM.
    assert_clean_stop_and_no_crash_recovery(paced_day, state_dir, run.id, "stopped by SIGTERM")
    # Prefect's own end of a cancelled run: no error logged, the runner's Cancelled state.
    assert final.state.message == "Flow run was cancelled successfully.", final.state.message
    assert error_logs(run.id) == []
    assert session_attempts(run.id) == 1


def test_cancelling_an_in_process_session_run_in_a_worker_thread_stops_it_cleanly(
    paced_day: PacedDay, tmp_path: Path
) -> None:
    # No runner sends a signal here, and a worker thread cannot have a handler: the state
    # poller of tasks/cancellation.py is what stops the session.
    state_dir = tmp_path / "state"
    outcome: list[State[Any]] = []
    thread = threading.Thread(
        target=lambda: outcome.append(
            trading_session(**paced_day.parameters(state_dir), return_state=True)
        ),
        daemon=True,
    )
    thread.start()
    app = paced_day.app(state_dir)
    wait_for("bars committed by the running session", lambda: committed_bars(app) >= 10)
    with get_client(sync_client=True) as client:
        running = [r for r in client.read_flow_runs()
                   if r.state is not None and r.state.is_running()
                   and r.parameters.get("state_dir") == str(state_dir)]
    assert len(running) == 1

    cancel_like_the_ui(running[0].id)

    thread.join(timeout=DEADLINE_SECONDS)
    assert not thread.is_alive() and outcome, "the session did not stop"
    state = outcome[0]
    # No runner: the flow itself ends the run Cancelled, the reason in the state's message.
    assert state.is_cancelled(), state
    assert (state.message or "").startswith("session stopped cleanly (stopped by cancellation)")
    assert_clean_stop_and_no_crash_recovery(
        paced_day, state_dir, running[0].id, "stopped by cancellation"
    )
