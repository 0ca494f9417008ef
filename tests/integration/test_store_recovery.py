"""Damaged stores are refused untouched; a store killed with SIGKILL reopens intact."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.errors import StateCorruptedError
from engine.model import OrderIntent, OrderRequest, OrderStatus, Side
from engine.ports import Batch
from tradeguard.store.sqlite_store import SqliteStore

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 1, 4, 16, 52, tzinfo=UTC)


def make_store(directory: Path, intents: int = 200) -> Path:
    store = SqliteStore(directory)
    for i in range(intents):
        request = OrderRequest(f"c{i:05d}", "BTC", Side.BUY, 1.0, 100.0, T0)
        store.commit(
            Batch(
                intents=[OrderIntent(request, OrderStatus.FILLED, T0)],
                state={"counters": {"n": i}},
            )
        )
    store.close()
    return store.path


def assert_refused_untouched(path: Path, **kwargs: object) -> StateCorruptedError:
    before = path.read_bytes()
    with pytest.raises(StateCorruptedError) as info:
        SqliteStore(path, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert str(path) in message
    assert "tradeguard state restore" in message
    assert path.read_bytes() == before
    return info.value


def test_overwritten_magic_header_is_refused_and_file_kept(tmp_path: Path) -> None:
    path = make_store(tmp_path / "s")
    with path.open("r+b") as handle:
        handle.write(b"garbage garbage!")

    error = assert_refused_untouched(path)

    assert "SQLite header" in str(error)


def test_corrupted_header_field_is_refused_with_the_sqlite_error_chained(tmp_path: Path) -> None:
    path = make_store(tmp_path / "s")
    with path.open("r+b") as handle:
        handle.seek(16)
        handle.write(b"\x00\x03")  # page size 3: not a power of two

    error = assert_refused_untouched(path)

    assert isinstance(error.__cause__, sqlite3.DatabaseError)


def test_truncated_store_is_refused_and_file_kept(tmp_path: Path) -> None:
    path = make_store(tmp_path / "s")
    size = path.stat().st_size
    os.truncate(path, size // 2)

    error = assert_refused_untouched(path)

    assert "truncated" in str(error)


def test_store_truncated_to_zero_bytes_is_refused_not_recreated_empty(tmp_path: Path) -> None:
    path = make_store(tmp_path / "s")
    os.truncate(path, 0)

    assert_refused_untouched(path)


def test_garbage_pages_are_found_by_the_full_quick_check(tmp_path: Path) -> None:
    path = make_store(tmp_path / "s")
    page = 4096
    with path.open("r+b") as handle:
        handle.seek(page)
        handle.write(bytes([0xA5]) * (path.stat().st_size - page))

    assert_refused_untouched(path, verify="full")


CHILD = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime, timedelta
    from engine.model import OrderIntent, OrderRequest, OrderStatus, Side
    from engine.ports import Batch
    from tradeguard.store.sqlite_store import SqliteStore

    store = SqliteStore(sys.argv[1], sys.argv[2])
    t0 = datetime(2026, 1, 4, tzinfo=UTC)
    i = 0
    while True:
        at = t0 + timedelta(seconds=i)
        request = OrderRequest(f"c{i:07d}", "BTC", Side.BUY, 1.0, 100.0, at)
        store.commit(
            Batch(
                intents=[OrderIntent(request, OrderStatus.PENDING_SUBMIT, at)],
                state={"counters": {"n": i}, "pad": {"x": "y" * (i % 500)}},
            )
        )
        print(i, flush=True)
        i += 1
    """
)


@pytest.mark.parametrize("durability", ["kill9", "power"])
def test_sigkill_mid_stream_keeps_every_acknowledged_commit(
    tmp_path: Path, durability: str
) -> None:
    directory = tmp_path / "state"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(directory), durability],
        stdout=subprocess.PIPE,
        env=env,
        cwd=REPO,
        text=True,
    )
    assert child.stdout is not None
    acknowledged = -1
    try:
        for line in child.stdout:
            acknowledged = int(line)
            if acknowledged >= 300:
                os.kill(child.pid, signal.SIGKILL)
                break
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    assert acknowledged >= 300

    store = SqliteStore(directory, durability)  # type: ignore[arg-type]
    recovered = store.load()
    verdict = store.integrity_check()
    store.close()

    assert store.verified == "full"  # the child never closed: unclean shutdown detected
    assert verdict == "ok"
    assert recovered.state["counters"]["n"] >= acknowledged
    open_ids = {i.client_order_id for i in recovered.open_intents}
    assert f"c{acknowledged:07d}" in open_ids
    assert len(open_ids) == recovered.state["counters"]["n"] + 1
