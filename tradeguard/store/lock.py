"""Single-writer lock on a state directory: fcntl.flock on `.lock` plus an owner body.

The kernel releases a flock when its holder dies (even on kill -9), so a lock file left by a
dead session never blocks the next one; the JSON body (pid, hostname, started_at) names the
owner in messages and lets `clean_state` recognise stale files. A body left by a session on
another host cannot be checked from here (its flock may not reach us on a network file
system), so it is taken over only with `force=True`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from engine.clock import Clock, SystemClock
from engine.errors import StateLockedError, StateLockedRemotelyError, StatePathError
from tradeguard.store.files import FILE_MODE, ensure_private_dir
from tradeguard.store.serialize import format_utc

log = logging.getLogger(__name__)

LOCK_FILENAME = ".lock"
_ATTEMPTS = 3  # a path replaced between open() and flock() is retried on the new file
_RETRY_PAUSE_S = 0.05


@dataclass(frozen=True)
class LockOwner:
    """Who holds (or last held) a state-directory lock, as written in the lock body."""

    pid: int | None
    hostname: str
    started_at: str

    def describe(self, now: datetime | None = None) -> str:
        """Return "pid 123 on host since 2026-... (age 2h05m)" for messages."""
        pid = "unknown pid" if self.pid is None else f"pid {self.pid}"
        host = f" on {self.hostname}" if self.hostname else ""
        since = f" since {self.started_at}" if self.started_at else ""
        age = self.age(now) if now is not None else None
        aged = f" (age {age})" if age is not None else ""
        return f"{pid}{host}{since}{aged}"

    def age(self, now: datetime) -> str | None:
        """Return how long ago the owner took the lock, e.g. "3d04h", or None if unknown."""
        try:
            started = datetime.fromisoformat(self.started_at)
        except ValueError:
            return None
        if started.tzinfo is None:
            return None
        seconds = max(0, int((now - started).total_seconds()))
        days, rest = divmod(seconds, 86400)
        hours, rest = divmod(rest, 3600)
        minutes, secs = divmod(rest, 60)
        if days:
            return f"{days}d{hours:02d}h"
        if hours:
            return f"{hours}h{minutes:02d}m"
        return f"{minutes}m{secs:02d}s"

    @property
    def remote(self) -> bool:
        """Return True when the owner ran on another host (its liveness cannot be probed)."""
        return bool(self.hostname) and self.hostname != socket.gethostname()


def pid_alive(pid: int | None, hostname: str = "") -> bool:
    """Return True unless pid provably no longer exists on this host."""
    if pid is None or pid <= 0:
        return False
    if hostname and hostname != socket.gethostname():
        return True  # cannot probe another host's processes: assume alive (fail closed)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    return True


def read_owner(path: Path) -> LockOwner | None:
    """Return the owner written in a lock file, or None when it is empty or unreadable."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (FileNotFoundError, PermissionError, UnicodeDecodeError):
        return None
    if not text:
        return None
    try:
        body: Any = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(body, dict):
        return None
    pid = body.get("pid")
    return LockOwner(
        pid=pid if isinstance(pid, int) else None,
        hostname=str(body.get("hostname", "")),
        started_at=str(body.get("started_at", "")),
    )


def try_flock(fd: int, exclusive: bool = True) -> bool:
    """Return True when a non-blocking flock was taken on fd."""
    mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def is_locked_by_live_process(state_dir: Path | str) -> LockOwner | None:
    """Return the owner when a live process holds the state-dir lock, else None.

    A body left by another host counts as held: its owner cannot be probed from here.
    """
    path = Path(state_dir) / LOCK_FILENAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise _unusable(path, e) from e
    try:
        if try_flock(fd, exclusive=False):
            fcntl.flock(fd, fcntl.LOCK_UN)
            owner = read_owner(path)
            return owner if owner is not None and owner.remote else None
    finally:
        os.close(fd)
    return read_owner(path) or LockOwner(None, "", "")


class StateDirLock:
    """Exclusive lock of a state directory for one trading session; a context manager."""

    def __init__(
        self, state_dir: Path | str, clock: Clock | None = None, *, force: bool = False
    ) -> None:
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / LOCK_FILENAME
        self._clock: Clock = clock or SystemClock()
        self._force = force  # take over a lock body left on another host (never a held flock)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Return True while this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock or raise StateLockedError naming the owner.

        A lock whose body names a process on another host is refused with
        StateLockedRemotelyError (host, pid and age) unless this lock was built with force=True.
        """
        if self._fd is not None:
            return
        ensure_private_dir(self.state_dir)
        for attempt in range(_ATTEMPTS):
            fd = self._open()
            try:
                os.fchmod(fd, FILE_MODE)
                if not try_flock(fd):
                    owner = read_owner(self.path)
                    if attempt + 1 < _ATTEMPTS and (
                        owner is None or not pid_alive(owner.pid, owner.hostname)
                    ):
                        # Probably a read-only prober's brief shared lock: look again shortly.
                        os.close(fd)
                        time.sleep(_RETRY_PAUSE_S)
                        continue
                    self._refuse()
                if os.fstat(fd).st_ino != _inode(self.path):
                    os.close(fd)  # the file was removed or replaced meanwhile: lock the new one
                    continue
                self._refuse_remote()
            except BaseException:
                with contextlib.suppress(OSError):
                    os.close(fd)
                raise
            self._take(fd)
            return
        message = f"state directory lock {self.path} keeps being replaced; is a cleaner running?"
        raise StateLockedError(message)

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        except OSError as e:
            raise _unusable(self.path, e) from e

    def _refuse_remote(self) -> None:
        """Refuse a lock body left by another host unless forced (its owner may still run)."""
        owner = read_owner(self.path)
        if owner is None or not owner.remote or self._force:
            return
        message = (
            f"state directory {self.state_dir} is locked by "
            f"{owner.describe(self._clock.now())}, another host: tradeguard cannot tell from "
            f"here whether that session still runs. Stop it there; if it is gone for good, "
            f"take the lock over with force (the CLI's --force)"
        )
        raise StateLockedRemotelyError(message)

    def _refuse(self) -> None:
        owner = read_owner(self.path)
        if owner is not None and not pid_alive(owner.pid, owner.hostname):
            message = (
                f"state directory {self.state_dir} is locked, and its recorded owner "
                f"({owner.describe()}) is gone: a child process may have inherited the lock; "
                f"stop it, then retry"
            )
        else:
            who = owner.describe(self._clock.now()) if owner is not None else "an unknown process"
            message = (
                f"state directory {self.state_dir} is in use by {who}: stop that session "
                f"(or wait for it to end) or use another state directory"
            )
        raise StateLockedError(message)

    def _take(self, fd: int) -> None:
        previous = read_owner(self.path)
        if previous is not None and (previous.pid != os.getpid() or previous.remote):
            log.warning(
                "state_lock_taken_over dir=%s previous_pid=%s previous_host=%s since=%s "
                "forced=%s",
                self.state_dir,
                previous.pid,
                previous.hostname,
                previous.started_at,
                previous.remote,
            )
        body = {
            "pid": os.getpid(),
            "hostname": socket.gethostname(),
            "started_at": format_utc(self._clock.now(), "clock.now()"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(body, sort_keys=True).encode("utf-8"), 0)
        self._fd = fd
        log.info("state_lock_acquired dir=%s pid=%d", self.state_dir, body["pid"])

    def release(self) -> None:
        """Empty the owner body and release the lock (the file stays: unlinking races)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)  # an empty body means "released cleanly"
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        log.info("state_lock_released dir=%s", self.state_dir)

    def __enter__(self) -> StateDirLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _unusable(path: Path, error: OSError) -> StatePathError:
    """Return the error for a lock path that cannot be opened, naming what to fix."""
    if isinstance(error, IsADirectoryError) or path.is_dir():
        message = (
            f"state directory lock {path} is a directory, not a lock file: remove it "
            "(tradeguard creates the file itself)"
        )
    else:
        message = (
            f"state directory lock {path} cannot be opened ({error.strerror}): give the user "
            "running tradeguard read and write access to it, or remove it when no session runs"
        )
    return StatePathError(message)


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None
