"""Point Prefect at its API and quiet it before any flow runs: only the entry point touches
os.environ (the library never does)."""

from __future__ import annotations

import os
import urllib.request
from typing import TYPE_CHECKING

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


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=0.5) as response:
            return bool(response.status == 200)
    except (OSError, ValueError):
        return False
