"""File-level helpers for the state store: paths, permissions, header checks, corruption."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from engine.errors import StateCorruptedError, StateError

STORE_FILENAME = "state.db"
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


def ensure_private_dir(directory: Path) -> None:
    """Create directory (and parents) if missing and make it 0700 regardless of umask."""
    directory.mkdir(parents=True, exist_ok=True)
    if directory.stat().st_mode & 0o777 != DIR_MODE:
        os.chmod(directory, DIR_MODE)


def chmod_private(path: Path) -> None:
    """Make path and its SQLite side files 0600 regardless of umask (missing files skipped)."""
    for candidate in (path, *(Path(f"{path}{suffix}") for suffix in SIDECARS)):
        with contextlib.suppress(FileNotFoundError):
            if candidate.stat().st_mode & 0o777 != FILE_MODE:
                os.chmod(candidate, FILE_MODE)


def create_private_file(path: Path) -> None:
    """Create an empty 0600 file, failing if it exists."""
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def fsync_dir(directory: Path) -> None:
    """Flush a directory entry change (rename, link, unlink) to disk."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def corrupted(path: Path, detail: str) -> StateCorruptedError:
    """Return the error the operator sees for a damaged store, with the way out."""
    message = (
        f"state store {path} failed its integrity check ({detail}); the engine will not trade "
        f"on it. The file was left untouched. Run `tradeguard state restore` to restore the "
        f"latest good backup (the damaged file is kept as {path.name}.corrupt-<time>)."
    )
    return StateCorruptedError(message)


def is_corruption(error: sqlite3.DatabaseError) -> bool:
    """Return True when SQLite reports damaged bytes rather than a busy or missing file."""
    name = getattr(error, "sqlite_errorname", "") or ""
    if name.startswith(_CORRUPT_NAMES):
        return True
    text = str(error).lower()
    return "malformed" in text or "not a database" in text


def database_error(path: Path, action: str, error: sqlite3.DatabaseError) -> StateError:
    """Return StateCorruptedError for damaged files, StateError for anything else."""
    if is_corruption(error):
        return corrupted(path, f"{action}: {error}")
    message = f"state store {path}: {action} failed ({error}); check the disk and permissions"
    return StateError(message)


def check_header(path: Path) -> None:
    """Refuse an existing store file that is empty, not SQLite, or shorter than its header says."""
    size = path.stat().st_size
    if size == 0:
        raise corrupted(path, "the file is empty; tradeguard never leaves an empty store")
    with path.open("rb") as handle:
        header = handle.read(100)
    if len(header) < 100 or header[:16] != _MAGIC:
        raise corrupted(path, "the file does not start with a SQLite header")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    page_count = int.from_bytes(header[28:32], "big")
    header_valid = header[24:28] == header[92:96]
    wal = Path(f"{path}-wal")
    wal_has_frames = wal.exists() and wal.stat().st_size > 0
    # With WAL frames present the main file may legitimately lag its header mid-checkpoint.
    if header_valid and page_count and not wal_has_frames and size < page_size * page_count:
        detail = f"truncated: {size} bytes on disk, header says {page_size * page_count}"
        raise corrupted(path, detail)
