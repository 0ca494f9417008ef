"""One writer per state directory; a lock left by a dead process never blocks the next one."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import stat
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.clock import SimulatedClock
from engine.errors import StateLockedError, StateLockedRemotelyError
from tradeguard.store.lock import LOCK_FILENAME, StateDirLock, is_locked_by_live_process

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 1, 4, 16, 52, tzinfo=UTC)

HOLDER = textwrap.dedent(
    """
    import sys
    from tradeguard.store.lock import StateDirLock
    with StateDirLock(sys.argv[1]):
        print("locked", flush=True)
        sys.stdin.readline()
    """
)


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # exited and reaped: the pid no longer exists
    assert child.returncode == 0
    return child.pid


def test_second_acquirer_in_the_same_process_is_refused_naming_the_owner(
    tmp_path: Path,
) -> None:
    clock = SimulatedClock(T0)
    with StateDirLock(tmp_path / "s", clock), pytest.raises(StateLockedError) as info:
        StateDirLock(tmp_path / "s").acquire()

    message = str(info.value)
    assert f"pid {os.getpid()}" in message
    assert "2026-01-04T16:52:00" in message


def test_lock_held_by_another_process_is_refused_with_its_pid(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline().strip() == "locked"
        owner = is_locked_by_live_process(tmp_path)
        with pytest.raises(StateLockedError, match=f"pid {holder.pid}"):
            StateDirLock(tmp_path).acquire()
        holder.stdin.write("\n")
        holder.stdin.flush()
    finally:
        holder.wait(timeout=30)

    assert owner is not None and owner.pid == holder.pid
    with StateDirLock(tmp_path):  # released by the holder's exit
        pass


def test_lock_of_a_killed_process_is_taken_over(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "locked"
    holder.kill()
    holder.wait()

    with StateDirLock(tmp_path) as lock:
        body = json.loads((tmp_path / LOCK_FILENAME).read_text())

    assert lock.held is False
    assert body["pid"] == os.getpid()


def test_stale_lock_body_from_a_dead_pid_is_taken_over_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gone = dead_pid()
    body = {"pid": gone, "hostname": socket.gethostname(), "started_at": "2026-01-01T00:00:00Z"}
    (tmp_path / LOCK_FILENAME).write_text(json.dumps(body))

    with caplog.at_level(logging.WARNING), StateDirLock(tmp_path):
        assert is_locked_by_live_process(tmp_path) is not None

    takeovers = [r for r in caplog.records if "state_lock_taken_over" in r.getMessage()]
    assert len(takeovers) == 1
    assert f"previous_pid={gone}" in takeovers[0].getMessage()


def test_clean_release_leaves_an_empty_body_and_no_live_owner(tmp_path: Path) -> None:
    with StateDirLock(tmp_path):
        pass

    assert (tmp_path / LOCK_FILENAME).read_text() == ""
    assert is_locked_by_live_process(tmp_path) is None


def test_unlocked_or_missing_lock_reports_no_owner(tmp_path: Path) -> None:
    assert is_locked_by_live_process(tmp_path) is None


def test_lock_file_and_directory_are_private(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        with StateDirLock(tmp_path / "s"):
            file_mode = stat.S_IMODE((tmp_path / "s" / LOCK_FILENAME).stat().st_mode)
            dir_mode = stat.S_IMODE((tmp_path / "s").stat().st_mode)
    finally:
        os.umask(old)

    assert (file_mode, dir_mode) == (0o600, 0o700)


def _remote_body(started: datetime, pid: int = 4242) -> str:
    body = {"pid": pid, "hostname": "other-host.example", "started_at": started.isoformat()}
    return json.dumps(body)


def test_lock_left_on_another_host_is_refused_with_host_pid_and_age(tmp_path: Path) -> None:
    (tmp_path / LOCK_FILENAME).write_text(_remote_body(T0 - timedelta(hours=3, minutes=5)))

    with pytest.raises(StateLockedRemotelyError) as info:
        StateDirLock(tmp_path, SimulatedClock(T0)).acquire()

    message = str(info.value)
    assert "pid 4242 on other-host.example" in message
    assert "age 3h05m" in message
    assert "force" in message
    assert json.loads((tmp_path / LOCK_FILENAME).read_text())["pid"] == 4242  # left untouched


def test_forced_lock_takes_over_a_lock_left_on_another_host_and_logs_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / LOCK_FILENAME).write_text(_remote_body(T0 - timedelta(days=2)))

    with caplog.at_level(logging.WARNING), StateDirLock(tmp_path, force=True) as lock:
        body = json.loads((tmp_path / LOCK_FILENAME).read_text())
        assert lock.held

    assert body["pid"] == os.getpid() and body["hostname"] == socket.gethostname()
    messages = [record.getMessage() for record in caplog.records]
    takeovers = [m for m in messages if "state_lock_taken_over" in m]
    assert len(takeovers) == 1
    assert "previous_host=other-host.example" in takeovers[0] and "forced=True" in takeovers[0]


def test_force_never_breaks_a_held_lock_and_the_refusal_names_the_remote_owner(
    tmp_path: Path,
) -> None:
    path = tmp_path / LOCK_FILENAME
    path.write_text(_remote_body(T0 - timedelta(minutes=7)))
    holder = os.open(path, os.O_RDONLY)  # a second open file description: flocks conflict
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        with pytest.raises(StateLockedError) as info:
            StateDirLock(tmp_path, SimulatedClock(T0), force=True).acquire()
    finally:
        os.close(holder)

    assert "pid 4242 on other-host.example" in str(info.value)
    assert "age 7m00s" in str(info.value)


def test_cleanly_released_lock_from_another_host_needs_no_force(tmp_path: Path) -> None:
    (tmp_path / LOCK_FILENAME).write_text("")  # a clean release empties the body

    with StateDirLock(tmp_path) as lock:
        assert lock.held


def test_lock_body_from_another_host_counts_as_a_live_owner_for_readers(tmp_path: Path) -> None:
    (tmp_path / LOCK_FILENAME).write_text(_remote_body(T0))

    owner = is_locked_by_live_process(tmp_path)

    assert owner is not None and (owner.pid, owner.hostname) == (4242, "other-host.example")
