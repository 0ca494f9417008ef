"""`tradeguard validate` as a user runs it: a real process, the matrix flow, exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).parent / "tradeguard"


def _env(tmp_path: Path, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TRADEGUARD_", "PREFECT_"))}
    # PREFECT_SERVER_ANALYTICS_ENABLED is left unset on purpose: the CLI turns it off itself.
    env.update({"PREFECT_HOME": str(tmp_path / "prefect"), "TRADEGUARD_DATA_DIR": str(data_dir),
                "XDG_STATE_HOME": str(tmp_path / "xdg"), **extra})
    return env


def _validate(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), "--state-dir", str(tmp_path / "state"), "validate", *args],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )


def test_a_malformed_scenario_is_refused_naming_file_and_field(
    tmp_path: Path, data_dir: Path
) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    bad = folder / "typo.toml"
    bad.write_text(
        'start = 2016-10-07T00:00:00Z\nend = 2016-10-08T00:00:00Z\n'
        '[[data]]\nfile = "btc-usd_coinbase_1m.csv.gz"\n'
        '[expect]\nhighest_level = "HALTED"\n',
        encoding="utf-8",
    )

    done = _validate(tmp_path, _env(tmp_path, data_dir), "--scenarios", str(folder))

    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"error: scenario {bad}: expect.highest_level:"), done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "prefect").exists(), "Prefect started for a refused scenario"


def test_wrong_breaker_config_fails_the_reject_storm_with_a_readable_reason(
    tmp_path: Path, data_dir: Path
) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    shutil.copy(REPO / "scenarios" / "03-reject-storm.toml", folder / "03-reject-storm.toml")
    env = _env(
        tmp_path, data_dir,
        TRADEGUARD_BREAKER__HALT_CONSECUTIVE_FAILURES="50",
        TRADEGUARD_BREAKER__SHUTDOWN_CONSECUTIVE_FAILURES="60",
    )

    done = _validate(tmp_path, env, "--scenarios", str(folder), "--scenario", "reject-storm",
                     "--gx-audit", "none", "--json")

    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    data = json.loads(done.stdout)
    assert data["passed"] is False
    assert [s["name"] for s in data["scenarios"]] == ["reject-storm"]
    storm = data["scenarios"][0]
    assert storm["passed"] is False
    assert storm["expected"]["highest_level"] == "HALT"
    assert storm["observed"]["highest_level"] == "THROTTLE"
    assert set(data["timings"]) >= {"engine_seconds", "crash_drill_seconds",
                                    "prefect_and_startup_seconds"}

    # The run directory is what `tradeguard report validation RUN` reads.
    run_dir = Path(data["run_dir"])
    assert json.loads((run_dir / "validation.json").read_text())["failed"] == ["reject-storm"]
    assert "expected HALT, observed THROTTLE" in (run_dir / "report.md").read_text()
    report = subprocess.run(
        [str(SCRIPT), "report", "validation", str(run_dir), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )
    assert report.returncode == 0, report.stderr
    written = list((tmp_path / "out").rglob("*.md"))
    assert written, report.stdout
    assert "reject-storm: highest_level" in written[0].read_text()


@pytest.mark.parametrize("option", [["--gx-audit", "some"], ["--hours", "0"]])
def test_bad_options_are_usage_errors(tmp_path: Path, data_dir: Path, option: list[str]) -> None:
    done = _validate(tmp_path, _env(tmp_path, data_dir), *option)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
