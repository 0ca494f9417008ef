"""The `analytics` use case: bring the DuckDB file up to date, then answer one question."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped]

from engine.errors import ConfigurationError
from tradeguard.analytics.combine import combine, combined_path
from tradeguard.analytics.queries import overview, run_query
from tradeguard.analytics.refresh import refresh


def answer(
    store_files: Sequence[Path],
    query: str | None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> pa.Table:
    """Refresh one store (or combine several), then run a named query or the overview."""
    if not store_files:
        message = "analytics needs at least one state store"
        raise ConfigurationError(message)
    if len(store_files) == 1:
        db_file = refresh(store_files[0]).db_file
    else:
        db_file = combine(store_files, combined_path(store_files)).db_file
    if query is None:
        return overview(db_file, since, until)
    return run_query(db_file, query, since, until)
