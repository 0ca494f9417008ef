"""State-directory hygiene: online backups and verified restore (cleanup: store/clean.py)."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from engine.errors import StateCorruptedError, StateError
from tradeguard.store import files, seal
from tradeguard.store.archive import history_path
from tradeguard.store.lock import StateDirLock

log = logging.getLogger(__name__)

BACKUPS_DIRNAME = "backups"
_BACKUP_NAME = re.compile(r"^(?P<stem>.+)-(?P<stamp>\d{8}T\d{12}Z)\.db$")


def _stamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def quick_check_file(path: Path) -> str:
    """Return "ok" when a (backup) database file passes PRAGMA quick_check, else the problem."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as e:
        return str(e)
    try:
        lines = [str(row[0]) for row in conn.execute("PRAGMA quick_check")]
    except sqlite3.Error as e:
        return str(e)
    finally:
        conn.close()
    return "ok" if lines == ["ok"] else "; ".join(lines[:5])


def _copy_database(source: Path, target: Path, source_mode: str) -> None:
    """Copy a live database page by page with the online backup API into a new 0600 file."""
    files.create_private_file(target)
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode={source_mode}", uri=True)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # a self-contained single file
        finally:
            dst.close()
    finally:
        src.close()
    with target.open("rb+") as handle:
        os.fsync(handle.fileno())


def backup(
    store_path: Path | str,
    backups_dir: Path | str,
    retention: int,
    now: datetime,
) -> Path:
    """Write a verified online backup named with a UTC timestamp; keep the newest `retention`.

    The hot file is copied first, then its history file (as `<stem>-<stamp>.history.db`): an
    archive move between the two copies leaves the history copy one epoch ahead, which the
    next writer open finishes, never a row missing from both.
    """
    if retention < 1:
        message = f"retention must be at least 1, got {retention}"
        raise ValueError(message)
    store = files.store_path(store_path)
    if store.is_dir():
        raise files.directory_in_place_of_store(store)
    files.refuse_interrupted_restore(store)
    if not store.is_file():
        message = f"state store {store} does not exist: nothing to back up"
        raise StateError(message)
    files.check_header(store)  # empty or not SQLite: named as every open names it
    target_dir = Path(backups_dir)
    files.ensure_private_dir(target_dir)
    final = target_dir / f"{store.stem}-{_stamp(now)}.db"
    tmp = final.with_name(f"{final.name}.tmp")
    history = history_path(store)
    if history.exists() and not history.is_file():
        files.check_header(history, files.HISTORY_LABEL)  # names it: not a regular file
    history_tmp = history_path(final).with_name(f"{history_path(final).name}.tmp")
    try:
        _verified_copy(store, tmp, files.STORE_LABEL)
        if history.is_file():
            _verified_copy(history, history_tmp, files.HISTORY_LABEL)
        _refuse_incomplete(store, tmp, history_tmp)
        if history_tmp.exists():
            history_tmp.rename(history_path(final))
        tmp.rename(final)  # last: a backup set is complete once its hot file is in place
        files.fsync(target_dir)
    finally:
        tmp.unlink(missing_ok=True)
        history_tmp.unlink(missing_ok=True)
    log.info("state_backup_written store=%s backup=%s", store, final)
    _rotate(target_dir, store.stem, retention, newest=final)
    return final


def _refuse_incomplete(store: Path, hot_copy: Path, history_copy: Path) -> None:
    """Refuse a backup set without the rows archived from the store (history missing or behind).

    Restore would refuse such a set (latest_good_backup skips it): better said now.
    """
    verdict = _epochs_check(hot_copy, history_copy)
    if verdict != "ok":
        history = history_path(store).name
        detail = verdict.replace(history_copy.name, history).replace(hot_copy.name, store.name)
        message = f"cannot back up {store}: {detail}"
        raise StateError(message)


def _verified_copy(source: Path, tmp: Path, what: str) -> None:
    """Copy a live database to tmp with the backup API and quick_check the copy."""
    tmp.unlink(missing_ok=True)
    try:
        _copy_database(source, tmp, "rw")
        verdict = quick_check_file(tmp)
    except sqlite3.DatabaseError as e:
        raise files.database_error(source, "backing up", e, what) from e
    if verdict != "ok":
        raise files.corrupted(source, f"its backup copy fails quick_check: {verdict}", what)


def _unlink_backup(path: Path) -> None:
    """Remove a backup and its history companion."""
    path.unlink(missing_ok=True)
    history_path(path).unlink(missing_ok=True)


def _backups(backups_dir: Path, stem: str | None = None) -> list[Path]:
    """Return backup files, oldest first (the UTC stamp in the name sorts chronologically)."""
    if not backups_dir.is_dir():
        return []
    found = []
    for path in backups_dir.iterdir():
        match = _BACKUP_NAME.match(path.name)
        if match and path.is_file() and (stem is None or match["stem"] == stem):
            found.append((match["stamp"], path.name, path))
    return [path for _, _, path in sorted(found)]


def _rotate(backups_dir: Path, stem: str, retention: int, newest: Path) -> None:
    """Keep the newest `retention` backup sets, the one just written always among them.

    By stamp the one just written could sort older than a set stamped by a clock set ahead
    (or a file copied in): rotation deleted it while `state backup` printed its path.
    """
    sets = [path for path in _backups(backups_dir, stem) if path != newest]
    for old in [*sets, newest][:-retention]:
        _unlink_backup(old)
        log.info("state_backup_rotated removed=%s", old)


def prune_backups(backups_dir: Path | str, retention: int, dry_run: bool = False) -> list[Path]:
    """Remove all but the newest `retention` backup sets of every store; return the files."""
    directory = Path(backups_dir)
    stems = {m["stem"] for p in _backups(directory) if (m := _BACKUP_NAME.match(p.name))}
    doomed = [old for stem in sorted(stems) for old in _backups(directory, stem)[:-retention]]
    companions = [history_path(old) for old in doomed if history_path(old).exists()]
    for old in doomed:
        if not dry_run:
            _unlink_backup(old)
        log.info("state_backup_pruned path=%s dry_run=%s", old, dry_run)
    return [*doomed, *companions]


def latest_good_backup(backups_dir: Path | str) -> Path | None:
    """Return the newest backup that passes quick_check (with its history copy), or None."""
    for candidate in reversed(_backups(Path(backups_dir))):
        verdict = backup_check(candidate)
        if verdict == "ok":
            return candidate
        log.warning("state_backup_rejected path=%s problem=%s", candidate, verdict)
    return None


def backup_check(backup_file: Path) -> str:
    """Return "ok" when a backup and its history companion (if any) pass quick_check."""
    verdict = quick_check_file(backup_file)
    companion = history_path(backup_file)
    if verdict == "ok" and companion.exists():
        verdict = quick_check_file(companion)
        if verdict != "ok":
            verdict = f"{companion.name}: {verdict}"
    if verdict == "ok":
        verdict = _epochs_check(backup_file, companion)
    return verdict


def _epochs_check(backup_file: Path, companion: Path) -> str:
    """Return "ok" unless the set lacks archived rows (history copy missing or behind).

    Restoring such a set would put in place a store that every writer open refuses.
    """
    query = {
        backup_file: "SELECT (SELECT value FROM store_meta WHERE key = 'archive_epoch'), "
                     "(SELECT value FROM store_meta WHERE key = 'history_id')",
        companion: "SELECT (SELECT MAX(epoch) FROM archive_epochs), "
                   "(SELECT value FROM store_meta WHERE key = 'history_id')",
    }
    epochs, ids = {backup_file: 0, companion: 0}, {}
    for path, sql in query.items():
        if not path.exists():
            continue
        try:
            with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro",
                                                    uri=True)) as conn:
                epoch, ids[path] = conn.execute(sql).fetchone()
        except sqlite3.Error as e:
            return f"{path.name}: {e}"
        epochs[path] = int(epoch or 0)
    if None not in (ids.get(backup_file), ids.get(companion)) and len(set(ids.values())) > 1:
        return f"{companion.name} belongs to another store (history id {ids[companion]})"
    if epochs[companion] < epochs[backup_file]:
        return (f"incomplete backup set: {companion.name} is missing or behind (archive epoch "
                f"{epochs[companion]} < {epochs[backup_file]}), archived rows would be lost")
    return "ok"


def restore(
    store_path: Path | str,
    source: Path | None = None,
    *,
    backups_dir: Path | str | None = None,
    now: datetime | None = None,
    force: bool = False,
    failpoint: Callable[[str], None] | None = None,
) -> Path:
    """Replace the store and its history file with a verified backup set; keep the old files.

    The current files are renamed `.corrupt-<time>`. A backup without a history companion (an
    old single-file backup holds the whole journal) restores the hot file alone and sets the
    current history file aside too, so the two files always come from one backup.

    Refuses (StateLockedError) while a live session holds the state directory; force takes
    over a lock left on another host (see StateDirLock). Returns the backup restored. A
    restore cut short (kill, power loss) leaves `state.db.restoring`, which every open refuses
    until a restore completes. failpoint: the crash drills (tradeguard.failpoints).
    """
    store = files.store_path(store_path)
    moment = now or datetime.now(UTC)
    with StateDirLock(store.parent, force=force):
        chosen = source
        if chosen is None:
            chosen = latest_good_backup(backups_dir or store.parent / BACKUPS_DIRNAME)
            if chosen is None:
                message = f"no backup passing quick_check next to {store}: cannot restore"
                raise StateError(message)
        elif chosen.resolve() == store.resolve():
            message = (
                f"{chosen} is the state store itself, not a backup: pass a backup "
                f"({BACKUPS_DIRNAME}/{store.stem}-<stamp>.db), or omit --from for the latest"
            )
            raise StateError(message)
        elif chosen.stem.endswith(".history") or chosen.name == "history.db":
            message = (
                f"{chosen} is the history copy of a backup set: pass the state backup beside "
                "it (state-<stamp>.db); its history copy is restored with it"
            )
            raise StateError(message)
        else:
            verdict = backup_check(chosen)
            if verdict != "ok":
                # Not the state store: its message and remedy ("run state restore") misled.
                message = (
                    f"backup {chosen} cannot be restored ({verdict}); the state store was "
                    "left as it is: pass another backup with --from, or omit --from for the "
                    "latest good one"
                )
                raise StateCorruptedError(message)
        kept = _replace(store, chosen, _stamp(moment), failpoint)
    log.warning("state_restored store=%s from=%s previous_kept_as=%s", store, chosen, kept)
    return chosen


def _replace(
    store: Path, chosen: Path, stamp: str, failpoint: Callable[[str], None] | None = None
) -> Path | None:
    """Copy the backup set next to the store, set the current files aside, move the copies in.

    Between the set-aside and the last move the directory has no store: the marker written
    first makes every open refuse it then (a fresh store would be started in its place).
    """
    history = history_path(store)
    companion = history_path(chosen)
    tmp = store.with_name(f"{store.name}.restore.tmp")
    history_tmp = history.with_name(f"{history.name}.restore.tmp")
    marker = files.restore_marker(store)
    # Asked once: a companion that is the current history file is set aside below.
    has_companion = companion.exists()
    for stale in (tmp, history_tmp):
        stale.unlink(missing_ok=True)
    try:
        _copy_database(chosen, tmp, "ro")  # copy first: never leave the store missing
        if has_companion:
            _copy_database(companion, history_tmp, "ro")
        files.write_marker(marker, str(chosen.resolve()))
        try:
            kept = _set_aside(store, stamp)
        except BaseException:
            if store.exists():  # nothing was moved: the store is as it was
                marker.unlink(missing_ok=True)
            raise
        _set_aside(history, stamp)
        for sealed in (store, history):
            seal.remove(sealed)
        if failpoint is not None:
            failpoint("restore_set_aside")
        if has_companion:
            history_tmp.rename(history)
        tmp.rename(store)
        files.fsync(store.parent)
        marker.unlink()
        files.fsync(store.parent)
    finally:
        tmp.unlink(missing_ok=True)
        history_tmp.unlink(missing_ok=True)
    return kept


def _set_aside(store: Path, stamp: str) -> Path | None:
    """Rename the store and its side files to <name>.corrupt-<stamp>[-wal|-shm]; never delete."""
    if not store.exists():
        return None
    kept = store.with_name(f"{store.name}.corrupt-{stamp}")
    if kept.exists():
        message = f"{kept} already exists; refusing to overwrite a kept store"
        raise StateError(message)
    for suffix in ("", *files.SIDECARS):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{store}{suffix}").rename(f"{kept}{suffix}")
    files.fsync(store.parent)
    return kept
