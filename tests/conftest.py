"""Shared fixtures: where the real market data lives (../shared/data beside the clone)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Return the shared market-data directory, failing with the how-to when it is missing."""
    from tradeguard.data import find_data_dir

    return find_data_dir(REPO)
