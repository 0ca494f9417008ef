"""Point Prefect at its API and quiet it before a flow runs: only entry points touch os.environ."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import TradeguardError

if TYPE_CHECKING:
    from tradeguard.settings import Settings

# The ephemeral server's 20 s default start-up budget is too tight on a busy machine.
EPHEMERAL_STARTUP_TIMEOUT_SECONDS = "120"

# Defaults for every Prefect the entry points start (a variable the user set always wins):
# the telemetry service of a temporary server races its own SQLite file and prints a
# "database is locked" traceback on every run, and a CLI has no use for promotions.
QUIET_PREFECT = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
}


def quiet_prefect(log_level: str | None = None) -> None:
    """Turn Prefect's telemetry off and align its console log level with tradeguard's."""
    for name, value in QUIET_PREFECT.items():
        os.environ.setdefault(name, value)
    if log_level is not None:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", log_level.upper())


def configure_prefect_api(settings: Settings, log_level: str | None = None) -> None:
    """Point Prefect at orchestration.api_url, else a local server if one answers, else none.

    Without PREFECT_API_URL Prefect starts an ephemeral in-process server; an explicit
    PREFECT_API_URL in the environment always wins. Call it before prefect is imported: it
    reads its settings once.
    """
    quiet_prefect(log_level)
    if os.environ.get("PREFECT_API_URL"):
        return
    orchestration = settings.orchestration
    url = orchestration.api_url
    if url is None:
        local = f"http://{orchestration.server_host}:{orchestration.server_port}/api"
        url = local if _answers(f"{local}/health") else None
    if url is not None:
        os.environ["PREFECT_API_URL"] = url
    else:
        os.environ.setdefault(
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", EPHEMERAL_STARTUP_TIMEOUT_SECONDS
        )


@dataclass
class TemporaryServer:
    """A Prefect API server this command started early, so it boots while Python imports."""

    api_url: str
    process: subprocess.Popen[bytes]

    def wait_ready(self, timeout: float = float(EPHEMERAL_STARTUP_TIMEOUT_SECONDS)) -> None:
        """Block until the server answers its health check; raise when it died or timed out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                message = f"temporary Prefect server exited with code {self.process.returncode}"
                raise PrefectUnavailableError(message)
            if _answers(f"{self.api_url}/health"):
                return
            time.sleep(0.1)  # readiness poll of a child process, not a timing assumption
        message = f"temporary Prefect server at {self.api_url} not healthy after {timeout:.0f} s"
        raise PrefectUnavailableError(message)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s)."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class PrefectUnavailableError(TradeguardError):
    """No Prefect API could be reached or started: check PREFECT_API_URL or PREFECT_HOME."""


@contextmanager
def prefect_api(
    settings: Settings, log_level: str | None = None
) -> Iterator[TemporaryServer | None]:
    """Point Prefect at its API for the block, starting a temporary server when none answers.

    The server Prefect would start itself (an ephemeral uvicorn child) is started here, before
    prefect is imported, so its boot overlaps this process's imports. Yields it (call
    `wait_ready()` before the first flow run), or None when an existing server is used.
    """
    configure_prefect_api(settings, log_level)
    if os.environ.get("PREFECT_API_URL"):
        yield None
        return
    server = _spawn_temporary_server()
    os.environ["PREFECT_API_URL"] = server.api_url
    try:
        yield server
    finally:
        _drain_prefect()  # logs and events still queued go out before their server stops
        os.environ.pop("PREFECT_API_URL", None)
        server.stop()


def _drain_prefect(timeout: float = 10.0) -> None:
    if "prefect" not in sys.modules:
        return
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        worker.drain_all(timeout=timeout)


def _spawn_temporary_server() -> TemporaryServer:
    spec = importlib.util.find_spec("prefect")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        message = "prefect is not installed in this environment (run `make run` to install it)"
        raise PrefectUnavailableError(message)
    app_dir = Path(next(iter(spec.submodule_search_locations))).parent
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The command and environment of Prefect's own ephemeral server (SubprocessASGIServer).
    env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
           "PREFECT__SERVER_FINAL": "1"}
    args = [sys.executable, "-m", "uvicorn", "--app-dir", str(app_dir), "--factory",
            "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "error", "--lifespan", "on"]
    process = subprocess.Popen(args, env=env)
    return TemporaryServer(f"http://127.0.0.1:{port}/api", process)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=0.5) as response:
            return bool(response.status == 200)
    except (OSError, ValueError):
        return False
