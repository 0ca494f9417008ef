"""Fixtures shared by the integration tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.cli_env import DATA_DIR


@pytest.fixture
def fresh_cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Run the CLI as on a fresh machine: no TRADEGUARD_* variable, XDG state in tmp_path."""
    for name in list(os.environ):
        if name.upper().startswith("TRADEGUARD_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("TRADEGUARD_DATA_DIR", str(DATA_DIR))
