"""State-directory cleanup: stale lock and temp files, old validation run directories."""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tradeguard.store.hygiene import BACKUPS_DIRNAME
from tradeguard.store.lock import is_locked_by_live_process, pid_alive, read_owner, try_flock

log = logging.getLogger(__name__)

DEFAULT_STALE_AFTER = timedelta(minutes=10)
_TEMP_SUFFIXES = (".tmp", ".tmp-wal", ".tmp-shm", ".tmp-journal")


@dataclass(frozen=True)
class CleanResult:
    """Files removed (or that would be, with dry_run) and candidates deliberately kept."""

    removed: tuple[Path, ...] = ()
    kept: tuple[Path, ...] = ()
    dry_run: bool = False


def _age(path: Path, now: datetime) -> timedelta:
    return now - datetime.fromtimestamp(path.stat().st_mtime, UTC)


def _lock_is_stale(path: Path) -> bool:
    """Return True when nobody holds the flock and the recorded owner (if any) is gone."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:  # unreadable: not ours to judge, and never deleted blind
        log.warning("state_clean_lock_unreadable path=%s error=%s", path, e.strerror)
        return False
    try:
        if not try_flock(fd, exclusive=False):
            return False
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
    owner = read_owner(path)
    return owner is None or not pid_alive(owner.pid, owner.hostname)


def _classify(path: Path) -> bool | None:
    """Return True (stale), False (kept on purpose) or None (not a cleanup candidate)."""
    name = path.name
    if name.endswith(_TEMP_SUFFIXES):
        return True
    if name.endswith(".lock"):
        return _lock_is_stale(path)
    if name.endswith("-journal"):
        # A journal next to its database may be hot (needed to roll back a torn write):
        # deleting it would corrupt the database, so only orphans go.
        return not path.with_name(name[: -len("-journal")]).exists()
    return None


def clean_state(
    state_dir: Path | str,
    older_than: timedelta = DEFAULT_STALE_AFTER,
    now: datetime | None = None,
    dry_run: bool = False,
) -> CleanResult:
    """Remove stale lock and temp files older than older_than; never the store or a live lock."""
    moment = now or datetime.now(UTC)
    root = Path(state_dir)
    removed: list[Path] = []
    kept: list[Path] = []
    for directory in (root, root / BACKUPS_DIRNAME):
        if not directory.is_dir():
            continue
        for path in sorted(directory.iterdir()):
            if not path.is_file():
                continue
            verdict = _classify(path)
            if verdict is None:
                continue
            if not verdict or _age(path, moment) < older_than:
                kept.append(path)
                continue
            removed.append(path)
            if not dry_run:
                path.unlink(missing_ok=True)
            log.info("state_clean_removed path=%s dry_run=%s", path, dry_run)
    return CleanResult(tuple(removed), tuple(kept), dry_run)


def prune_run_dirs(runs_dir: Path | str, keep: int, dry_run: bool = False) -> list[Path]:
    """Remove all but the newest `keep` finished run directories (e.g. validation runs)."""
    directory = Path(runs_dir)
    if not directory.is_dir():
        return []
    runs = sorted(p for p in directory.iterdir() if p.is_dir())
    doomed = [run for run in runs[:-keep] if is_locked_by_live_process(run) is None]
    for run in doomed:
        if not dry_run:
            shutil.rmtree(run, ignore_errors=True)
        log.info("state_run_pruned path=%s dry_run=%s", run, dry_run)
    return doomed
