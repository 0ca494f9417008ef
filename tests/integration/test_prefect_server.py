"""Real Prefect server + process worker on loopback: deploy, run, trigger, screenshot."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deployments.register import deploy_all
from deployments.server import LocalPrefect, local_prefect, start_worker, stop_process

pytestmark = pytest.mark.server

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = (REPO / ".." / "shared" / "data").resolve()
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
POOL = "tradeguard-process"
RUN_TIMEOUT = 300.0
TRIGGER_TIMEOUT = 180.0
EXPECTED = {
    "trading-session/daily",
    "live-session/live",
    "daily-reset/daily",
    "validation-24h/weekly",
    "state-cleanup/hourly",
    "incident-report/on-breaker-halt",
    "halt/operator",
    "resume/operator",
    "recover/operator",
    "alerts-heartbeat/dead-man",
    "alerts-flow-run/on-failed-run",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPrefect]:
    """A real `prefect server start` on a free loopback port, stopped at teardown."""
    if not (DATA_DIR / "btc-perp_ftx_1m.csv.gz").exists():
        pytest.skip(f"market data not found at {DATA_DIR}")
    home = tmp_path_factory.mktemp("prefect-server")
    with local_prefect(home, "127.0.0.1", free_port(), pool=None) as local:
        yield local


@pytest.fixture(scope="module")
def api(server: LocalPrefect) -> Iterator[str]:
    """Point this process's Prefect client at the test server."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
        yield server.api_url


@pytest.fixture(scope="module")
def worker(server: LocalPrefect, api: str) -> Iterator[subprocess.Popen[bytes]]:
    """A process worker polling every 2 s; SIGTERM then SIGINT at teardown."""
    import os
    import signal

    from deployments.server import prefect_env

    env = prefect_env(server.home, server.api_url, {"PREFECT_WORKER_QUERY_SECONDS": "2"})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    process = start_worker(POOL, env, server.home / "worker.log")
    yield process
    stop_process(process, (signal.SIGTERM, signal.SIGINT))


def settings_for(state_dir: Path) -> Any:
    from tradeguard.settings import load_settings

    return load_settings(
        None,
        store={"state_dir": state_dir},
        replay={"data_dir": DATA_DIR},
        orchestration={"work_pool": POOL},
    )


def run(name: str, parameters: dict[str, Any]) -> Any:
    from prefect.deployments import run_deployment

    flow_run = run_deployment(
        name, parameters=parameters, timeout=RUN_TIMEOUT, poll_interval=1, as_subflow=False
    )
    assert flow_run.state is not None
    return flow_run


def triggered_runs(deployment_name: str) -> list[Any]:
    """Poll (bounded) until the trigger's runs exist and all have reached a final state."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    deadline = time.monotonic() + TRIGGER_TIMEOUT
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(deployment_name)
        only_this = DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id]))
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(deployment_filter=only_this)
            if runs and all(r.state is not None and r.state.is_final() for r in runs):
                return runs
            time.sleep(2)
    pytest.fail(f"runs of {deployment_name} not all finished within {TRIGGER_TIMEOUT:.0f}s")


def test_deploy_run_trigger_and_screenshot(
    server: LocalPrefect, api: str, tmp_path: Path, worker: subprocess.Popen[bytes]
) -> None:
    from prefect.artifacts import Artifact
    from prefect.client.orchestration import get_client

    state_dir = tmp_path / "state"
    settings = settings_for(state_dir)

    names = deploy_all(settings)
    again = deploy_all(settings)  # idempotent re-run

    assert set(names) == EXPECTED
    assert sorted(again) == sorted(names)
    with get_client(sync_client=True) as client:
        deployments = client.read_deployments()
        automations = client.read_automations_by_name("tradeguard-incident-on-breaker-halt")
        failure_alerts = client.read_automations_by_name(
            "tradeguard-alert-on-failed-or-crashed-run"
        )
        pool = client.read_work_pool(POOL)
    assert len(deployments) == len(EXPECTED)
    assert pool.type == "process"
    assert len(automations) == 1
    assert len(failure_alerts) == 1  # replaced, not duplicated, by the second deploy
    by_name = {d.name + ":" + d.entrypoint.rsplit(":", 1)[1]: d for d in deployments}
    session_dep = by_name["daily:trading_session"]
    assert [s.schedule.cron for s in session_dep.schedules] == ["0 0 * * *"]

    plan = tmp_path / "rejects.toml"
    plan.write_text(
        '[[fault]]\nstart = "2022-01-21T00:00:00Z"\nend = "2022-01-22T00:00:00Z"\n'
        "reject_rate = 1.0\n",
        encoding="utf-8",
    )
    session = run(
        "trading-session/daily",
        {
            "data": [str(DATA_DIR / "btc-perp_ftx_1m.csv.gz")],
            "start": "2022-01-21T00:00:00Z",
            "duration_minutes": 1440,
            "faults": str(plan),
            "realtime": False,
            "state_dir": str(state_dir),
        },
    )
    assert session.state.is_completed(), session.state.message

    reset = run("daily-reset/daily", {"state_dir": str(state_dir)})
    assert reset.state.is_completed(), reset.state.message

    validation = run(
        "validation-24h/weekly",
        {"scenario": "calm-control", "gx_audit": "none", "state_dir": str(tmp_path / "validation")},
    )
    assert validation.state.is_completed(), validation.state.message

    incidents = triggered_runs("incident-report/on-breaker-halt")
    assert all(r.state.is_completed() for r in incidents), [r.state.name for r in incidents]
    assert {r.parameters["state_dir"] for r in incidents} == {str(state_dir.resolve())}
    assert {r.parameters["trigger_event"] for r in incidents} <= {
        "tradeguard.breaker.halt",
        "tradeguard.breaker.shutdown",
    }
    artifact = Artifact.get("incident-report")
    assert artifact is not None
    assert artifact.flow_run_id in {r.id for r in incidents}
    assert "HALT" in str(artifact.data) or "SHUTDOWN" in str(artifact.data)

    screenshot(server.api_url.removesuffix("/api"), tmp_path / "chromium")


def screenshot(ui_url: str, profile: Path) -> None:
    """Save a headless-Chromium screenshot of the deployments page to test-artifacts/."""
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.skip("/usr/bin/chromium missing: install it (apt-get install -y chromium)")
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / "prefect-deployments.png"
    target.unlink(missing_ok=True)
    args = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1600,1000",
        "--virtual-time-budget=15000",
        f"--screenshot={target}",
        f"{ui_url}/deployments",
    ]
    subprocess.run(args, check=True, timeout=120, capture_output=True)
    assert target.exists() and target.stat().st_size > 10_000
