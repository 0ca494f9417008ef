"""Local Prefect server and process worker as supervised subprocesses (loopback only)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from engine.errors import ConfigurationError, TradeguardError

if TYPE_CHECKING:
    from tradeguard.settings import Settings

log = logging.getLogger(__name__)

HEALTH_TIMEOUT_SECONDS = 120.0
STOP_GRACE_SECONDS = 10.0
PREFECT = (sys.executable, "-m", "prefect")


class PrefectServerError(TradeguardError):
    """The local Prefect server or worker did not start or died: read its log file."""


@dataclass(frozen=True)
class LocalPrefect:
    """A running local server and (optionally) a worker, with where they log."""

    api_url: str
    home: Path
    server: subprocess.Popen[bytes]
    worker: subprocess.Popen[bytes] | None


def local_api_url(host: str, port: int) -> str:
    """Return the API URL of a server bound to host:port."""
    return f"http://{host}:{port}/api"


def prefect_home(settings: Settings) -> Path:
    """Return PREFECT_HOME of the local server: $PREFECT_HOME if set, else <state dir>/prefect."""
    home = os.environ.get("PREFECT_HOME")
    return Path(home).expanduser() if home else settings.store.state_dir / "prefect"


def ui_url(api_url: str) -> str:
    """Return the UI address of a server from its API URL."""
    return api_url.removesuffix("/api")


def prefect_env(home: Path, api_url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the environment of server and worker: own home, analytics off, API url set."""
    env = dict(os.environ)
    env.update(
        {
            "PREFECT_HOME": str(home),
            "PREFECT_API_URL": api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
        }
    )
    env.update(extra or {})
    return env


def is_healthy(api_url: str, timeout: float = 2.0) -> bool:
    """Return True when GET {api_url}/health answers 200."""
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_healthy(
    api_url: str, timeout: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Poll the health endpoint until it answers or `timeout` seconds pass (then raise)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            message = f"prefect server exited with code {process.returncode} before being healthy"
            raise PrefectServerError(message)
        if is_healthy(api_url):
            return
        time.sleep(0.5)
    message = f"prefect server at {api_url} not healthy after {timeout:.0f}s"
    raise PrefectServerError(message)


def _spawn(args: Sequence[str], env: Mapping[str, str], log_file: Path) -> subprocess.Popen[bytes]:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as sink:
        # Own session: the whole process group (uvicorn, services) is ours to signal.
        return subprocess.Popen(
            list(args), env=dict(env), stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )


def start_server(
    host: str, port: int, env: Mapping[str, str], log_file: Path
) -> subprocess.Popen[bytes]:
    """Start `prefect server start` bound to host:port."""
    args = [*PREFECT, "server", "start", "--host", host, "--port", str(port)]
    log.info("prefect_server_start host=%s port=%s log=%s", host, port, log_file)
    return _spawn(args, env, log_file)


def start_worker(pool: str, env: Mapping[str, str], log_file: Path) -> subprocess.Popen[bytes]:
    """Start a process worker polling `pool` (created as a process pool if missing)."""
    args = [*PREFECT, "worker", "start", "--pool", pool, "--type", "process"]
    log.info("prefect_worker_start pool=%s log=%s", pool, log_file)
    return _spawn(args, env, log_file)


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def stop_process(
    process: subprocess.Popen[bytes],
    signals: Sequence[signal.Signals] = (signal.SIGTERM,),
    grace: float = STOP_GRACE_SECONDS,
) -> int:
    """Send each signal in turn (waiting `grace` after each), then SIGKILL; return the exit code."""
    for sig in signals:
        if process.poll() is not None:
            break
        _signal_group(process, sig)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
    if process.poll() is None:
        log.warning("prefect_process_killed pid=%s", process.pid)
        _signal_group(process, signal.SIGKILL)
        process.wait(timeout=grace)
    # Children left in the group (e.g. a flow run) go with their leader.
    _signal_group(process, signal.SIGKILL)
    return process.returncode


def stop_local(local: LocalPrefect) -> None:
    """Stop the worker (SIGTERM, then SIGINT, which it needs to exit) and then the server."""
    if local.worker is not None:
        stop_process(local.worker, (signal.SIGTERM, signal.SIGINT))
    stop_process(local.server, (signal.SIGTERM, signal.SIGINT))


@contextmanager
def local_prefect(
    home: Path,
    host: str,
    port: int,
    pool: str | None,
    extra_env: Mapping[str, str] | None = None,
    health_timeout: float = HEALTH_TIMEOUT_SECONDS,
) -> Iterator[LocalPrefect]:
    """Run a server (and a worker on `pool` unless None) for the duration of the block."""
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("prefect_server_not_loopback host=%s (the API has no authentication)", host)
    api_url = local_api_url(host, port)
    if is_healthy(api_url):
        message = f"something already answers at {api_url}: stop it or choose another port"
        raise ConfigurationError(message)
    home.mkdir(parents=True, exist_ok=True)
    env = prefect_env(home, api_url, extra_env)
    server = start_server(host, port, env, home / "server.log")
    local = LocalPrefect(api_url, home, server, None)
    try:
        wait_healthy(api_url, health_timeout, server)
        if pool is not None:
            worker = start_worker(pool, env, home / "worker.log")
            local = LocalPrefect(api_url, home, server, worker)
        yield local
    finally:
        stop_local(local)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run_local_server(
    settings: Settings, on_ready: Callable[[LocalPrefect], None] | None = None
) -> None:
    """Run the local server and a process worker until Ctrl-C or SIGTERM, then stop both."""
    orch = settings.orchestration
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        with local_prefect(
            prefect_home(settings), orch.server_host, orch.server_port, orch.work_pool
        ) as local:
            log.info("prefect_server_ready api_url=%s home=%s", local.api_url, local.home)
            if on_ready is not None:
                on_ready(local)
            while True:
                for name, process in (("server", local.server), ("worker", local.worker)):
                    if process is not None and process.poll() is not None:
                        code = process.returncode
                        message = f"prefect {name} exited with code {code}; see {local.home}"
                        raise PrefectServerError(message)
                time.sleep(1.0)
    except KeyboardInterrupt:
        log.info("prefect_server_stopped reason=interrupt")
    finally:
        signal.signal(signal.SIGTERM, previous)
