"""Durable state for the shell: SQLite EngineStore, state-dir lock, backups and cleanup."""

from tradeguard.store.files import STORE_FILENAME, store_path
from tradeguard.store.hygiene import (
    CleanResult,
    backup,
    clean_state,
    latest_good_backup,
    restore,
)
from tradeguard.store.lock import LockOwner, StateDirLock, is_locked_by_live_process
from tradeguard.store.serialize import from_json, to_json
from tradeguard.store.sqlite_store import SqliteStore

__all__ = [
    "STORE_FILENAME",
    "CleanResult",
    "LockOwner",
    "SqliteStore",
    "StateDirLock",
    "backup",
    "clean_state",
    "from_json",
    "is_locked_by_live_process",
    "latest_good_backup",
    "restore",
    "store_path",
    "to_json",
]
