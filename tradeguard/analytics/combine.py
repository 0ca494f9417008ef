"""One analytics database over several state directories (several bots), rebuilt on demand."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from engine.errors import StateError
from tradeguard.analytics.db import analytics_path, connect
from tradeguard.analytics.refresh import RefreshResult, default_bot, refresh
from tradeguard.analytics.views import create_views

log = logging.getLogger(__name__)

# Bookkeeping of the per-directory refresh; a combined file is rebuilt, never refreshed.
_NOT_COPIED = frozenset({"watermarks", "ledger_positions"})


@dataclass(frozen=True)
class CombineResult:
    """The combined file, the label of each bot and what each per-directory refresh copied."""

    db_file: Path
    bots: dict[str, Path]
    refreshed: tuple[RefreshResult, ...]


def unique_labels(store_files: Sequence[Path]) -> list[str]:
    """Label each store by its state directory's name, suffixed -2, -3 ... when names repeat."""
    labels: list[str] = []
    for store in store_files:
        base = default_bot(store)
        label, n = base, 1
        while label in labels:
            n += 1
            label = f"{base}-{n}"
        labels.append(label)
    return labels


def combine(store_files: Sequence[Path], db_file: Path) -> CombineResult:
    """Refresh each store's own analytics file, then rebuild db_file as their union (bot column)."""
    if not store_files:
        message = "combine needs at least one state directory"
        raise StateError(message)
    refreshed = tuple(refresh(store) for store in store_files)
    labels = unique_labels(store_files)
    conn = connect(db_file)
    try:
        for i, result in enumerate(refreshed):
            conn.execute(f"ATTACH {_literal(str(result.db_file))} AS src{i} (READ_ONLY)")
        _build(conn, labels)
    except duckdb.Error as e:
        message = f"cannot build the combined analytics file {db_file}: {e}"
        raise StateError(message) from e
    finally:
        conn.close()
    bots = dict(zip(labels, store_files, strict=True))
    log.info("analytics_combined file=%s bots=%s", db_file, ",".join(labels))
    return CombineResult(db_file, bots, refreshed)


def _literal(text: str) -> str:
    """Return text as a DuckDB string literal: a directory named "bob's bot" broke the SQL."""
    return "'" + text.replace("'", "''") + "'"


def _build(conn: duckdb.DuckDBPyConnection, labels: list[str]) -> None:
    tables: dict[str, list[int]] = {}
    for i in range(len(labels)):
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_catalog = ? AND table_type = 'BASE TABLE'",
            [f"src{i}"],
        ).fetchall()
        for (name,) in rows:
            if name not in _NOT_COPIED:
                tables.setdefault(str(name), []).append(i)
    conn.execute("BEGIN TRANSACTION")
    for name, sources in sorted(tables.items()):
        union = " UNION ALL BY NAME ".join(
            f"SELECT * REPLACE ({_literal(labels[i])} AS bot) FROM src{i}.main.\"{name}\""
            for i in sources
        )
        conn.execute(f'CREATE OR REPLACE TABLE "{name}" AS {union}')
    create_views(conn)
    conn.execute("COMMIT")


def combined_path(store_files: Sequence[Path]) -> Path:
    """Return the default combined file: in the parent of the first state directory."""
    return analytics_path(store_files[0]).parent.parent / "analytics-combined.duckdb"
