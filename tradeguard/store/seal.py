"""The clean-close seal: proof that nothing touched the store file since a clean close.

A session store closed cleanly (WAL checkpointed and gone) writes `<store>.seal` beside it
with the file's identity: inode, size, and modification and change times in nanoseconds. Any
later write through the filesystem (SQLite's own, another tool's, a byte overwrite that
restores the mtime) moves the change time, which user space cannot set back; a copy or a
restore is a new inode. When the seal still matches at the next open for trading, the file
holds exactly the pages the last session left, and the whole-file `integrity_check` is skipped;
otherwise (after a crash, a copy, a restore, any outside write) it runs. See docs/state.md.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

SUFFIX = ".seal"


def seal_path(store: Path) -> Path:
    """Return where the seal of a store file lives."""
    return store.with_name(store.name + SUFFIX)


def _identity(store: Path) -> dict[str, int] | None:
    """Return the file identity a seal records, or None while WAL frames may be pending.

    An empty -wal holds no frames (a reader or a TRUNCATE checkpoint leaves one behind), so
    the database file alone is the content.
    """
    try:
        if Path(f"{store}-wal").stat().st_size > 0:
            return None
    except FileNotFoundError:
        pass
    try:
        st = store.stat()
    except FileNotFoundError:
        return None
    return {
        "ino": st.st_ino,
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "ctime_ns": st.st_ctime_ns,
    }


def write(store: Path) -> bool:
    """Seal a cleanly closed store; return False when it cannot be sealed (WAL still there)."""
    identity = _identity(store)
    if identity is None:
        return False
    target = seal_path(store)
    temporary = target.with_name(target.name + ".tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            json.dump(identity, handle)
        temporary.replace(target)
    except OSError as e:
        log.warning("state_store_seal_failed store=%s error=%s", store, e)
        with contextlib.suppress(OSError):
            temporary.unlink()
        return False
    return True


def matches(store: Path) -> bool:
    """Return True when the store file is untouched since its seal was written."""
    try:
        recorded = json.loads(seal_path(store).read_text(encoding="ascii"))
    except (OSError, ValueError):
        return False
    return isinstance(recorded, dict) and recorded == _identity(store)


def remove(store: Path) -> None:
    """Drop the seal: the store is open for writing and will change."""
    with contextlib.suppress(FileNotFoundError):
        seal_path(store).unlink()
