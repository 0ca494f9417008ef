"""`tradeguard venue ...` through the real CLI against the loopback Binance emulator."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.clock import SimulatedClock
from entrypoints.cli import app
from tests.integration.venue_support import KEY, SECRET, T0, make_emulator, serving


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith("TRADEGUARD_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))


def _venue_env(monkeypatch: pytest.MonkeyPatch, url: str, secret: str = SECRET) -> None:
    monkeypatch.setenv("TRADEGUARD_VENUE__API_URL", url)
    monkeypatch.setenv("TRADEGUARD_VENUE__API_KEY", KEY)
    monkeypatch.setenv("TRADEGUARD_VENUE__API_SECRET", secret)


def test_venue_check_prints_the_readiness_table(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path
) -> None:
    with serving(make_emulator(data_dir, SimulatedClock(T0))) as server:
        _venue_env(monkeypatch, server.url)
        result = CliRunner().invoke(app, ["venue", "check"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["check", "result", "observed", "/", "expected"]
    names = [line.split()[0] for line in lines[1:-1]]
    assert names == ["mode", "connectivity", "clock_skew", "markets", "credentials", "balances",
                     "open_orders", "rate_limits"]
    assert all(line.split()[1] == "PASS" for line in lines[1:-1])
    assert "USDT free=100000" in result.output
    assert lines[-1] == "venue binance READY (8 checks)"


def test_venue_check_with_wrong_secret_fails_naming_the_credentials(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path
) -> None:
    with serving(make_emulator(data_dir, SimulatedClock(T0))) as server:
        _venue_env(monkeypatch, server.url, secret="wrong-secret")
        result = CliRunner().invoke(app, ["venue", "check", "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    failed = {c["name"]: c["observed"] for c in report["checks"] if not c["ok"]}
    assert set(failed) == {"credentials", "balances", "open_orders"}
    assert failed["credentials"].startswith("credentials refused: AuthenticationError")
    assert "-1022" in failed["credentials"]  # Binance: signature not valid


def test_venue_check_names_clock_skew_beyond_the_limit(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path
) -> None:
    emulator = make_emulator(data_dir, SimulatedClock(T0))
    emulator.skew_ms = 3000
    with serving(emulator) as server:
        _venue_env(monkeypatch, server.url)
        monkeypatch.setenv("TRADEGUARD_VENUE__RECV_WINDOW_MS", "10000")
        result = CliRunner().invoke(app, ["venue", "check"])
    assert result.exit_code == 1
    assert "NOT READY: clock_skew: +" in result.output.splitlines()[-1]


def test_venue_check_without_keys_says_which_settings_are_missing(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path
) -> None:
    with serving(make_emulator(data_dir, SimulatedClock(T0))) as server:
        monkeypatch.setenv("TRADEGUARD_VENUE__API_URL", server.url)
        result = CliRunner().invoke(app, ["venue", "check"])
    assert result.exit_code == 1
    assert "venue.api_key and venue.api_secret not set" in result.output


@pytest.mark.parametrize("command", [["venue", "run"], ["run"]], ids=["venue-run", "run"])
def test_venue_run_refuses_a_mainnet_account_without_allow_mainnet(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, command: list[str]
) -> None:
    monkeypatch.setenv("TRADEGUARD_VENUE__SANDBOX", "false")
    monkeypatch.setenv("TRADEGUARD_VENUE__API_KEY", KEY)
    monkeypatch.setenv("TRADEGUARD_VENUE__API_SECRET", SECRET)
    result = CliRunner().invoke(app, ["--state-dir", str(tmp_path / "s"), *command])
    assert result.exit_code == 2
    assert "refusing to trade a mainnet binance account" in result.output
    assert "venue.allow_mainnet" in result.output
    assert not (tmp_path / "s").exists()  # refused before any state is created


def test_emulator_command_serves_until_interrupted_and_venue_check_passes_on_it(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path
) -> None:
    import signal
    import subprocess
    import sys

    script = Path(sys.executable).parent / "tradeguard"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEGUARD_")}
    env.update(TRADEGUARD_VENUE__API_KEY=KEY, TRADEGUARD_VENUE__API_SECRET=SECRET,
               TRADEGUARD_DATA_DIR=str(data_dir))
    process = subprocess.Popen(
        [str(script), "venue", "emulator", "--port", "0", "--start", "2022-01-21T20:00:00Z"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # printed once the socket is bound
        url = first.split()[3]
        assert url.startswith("http://127.0.0.1:")
        _venue_env(monkeypatch, url)
        result = CliRunner().invoke(app, ["venue", "check"])
        assert result.exit_code == 0, result.output
        assert result.output.splitlines()[-1] == "venue binance READY (8 checks)"
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "emulator stopped" in out
    assert "Traceback" not in err
