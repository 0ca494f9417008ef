"""File-level helpers for the state store: paths, permissions, header checks, corruption."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from engine.errors import StateCorruptedError, StateError, StatePathError

STORE_FILENAME = "state.db"
# Name the composition root used before the store had one name; never opened, only refused.
LEGACY_STORE_FILENAME = "tradeguard.sqlite"
STORE_LABEL = "state store"
HISTORY_LABEL = "history file"  # history.db beside state.db (tradeguard.store.archive)
FILE_MODE = 0o600
DIR_MODE = 0o700
SIDECARS = ("-wal", "-shm", "-journal")
_MAGIC = b"SQLite format 3\x00"
# Extended result codes that mean "the bytes on disk are not a sound database".
_CORRUPT_NAMES = ("SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_IOERR_SHORT_READ")


STORE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


def names_directory(location: Path | str) -> bool:
    """Return True when location is (or, not existing yet, looks like) a state directory."""
    path = Path(location)
    if path.exists():
        return path.is_dir()
    return path.suffix not in STORE_SUFFIXES


def store_path(location: Path | str) -> Path:
    """Return the store file for a state directory, or location itself when it names a file."""
    path = Path(location)
    return path / STORE_FILENAME if names_directory(path) else path


def restore_marker(store: Path) -> Path:
    """Return the file a restore keeps beside the store while the store is not in place."""
    return store.with_name(f"{store.name}.restoring")


def refuse_interrupted_restore(store: Path) -> None:
    """Refuse a store whose restore was cut short (the files set aside, the copies not in place).

    Opening on would start a fresh store in its place: the breaker state, the day's counters
    and the journal gone, a HALT waiting for the operator forgotten.
    """
    marker = restore_marker(store)
    if not marker.exists():
        return
    try:
        source = marker.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        source = ""
    again = f"tradeguard state restore --from {source}" if source else "tradeguard state restore"
    message = (
        f"a state restore into {store.parent} did not finish (killed, or stopped by an error) "
        f"before {store.name} was back in place ({marker.name} is left): fix what stopped it, "
        f"then run `{again}` again (the files it set aside are kept as *.corrupt-<time>)"
    )
    raise StatePathError(message)


def write_marker(path: Path, text: str) -> None:
    """Create path holding text, durable (file and directory entry) before returning."""
    fd = os.open(path, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, FILE_MODE)
    try:
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync(path.parent)


def directory_in_place_of_store(path: Path) -> StatePathError:
    """Return the error for a store path that is a directory (opening it would nest a store)."""
    message = (
        f"state store {path} is a directory, not a SQLite file; run `tradeguard state "
        "restore` (it sets the directory aside, contents kept) or use a new --state-dir"
    )
    return StatePathError(message)


def refuse_legacy_store(path: Path) -> None:
    """Refuse to start a new state.db beside a store written under the old file name.

    Starting fresh would silently drop the breaker state, daily P&L and open intents kept in
    the old file; the operator renames it (with its -wal/-shm) while no session runs.
    """
    legacy = path.with_name(LEGACY_STORE_FILENAME)
    if path.name != STORE_FILENAME or path.exists() or not legacy.exists():
        return
    message = (
        f"state directory {path.parent} holds {LEGACY_STORE_FILENAME} from an older "
        f"tradeguard but no {STORE_FILENAME}: stop every session, then rename it and its "
        f"-wal/-shm files to {STORE_FILENAME} (see docs/state.md)"
    )
    raise StatePathError(message)


def ensure_private_dir(directory: Path) -> None:
    """Create directory and any missing parent as 0700 regardless of umask; name what fails.

    Raises StatePathError when a component is not a directory or cannot be created (for
    example a parent without write permission), naming the path at fault.
    """
    missing: list[Path] = []
    probe = Path(directory)
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for path in reversed(missing):  # outermost first, so every new level is ours and 0700
        try:
            path.mkdir(mode=DIR_MODE)
        except FileExistsError:
            pass  # created concurrently: checked below like any existing directory
        except OSError as e:
            message = (
                f"cannot create directory {path} (needed for {directory}): {e.strerror}; "
                "fix the parent's permissions or choose another state directory"
            )
            raise StatePathError(message) from e
        _chmod_dir(path)
    if not directory.is_dir():
        message = f"{directory} exists but is not a directory: choose another state directory"
        raise StatePathError(message)
    _chmod_dir(directory)


def _chmod_dir(directory: Path) -> None:
    try:
        if directory.stat().st_mode & 0o777 != DIR_MODE:
            directory.chmod(DIR_MODE)
    except OSError as e:
        message = f"cannot make directory {directory} private (0700): {e.strerror}"
        raise StatePathError(message) from e


def chmod_private(path: Path) -> None:
    """Make path and its SQLite side files 0600 regardless of umask (missing files skipped)."""
    for candidate in (path, *(Path(f"{path}{suffix}") for suffix in SIDECARS)):
        with contextlib.suppress(FileNotFoundError):
            if candidate.stat().st_mode & 0o777 != FILE_MODE:
                candidate.chmod(FILE_MODE)


def create_private_file(path: Path) -> None:
    """Create an empty 0600 file, failing if it exists."""
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def fsync(path: Path) -> None:
    """Flush a file's contents, or a directory's entry changes (rename, link, unlink), to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def corrupted(path: Path, detail: str, what: str = STORE_LABEL) -> StateCorruptedError:
    """Return the error the operator sees for a damaged database file, with the way out."""
    if what in (STORE_LABEL, HISTORY_LABEL):
        advice = (
            "Run `tradeguard state restore` to restore the latest good backup (the damaged "
            f"file is kept as {path.name}.corrupt-<time>)."
        )
    else:
        advice = (
            "Put back a good copy of it; a new one is started only where the journal holds no "
            "fills (else use a new --state-dir)."
        )
    message = (
        f"{what} {path} failed its integrity check ({detail}); the engine will not trade on "
        f"it. The file was left untouched. {advice}"
    )
    return StateCorruptedError(message)


def is_corruption(error: sqlite3.DatabaseError | UnicodeDecodeError) -> bool:
    """Return True when SQLite reports damaged bytes rather than a busy or missing file."""
    if isinstance(error, UnicodeDecodeError):
        return True  # text that SQLite stored as UTF-8 no longer decodes: damaged pages
    name = getattr(error, "sqlite_errorname", "") or ""
    if name.startswith(_CORRUPT_NAMES):
        return True
    text = str(error).lower()
    return "malformed" in text or "not a database" in text


def database_error(
    path: Path,
    action: str,
    error: sqlite3.DatabaseError | UnicodeDecodeError,
    what: str = STORE_LABEL,
) -> StateError:
    """Return StateCorruptedError for damaged files, StateError for anything else."""
    if isinstance(error, UnicodeDecodeError):
        return corrupted(path, f"{action}: stored text is not valid UTF-8", what)
    if is_corruption(error):
        return corrupted(path, f"{action}: {error}", what)
    message = f"{what} {path}: {action} failed ({error}); check the disk and permissions"
    return StateError(message)


def check_header(path: Path, what: str = STORE_LABEL) -> None:
    """Refuse an existing store file that is empty, not SQLite, or shorter than its header says."""
    if not path.is_file():
        message = f"{what} {path} is not a regular file: move it aside or fix the path"
        raise StatePathError(message)
    size = path.stat().st_size
    if size == 0:
        raise corrupted(path, "the file is empty; tradeguard never leaves an empty store", what)
    try:
        with path.open("rb") as handle:
            header = handle.read(100)
    except OSError as e:
        message = f"{what} {path} cannot be read ({e.strerror}): fix its permissions"
        raise StatePathError(message) from e
    if len(header) < 100 or header[:16] != _MAGIC:
        raise corrupted(path, "the file does not start with a SQLite header", what)
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    page_count = int.from_bytes(header[28:32], "big")
    header_valid = header[24:28] == header[92:96]
    wal = Path(f"{path}-wal")
    wal_has_frames = wal.exists() and wal.stat().st_size > 0
    # With WAL frames present the main file may legitimately lag its header mid-checkpoint.
    if header_valid and page_count and not wal_has_frames and size < page_size * page_count:
        detail = f"truncated: {size} bytes on disk, header says {page_size * page_count}"
        raise corrupted(path, detail, what)
