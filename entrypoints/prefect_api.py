"""Point Prefect at its API before any flow runs: only the entry point touches os.environ."""

from __future__ import annotations

import os
import urllib.request
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tradeguard.settings import Settings

# The ephemeral server's 20 s default start-up budget is too tight on a busy machine.
EPHEMERAL_STARTUP_TIMEOUT_SECONDS = "120"


def configure_prefect_api(settings: Settings) -> None:
    """Point Prefect at orchestration.api_url, else a local server if one answers, else none.

    Without PREFECT_API_URL Prefect starts an ephemeral in-process server; an explicit
    PREFECT_API_URL in the environment always wins. Call it before prefect is imported: it
    reads its settings once.
    """
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
