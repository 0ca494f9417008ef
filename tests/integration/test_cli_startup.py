"""Light commands stay light: `status` and `--help` never import the heavy packages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("prefect", "pyarrow", "great_expectations", "duckdb", "matplotlib", "ccxt", "fastapi",
         "pandas", "numpy", "rich", "httpx", "apprise")
# tradeguard's own modules that only running a session needs: `status` reads the store and
# the settings, it never wires a session, a breaker or the alert delivery.
SESSION_ONLY = ("engine.assembly", "engine.session", "engine.execution",
                "engine.circuit_breaker", "tradeguard.alerting.runtime",
                "tradeguard.strategy_plugin",
                # status reads through tradeguard.cockpit.status_read: no composition root,
                # no use cases, no bar path, fills, venue sync, data files or alert delivery.
                "tradeguard.bootstrap", "tradeguard.services", "tradeguard.app",
                "tradeguard.alerts", "tradeguard.failpoints", "tradeguard.marketdata",
                "tradeguard.requests", "tradeguard.audit", "tradeguard.venues.sync",
                "engine.venue_sync", "engine.bar_pipeline", "engine.settlement", "engine.risk",
                "engine.portfolio",
                # the settings read the engine's config modules only (engine/*_config.py):
                # no paper venue, fault plan, bar validator, session values or strategy, and
                # the store package loads no backups and cleanup.
                "engine.broker", "engine.feed", "engine.faults", "engine.paper_book",
                "engine.paper_fills", "engine.session_state", "engine.strategy",
                "tradeguard.store.hygiene")
# The modules of the other commands: a command imports its own module only (cli_lazy.py).
OTHER_COMMANDS = ("entrypoints.cli_admin", "entrypoints.cli_alerts", "entrypoints.cli_analytics",
                  "entrypoints.cli_checks", "entrypoints.cli_cockpit", "entrypoints.cli_validate",
                  "entrypoints.cli_venue")
# What only commands that read the settings need: `--help` builds no pydantic model.
SETTINGS_ONLY = ("pydantic", "tradeguard.settings")
PROBE = """
import runpy, sys
sys.argv = ["tradeguard", *sys.argv[1:]]
try:
    runpy.run_module("tradeguard", run_name="__main__")
except SystemExit:
    pass
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY_NAMES))
print("HEAVY=" + ",".join(heavy), file=sys.stderr)
print("SESSION=" + ",".join(sorted(set(sys.modules) & set(SESSION_NAMES))), file=sys.stderr)
print("COMMANDS=" + ",".join(sorted(set(sys.modules) & set(COMMAND_NAMES))), file=sys.stderr)
print("SETTINGS=" + ",".join(sorted(set(sys.modules) & set(SETTINGS_NAMES))), file=sys.stderr)
""".replace("HEAVY_NAMES", repr(HEAVY)).replace("SESSION_NAMES", repr(SESSION_ONLY)).replace(
    "COMMAND_NAMES", repr(OTHER_COMMANDS)).replace("SETTINGS_NAMES", repr(SETTINGS_ONLY))


def _imported(*args: str) -> dict[str, list[str]]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                          timeout=120, check=False)
    found: dict[str, list[str]] = {}
    for key in ("HEAVY", "SESSION", "COMMANDS", "SETTINGS"):
        line = [x for x in done.stderr.splitlines() if x.startswith(key + "=")]
        assert line, done.stderr
        found[key] = [m for m in line[-1].removeprefix(key + "=").split(",") if m]
    return found


def _replayed_state(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    replay = subprocess.run(
        [sys.executable, "-m", "tradeguard", "--state-dir", str(state), "replay", "--data",
         "btc-usd_coinbase_1m.csv.gz", "--start", "2016-10-07T00:00:00Z", "--end",
         "2016-10-07T01:00:00Z"], capture_output=True, text=True, timeout=300, check=False)
    assert replay.returncode == 0, replay.stderr
    return state


@pytest.mark.parametrize("args", [["--help"], ["status"], ["validate", "--help"]])
def test_light_commands_import_no_heavy_package(args: list[str], tmp_path: Path) -> None:
    if args == ["status"]:
        args = ["--state-dir", str(_replayed_state(tmp_path)), "status"]
    assert _imported(*args)["HEAVY"] == []


def test_status_does_not_load_the_session_wiring(tmp_path: Path) -> None:
    state = _replayed_state(tmp_path)
    assert _imported("--state-dir", str(state), "status")["SESSION"] == []


def test_replay_loads_the_session_wiring_the_status_probe_looks_for(tmp_path: Path) -> None:
    # The probe above can fail: a command that runs a session does import these modules.
    state = tmp_path / "state"
    found = _imported("--state-dir", str(state), "replay", "--data",
                      "btc-usd_coinbase_1m.csv.gz", "--start", "2016-10-07T00:00:00Z",
                      "--end", "2016-10-07T00:10:00Z")
    assert found["SESSION"] == sorted(SESSION_ONLY)


def test_status_and_help_import_no_other_commands_module(tmp_path: Path) -> None:
    state = _replayed_state(tmp_path)
    status = _imported("--state-dir", str(state), "status")
    assert status["COMMANDS"] == ["entrypoints.cli_cockpit"]
    assert status["SETTINGS"] == sorted(SETTINGS_ONLY)  # the probe can see them
    helped = _imported("--help")
    assert helped["COMMANDS"] == []
    assert helped["SETTINGS"] == []


def test_a_group_command_imports_its_own_module_only() -> None:
    # The probe above can fail: naming a group loads that group's module (and what it merges).
    assert _imported("state", "--help")["COMMANDS"] == [
        "entrypoints.cli_admin", "entrypoints.cli_checks"
    ]
    assert _imported("venue", "--help")["COMMANDS"] == ["entrypoints.cli_venue"]
