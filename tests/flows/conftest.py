"""One Prefect test server for every flow test (cold start is 15-18 s on CI machines)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.testing.utilities import prefect_test_harness

from tests.flows.helpers import DATA_DIR, FTX


@pytest.fixture(scope="session", autouse=True)
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Run every flow test against one temporary Prefect server (analytics off)."""
    home = tmp_path_factory.mktemp("prefect-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        mp.setenv("PREFECT_HOME", str(home))
        with prefect_test_harness(server_startup_timeout=120):
            yield


@pytest.fixture
def data_dir() -> Path:
    """Return the shared real market data folder, skipping when this host lacks it."""
    if not FTX.exists():
        pytest.skip(f"market data not found at {DATA_DIR}")
    return DATA_DIR
