"""The real console command at DEBUG: configuration errors exit 2 and never print a secret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CLI = Path(sys.executable).parent / "tradeguard"
PASSWORD = "secretpw-9f3k"


def _run(tmp_path: Path, env_extra: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("TRADEGUARD_")}
    env.update(XDG_STATE_HOME=str(tmp_path / "xdg"), **env_extra)
    return subprocess.run(
        [str(CLI), "--log-level", "DEBUG", *args],
        capture_output=True, text=True, timeout=120, check=False, env=env,
    )


@pytest.mark.parametrize(
    "urls",
    [
        f'["tgram://tok:{PASSWORD}@x", 5',  # malformed JSON
        f'"tgram://tok:{PASSWORD}@x"',  # a string, not a list: pydantic echoes input_value
        f'["tgram://tok:{PASSWORD}@x", 5]',
        f"tgram://tok:{PASSWORD}@x",  # a list without brackets
    ],
)
def test_bad_alert_urls_exit_2_and_no_output_contains_the_password(
    tmp_path: Path, urls: str
) -> None:
    done = _run(tmp_path, {"TRADEGUARD_ALERTS__URLS": urls}, "config", "show")

    assert done.returncode == 2, done.stderr
    assert "error: invalid configuration" in done.stderr
    assert "alerts.urls" in done.stderr
    assert PASSWORD not in done.stdout + done.stderr


def test_valid_alert_url_is_masked_at_debug(tmp_path: Path) -> None:
    done = _run(
        tmp_path, {"TRADEGUARD_ALERTS__URLS": f'["tgram://tok:{PASSWORD}@x"]'}, "config", "show"
    )

    assert done.returncode == 0, done.stderr
    assert "tgram://**********" in done.stdout
    assert PASSWORD not in done.stdout + done.stderr


def test_mistyped_limit_variable_exits_2_naming_it(tmp_path: Path) -> None:
    done = _run(tmp_path, {"TRADEGUARD_RISK_MAX_DAILY_LOSS": "1"}, "config", "show")

    assert done.returncode == 2
    assert "TRADEGUARD_RISK_MAX_DAILY_LOSS" in done.stderr
    assert "did you mean TRADEGUARD_RISK__MAX_DAILY_LOSS?" in done.stderr
