"""SQLite toolkit shared by the state store and the paper book.

One way to create a database file (0600, built under a temporary name and linked into place,
so an empty file is never a fresh database), to connect and set the durability PRAGMAs, to
move a schema forward one version per transaction, and to run a write transaction. Every
SQLite failure becomes a StateError naming the file; damaged bytes a StateCorruptedError.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Literal, Protocol

from engine.errors import StateError
from tradeguard.store import files

log = logging.getLogger(__name__)

Durability = Literal["kill9", "power"]
SYNCHRONOUS: dict[str, str] = {"kill9": "NORMAL", "power": "FULL"}
DEFAULT_BUSY_TIMEOUT_MS = 5000
Migration = Callable[[sqlite3.Connection], None]
# Text that no longer decodes is damage too (see files.database_error).
DB_ERRORS = (sqlite3.DatabaseError, UnicodeDecodeError)


class VersionSlot(Protocol):
    """Where a database keeps its schema version."""

    def read(self, conn: sqlite3.Connection) -> int:
        """Return the stored version; 0 for an empty database."""
        ...

    def write(self, conn: sqlite3.Connection, version: int) -> None:
        """Store version (inside the migration's transaction)."""
        ...


class UserVersion:
    """Schema version in the file header (`PRAGMA user_version`)."""

    def read(self, conn: sqlite3.Connection) -> int:
        """Return PRAGMA user_version."""
        return int(conn.execute("PRAGMA user_version").fetchone()[0])

    def write(self, conn: sqlite3.Connection, version: int) -> None:
        """Set PRAGMA user_version (transactional in SQLite)."""
        conn.execute(f"PRAGMA user_version = {int(version)}")


def create_database(
    path: Path, initialise: Callable[[sqlite3.Connection], object], what: str
) -> None:
    """Build a new WAL database under a temporary name, initialise it, link it into place.

    Never replaces a file another process created meanwhile; the directory entry is fsynced.
    """
    tmp = path.with_name(f"{path.name}.{os.getpid()}.init.tmp")
    for stale in (tmp, *(Path(f"{tmp}{s}") for s in files.SIDECARS)):
        stale.unlink(missing_ok=True)
    files.create_private_file(tmp)
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            initialise(conn)
            # close() would checkpoint too, but swallows a failure (a full disk): the file
            # linked into place would then be truncated, and refused as damaged ever after.
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if busy:
                message = "the new file's checkpoint was blocked"
                raise sqlite3.OperationalError(message)
        finally:
            conn.close()
        files.fsync(tmp)
        files.chmod_private(tmp)
        try:
            os.link(tmp, path)
        except FileExistsError:
            log.info("database_created_concurrently path=%s", path)
        except OSError:  # filesystems without hard links
            if not path.exists():
                tmp.rename(path)
        files.fsync(path.parent)
    except DB_ERRORS as e:
        raise files.database_error(path, "creating the file", e, what) from e
    finally:
        for leftover in (tmp, *(Path(f"{tmp}{s}") for s in files.SIDECARS)):
            leftover.unlink(missing_ok=True)
    log.info("database_created path=%s kind=%s", path, what.replace(" ", "_"))


def connect(
    path: Path, what: str, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS
) -> sqlite3.Connection:
    """Open path in autocommit mode (transactions are explicit) with a busy timeout."""
    try:
        conn = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, cached_statements=256
        )
        conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    except DB_ERRORS as e:
        raise files.database_error(path, "opening", e, what) from e
    return conn


def set_pragmas(conn: sqlite3.Connection, path: Path, durability: Durability, what: str) -> None:
    """Switch to WAL (refusing a file that cannot), set synchronous and foreign keys."""
    if durability not in SYNCHRONOUS:
        message = f"durability must be 'kill9' or 'power', got {durability!r}"
        raise ValueError(message)
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        message = f"{what} {path}: cannot enable WAL (journal_mode={mode})"
        raise StateError(message)
    conn.execute(f"PRAGMA synchronous={SYNCHRONOUS[durability]}")
    conn.execute("PRAGMA foreign_keys=ON")


def migrate(
    conn: sqlite3.Connection,
    migrations: Sequence[Migration],
    slot: VersionSlot,
    where: str,
    what: str,
) -> int:
    """Apply pending migrations in one transaction each; return the resulting version.

    Migration i (0-based) moves a database from version i to i + 1; the version is re-read
    under the write lock, so two processes opening a new file migrate it once.
    """
    target = len(migrations)
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = _known_version(slot.read(conn), target, where, what)
            if version == target:
                conn.execute("COMMIT")
                break
            migrations[version](conn)
            slot.write(conn, version + 1)
            conn.execute("COMMIT")
        except BaseException:
            # SQLite may have rolled back already (a full disk): keep the error that did it.
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
        log.info("schema_migrated path=%s from=%d to=%d", where, version, version + 1)
    return version


def _known_version(version: int, target: int, where: str, what: str) -> int:
    """Return version, refusing one newer than this code knows."""
    if version > target:
        message = (
            f"{what} {where} has schema version {version}, newer than this "
            f"tradeguard ({target}): upgrade tradeguard or restore a backup made by it"
        )
        raise StateError(message)
    return version


def run_script(conn: sqlite3.Connection, script: str) -> None:
    """Execute ;-separated DDL statements inside the caller's transaction."""
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection, path: Path, what: str) -> Iterator[sqlite3.Connection]:
    """Run the block in BEGIN IMMEDIATE ... COMMIT; roll back and raise StateError on failure.

    A constraint violation (duplicate key, missing reference) is reported as a refused
    record; damaged pages as StateCorruptedError; anything else SQLite raises as StateError.
    """
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    except sqlite3.IntegrityError as e:
        message = f"{what} {path}: refused duplicate or invalid record ({e})"
        raise StateError(message) from e
    except DB_ERRORS as e:
        raise files.database_error(path, "writing", e, what) from e


@contextlib.contextmanager
def translated(path: Path, action: str, what: str) -> Iterator[None]:
    """Turn SQLite errors (and undecodable text) raised in the block into StateError."""
    try:
        yield
    except DB_ERRORS as e:
        raise files.database_error(path, action, e, what) from e
