"""`tradeguard api` as a real process, `status` details and `status --watch` in a tmux pane."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

DATA_DIR = (Path(__file__).resolve().parents[2] / ".." / "shared" / "data").resolve()
FTX = DATA_DIR / "btc-perp_ftx_1m.csv.gz"
SCRIPT = Path(sys.executable).parent / "tradeguard"
WINDOW = ["--start", "2022-01-21T19:00:00Z", "--end", "2022-01-21T22:00:00Z"]
READ = "r" * 30
OPERATE = "o" * 30


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("TRADEGUARD_")}
    env.update(XDG_STATE_HOME=str(tmp_path / "xdg"), TRADEGUARD_DATA_DIR=str(DATA_DIR), **extra)
    return env


def _run(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True,
                          env=_env(tmp_path, **extra), timeout=300, check=False)


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state directory holding three hours of real FTX bars."""
    root = tmp_path_factory.mktemp("cockpit")
    state = root / "state"
    done = _run(root, "replay", "--data", str(FTX), *WINDOW, "--state-dir", str(state), "--json")
    assert done.returncode == 0, done.stderr
    return state


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def api_url(replayed: Path, tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    tokens = json.dumps([{"name": "viewer", "token": READ, "scope": "read"},
                         {"name": "ops", "token": OPERATE, "scope": "operate"}])
    proc = subprocess.Popen(
        [str(SCRIPT), "api", "--state-dir", str(replayed), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=_env(tmp_path, TRADEGUARD_API__TOKENS=tokens),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:  # readiness, bounded by the deadline
        assert proc.poll() is None, proc.communicate()[1]
        try:
            httpx.get(f"{url}/docs", timeout=1)
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, "tradeguard api did not start"
            time.sleep(0.1)
    try:
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert "Traceback" not in err
        assert "secret" not in err and OPERATE not in err


def test_api_command_serves_status_and_audits_actions_with_the_token_name(
    api_url: str, replayed: Path, tmp_path: Path
) -> None:
    assert httpx.get(f"{api_url}/status").status_code == 401
    read = {"Authorization": f"Bearer {READ}"}
    status = httpx.get(f"{api_url}/status", headers=read)
    assert status.status_code == 200
    assert status.json()["counters"]["bars"] == 180
    assert httpx.post(f"{api_url}/halt", json={"reason": "x"}, headers=read).status_code == 403
    operate = {"Authorization": f"Bearer {OPERATE}"}
    halted = httpx.post(f"{api_url}/halt", json={"reason": "api test"}, headers=operate)
    assert halted.status_code == 200, halted.text
    forged = httpx.post(f"{api_url}/halt", json={"reason": "a\nb"}, headers=operate)
    assert forged.status_code in {409, 422}
    shown = json.loads(_run(tmp_path, "status", "--state-dir", str(replayed), "--json").stdout)
    assert shown["breaker"]["override"]["active"] is True
    assert shown["breaker"]["override"]["who"] == "api:ops"
    resumed = httpx.post(f"{api_url}/resume", json={"reason": "done"}, headers=operate)
    assert resumed.status_code == 200


def test_api_without_tokens_is_a_usage_error_naming_the_setting(
    replayed: Path, tmp_path: Path
) -> None:
    done = _run(tmp_path, "api", "--state-dir", str(replayed), "--port", str(_free_port()))
    assert done.returncode == 2
    assert done.stderr.startswith("error: api.tokens is empty")


def test_status_shows_bar_time_in_state_and_heartbeat_fields(
    replayed: Path, tmp_path: Path
) -> None:
    shown = json.loads(_run(tmp_path, "status", "--state-dir", str(replayed), "--json").stdout)
    assert shown["current_bar"] == {"BTC-PERP": "2022-01-21T21:59:00+00:00"}
    assert shown["breaker"]["entered_at"] is not None
    assert shown["breaker"]["time_in_state_seconds"] >= 0
    assert shown["heartbeat_age_seconds"] is None  # no session runs
    assert "loss_window" not in shown["counters"]


def test_status_after_make_run_points_at_the_latest_validation(
    replayed: Path, tmp_path: Path
) -> None:
    root = tmp_path / "state"
    for name in ("20260101T000000000000Z-1", "20260102T000000000000Z-2"):
        run = root / "validation" / name
        shutil.copytree(replayed, run)
    done = _run(tmp_path, "status", "--state-dir", str(root), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["state_dir"].endswith("20260102T000000000000Z-2")
    assert "latest validation run" in done.stderr


@pytest.mark.parametrize(
    ("config", "env", "named"),
    [
        ("[store]\nbackup_retention = 0\n", {}, "store.backup_retention"),
        ("[orchestration]\nreset_cron = \"61 * * * *\"\n", {}, "orchestration.reset_cron"),
        ("", {"TRADEGUARD_ALERTS__HEARTBEAT_CHECK_CRON": "* * *"}, "heartbeat_check_cron"),
        ("", {"TRADEGUARD_STORE__NO_SUCH_FIELD": "1"}, "TRADEGUARD_STORE__NO_SUCH_FIELD"),
    ],
)
def test_status_refuses_a_bad_configuration_with_exit_2(
    replayed: Path, tmp_path: Path, config: str, env: dict[str, str], named: str
) -> None:
    # status reads the state without the composition root, but still validates every setting.
    config_file = tmp_path / "tg.toml"
    config_file.write_text(config, encoding="utf-8")
    done = _run(tmp_path, "--config", str(config_file), "status", "--state-dir", str(replayed),
                **env)
    assert done.returncode == 2, done.stdout
    assert done.stderr.startswith("error: ")
    assert named in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_status_watch_draws_the_state_in_a_tmux_pane(replayed: Path, tmp_path: Path) -> None:
    session = f"tg-{uuid.uuid4().hex[:8]}"
    env = " ".join(f"{k}={v}" for k, v in (("TRADEGUARD_DATA_DIR", DATA_DIR),
                                            ("XDG_STATE_HOME", tmp_path / "xdg")))
    command = f"env {env} {SCRIPT} status --watch --interval 0.5 --state-dir {replayed}"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "40",
                    command], check=True)
    try:
        deadline = time.monotonic() + 60
        screen = ""
        while "positions and open intents" not in screen:  # readiness, bounded
            assert time.monotonic() < deadline, screen
            time.sleep(0.2)
            screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
                                    capture_output=True, text=True, check=False).stdout
        shown = json.loads(_run(tmp_path, "status", "--state-dir", str(replayed),
                                "--json").stdout)
        assert f" {shown['breaker']['state']} " in screen
        assert "BTC-PERP 2022-01-21T21:59:00+00:00" in screen
        assert "180" in screen  # bars
        assert "Traceback" not in screen
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)


def _tmux_screen(session: str, until: str) -> str:
    deadline = time.monotonic() + 120
    screen = ""
    while until not in screen:  # readiness, bounded by the deadline
        assert time.monotonic() < deadline, screen
        time.sleep(0.2)
        screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
                                capture_output=True, text=True, check=False).stdout
    return screen


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_replay_shows_progress_on_a_terminal(tmp_path: Path) -> None:
    session = f"tg-{uuid.uuid4().hex[:8]}"
    command = (f"env TRADEGUARD_DATA_DIR={DATA_DIR} XDG_STATE_HOME={tmp_path / 'xdg'} "
               f"{SCRIPT} replay --data {FTX} {' '.join(WINDOW)} --state-dir {tmp_path / 's'}"
               "; sleep 60")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "40",
                    command], check=True)
    try:
        screen = _tmux_screen(session, "state directory:")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)
    assert "180 bars  sim time 2022-01-21 21:59Z  CLOSED" in screen


def test_replay_is_silent_when_not_a_terminal_and_explains_its_numbers(tmp_path: Path) -> None:
    done = _run(tmp_path, "replay", "--data", str(FTX), *WINDOW, "--state-dir",
                str(tmp_path / "s"))
    assert done.returncode == 0, done.stderr
    assert "sim time" not in done.stderr + done.stdout
    as_json = _run(tmp_path, "replay", "--data", str(FTX), *WINDOW, "--state-dir",
                   str(tmp_path / "j"), "--json")
    summary = json.loads(as_json.stdout)
    assert f"pnl: {summary['pnl']:+.2f} USD" in done.stdout
    share = summary["pnl"] / 100_000
    assert f"{share:+.4%} of starting equity 100000 USD" in done.stdout
    assert f"daily_pnl: {summary['daily_pnl']:+.2f} USD (realized P&L of the current" in (
        done.stdout
    )
    without = summary["signals"] - summary["orders_submitted"]
    assert (f"signals: {summary['signals']}; {summary['orders_submitted']} produced an order, "
            f"{without} did not") in done.stdout
