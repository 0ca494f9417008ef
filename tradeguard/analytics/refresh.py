"""Incremental refresh of the analytics database from the state store, through Arrow.

Append-only journal tables are copied by rowid watermark (`id > last_id`), order intents by
`updated_at` watermark (their status changes), positions in full. Every refresh reads one
SQLite snapshot (the state store is opened read-only) and writes one DuckDB transaction that
also moves the watermarks, so a refresh either lands whole or not at all and a row is never
copied twice.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import adbc_driver_sqlite.dbapi as adbc
import duckdb
import pyarrow as pa  # type: ignore[import-untyped]

from engine.errors import StateError
from tradeguard.analytics.db import analytics_path, connect
from tradeguard.analytics.ledger import Holding, book_chunk
from tradeguard.analytics.schema import (
    INTENTS_TABLE,
    POSITIONS_TABLE,
    TRADES_TABLE,
    TableSpec,
    is_append_table,
    table_spec,
)
from tradeguard.analytics.views import create_views
from tradeguard.store import files, union
from tradeguard.store.archive import history_path

log = logging.getLogger(__name__)

CHUNK_ROWS = 200_000
_META = (
    "CREATE TABLE IF NOT EXISTS bots (bot VARCHAR PRIMARY KEY, store_file VARCHAR, "
    "starting_cash DOUBLE, refreshed_at TIMESTAMPTZ)",
    "CREATE TABLE IF NOT EXISTS watermarks (bot VARCHAR, table_name VARCHAR, "
    "last_id BIGINT, last_text VARCHAR, PRIMARY KEY (bot, table_name))",
    "CREATE TABLE IF NOT EXISTS ledger_positions (bot VARCHAR, symbol VARCHAR, "
    "quantity DOUBLE, average_price DOUBLE, PRIMARY KEY (bot, symbol))",
)


@dataclass(frozen=True)
class RefreshResult:
    """What one refresh copied: new rows per table and the intents whose status changed."""

    bot: str
    db_file: Path
    new_rows: dict[str, int] = field(default_factory=dict)
    intents_upserted: int = 0
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        """Return the number of journal rows copied (appends plus upserted intents)."""
        return sum(self.new_rows.values()) + self.intents_upserted


def store_uri(store_file: Path) -> str:
    """Return the read-only SQLite URI of a state store (the store is never written)."""
    return f"{store_file.resolve().as_uri()}?mode=ro"


def default_bot(store_file: Path) -> str:
    """Return the bot label of a store: the name of its state directory."""
    return store_file.resolve().parent.name


def refresh(
    store_file: Path,
    db_file: Path | None = None,
    bot: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> RefreshResult:
    """Copy every journal row committed since the last refresh into the analytics database."""
    if not store_file.is_file():
        message = f"no state store at {store_file}: run a session first or pass --state-dir"
        raise StateError(message)
    db_file = db_file or analytics_path(store_file)
    bot = bot or default_bot(store_file)
    started = time.perf_counter()
    try:
        sqlite = adbc.connect(store_uri(store_file))
    except adbc.Error as e:
        message = f"cannot open state store {store_file} read-only: {e}"
        raise StateError(message) from e
    duck = connect(db_file)
    try:
        journal = _Journal(sqlite, chunk_rows)
        journal.attach_history(history_path(store_file))
        result = _refresh(journal, duck, store_file, db_file, bot)
    except (adbc.Error, duckdb.Error) as e:
        message = f"analytics refresh of {store_file} into {db_file} failed: {e}"
        raise StateError(message) from e
    finally:
        duck.close()
        sqlite.close()
    result = RefreshResult(
        bot, db_file, result.new_rows, result.intents_upserted, time.perf_counter() - started
    )
    log.info(
        "analytics_refreshed bot=%s rows=%d intents=%d seconds=%.3f",
        bot, sum(result.new_rows.values()), result.intents_upserted, result.seconds,
    )
    return result


class _Journal:
    """Read side: one adbc connection, one snapshot, results as Arrow tables."""

    def __init__(self, conn: Any, chunk_rows: int) -> None:
        self.conn = conn
        self.chunk_rows = chunk_rows
        self.cursor = conn.cursor()
        # adbc infers a column's type from the first batch: one batch per query keeps a NULL-led
        # column (observed, limit_price) from clashing with the values that follow.
        self.cursor.adbc_statement.set_options(
            **{"adbc.sqlite.query.batch_rows": str(max(chunk_rows, 1_000_000))}
        )

    def attach_history(self, history: Path) -> None:
        """See state.db and history.db as one journal (TEMP VIEWs named like the tables)."""
        if not history.exists():
            epoch = self.rows(union.EPOCH_SQL)
            union.refuse_lost_history(epoch[0] if epoch else None, history)
            return
        # A directory, an empty or a truncated file: named as the journal readers name it,
        # not as the SQLite error the attach below would give.
        files.check_header(history, files.HISTORY_LABEL)
        self.cursor.execute(union.attach_statement(history))
        union.check_binding(self.rows(union.BINDING_SQL)[0], history)
        for statement in union.view_statements(self.main_columns):
            self.cursor.execute(statement)

    def main_columns(self, table: str) -> list[str]:
        """Return the columns of a table of the hot file (not of a view shadowing it)."""
        info = self.rows(f"SELECT name FROM pragma_table_info('{table}', 'main')")
        return [str(r[0]) for r in info]

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        self.cursor.execute(sql, params)
        return list(self.cursor.fetchall())

    def arrow(self, sql: str, params: tuple[Any, ...] = ()) -> pa.Table:
        self.cursor.execute(sql, params)
        table: pa.Table = self.cursor.fetch_arrow_table()
        return table

    def specs(self) -> dict[str, tuple[TableSpec, bool]]:
        """Return every mirrored table with whether it is append-only (by rowid)."""
        names = [r[0] for r in self.rows("SELECT name FROM sqlite_master WHERE type = 'table'")]
        out: dict[str, tuple[TableSpec, bool]] = {}
        for name in names:
            info = self.rows(f"SELECT name, type, pk FROM pragma_table_info('{name}', 'main')")
            columns = [(str(r[0]), str(r[1])) for r in info]
            pk_cols = [str(r[0]) for r in info if r[2]]
            pk = pk_cols[0] if len(pk_cols) == 1 else None
            if is_append_table(name, columns, pk):
                out[name] = (table_spec(name, columns), True)
            elif name in (INTENTS_TABLE, POSITIONS_TABLE):
                out[name] = (table_spec(name, columns), False)
        return out

    def starting_cash(self) -> float | None:
        rows = self.rows("SELECT value FROM key_state WHERE key = 'portfolio'")
        if not rows:
            return None
        value = json.loads(rows[0][0]).get("starting_cash")
        return float(value) if isinstance(value, int | float) else None


def _refresh(
    journal: _Journal, duck: duckdb.DuckDBPyConnection, store_file: Path, db_file: Path,
    bot: str,
) -> RefreshResult:
    journal.rows("SELECT 1")  # the first statement opens the read snapshot
    specs = journal.specs()
    duck.execute("BEGIN TRANSACTION")
    try:
        for statement in _META:
            duck.execute(statement)
        for spec, _ in specs.values():
            _ensure_table(duck, spec)
        if db_file.resolve() == analytics_path(store_file).resolve():
            _drop_other_bots(duck, bot)
        holdings = _load_holdings(duck, bot)
        new_rows = {
            name: _copy_appended(journal, duck, spec, bot, holdings)
            for name, (spec, append) in specs.items()
            if append
        }
        _save_holdings(duck, bot, holdings)
        upserted = 0
        if INTENTS_TABLE in specs:
            upserted = _upsert_intents(journal, duck, specs[INTENTS_TABLE][0], bot)
        if POSITIONS_TABLE in specs:
            _replace_all(journal, duck, specs[POSITIONS_TABLE][0], bot)
        duck.execute(
            "INSERT OR REPLACE INTO bots VALUES (?, ?, ?, now())",
            [bot, str(store_file), journal.starting_cash()],
        )
        create_views(duck)
        duck.execute("COMMIT")
    except BaseException:
        duck.execute("ROLLBACK")
        raise
    return RefreshResult(bot, db_file, new_rows, upserted)


def _drop_other_bots(duck: duckdb.DuckDBPyConnection, bot: str) -> None:
    """Drop the rows of every other bot from the analytics file inside this state directory.

    They are this journal's own rows under the directory's former name (the directory was
    renamed, or copied with its analytics file): kept, every fill and P&L counted twice.
    """
    others = [r[0] for r in duck.execute("SELECT bot FROM bots WHERE bot <> ?", [bot]).fetchall()]
    if not others:
        return
    tables = duck.execute(
        "SELECT c.table_name FROM information_schema.columns c JOIN information_schema.tables t "
        "ON t.table_name = c.table_name AND t.table_schema = c.table_schema "
        "WHERE c.column_name = 'bot' AND t.table_type = 'BASE TABLE' AND t.table_schema = 'main'"
    ).fetchall()
    for (table,) in tables:
        duck.execute(f'DELETE FROM "{table}" WHERE bot <> ?', [bot])
    log.warning("analytics_stale_bots_dropped bot=%s dropped=%s", bot, ",".join(map(str, others)))


def _ensure_table(duck: duckdb.DuckDBPyConnection, spec: TableSpec) -> None:
    duck.execute(spec.create_sql())
    have = {
        r[0]
        for r in duck.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?",
            [spec.name],
        ).fetchall()
    }
    for column in (*spec.columns, *spec.extra):
        if column.name not in have:  # the journal gained a column in a migration
            duck.execute(f'ALTER TABLE "{spec.name}" ADD COLUMN "{column.name}" {column.duck_type}')


def _watermark(duck: duckdb.DuckDBPyConnection, bot: str, table: str) -> tuple[int, str]:
    rows = duck.execute(
        "SELECT last_id, last_text FROM watermarks WHERE bot = ? AND table_name = ?",
        [bot, table],
    ).fetchall()
    return (int(rows[0][0] or 0), str(rows[0][1] or "")) if rows else (0, "")


def _set_watermark(
    duck: duckdb.DuckDBPyConnection, bot: str, table: str, last_id: int, last_text: str
) -> None:
    duck.execute(
        "INSERT OR REPLACE INTO watermarks VALUES (?, ?, ?, ?)", [bot, table, last_id, last_text]
    )


def _insert(duck: duckdb.DuckDBPyConnection, spec: TableSpec, chunk: pa.Table, bot: str) -> None:
    duck.register("journal_chunk", chunk)
    try:
        duck.execute(
            f'INSERT INTO "{spec.name}" BY NAME {spec.select_sql("journal_chunk")}',
            {"bot": bot},
        )
    finally:
        duck.unregister("journal_chunk")


def _copy_appended(
    journal: _Journal, duck: duckdb.DuckDBPyConnection, spec: TableSpec, bot: str,
    holdings: dict[str, Holding],
) -> int:
    last_id, _ = _watermark(duck, bot, spec.name)
    columns = ", ".join(f'"{c}"' for c in spec.column_names)
    copied = 0
    while True:
        chunk = journal.arrow(
            f'SELECT {columns} FROM "{spec.name}" WHERE id > ? ORDER BY id LIMIT ?',
            (last_id, journal.chunk_rows),
        )
        if chunk.num_rows == 0:
            break
        if spec.name == TRADES_TABLE:
            chunk = book_chunk(chunk, holdings)
        _insert(duck, spec, chunk, bot)
        last_id = int(chunk.column("id")[-1].as_py())
        copied += chunk.num_rows
    _set_watermark(duck, bot, spec.name, last_id, "")
    return copied


def _upsert_intents(
    journal: _Journal, duck: duckdb.DuckDBPyConnection, spec: TableSpec, bot: str
) -> int:
    _, since = _watermark(duck, bot, spec.name)
    columns = ", ".join(f'"{c}"' for c in spec.column_names)
    # updated_at is fixed-width UTC text, so text order is time order; >= re-reads the last
    # instant, whose rows may have been written after the previous refresh.
    chunk = journal.arrow(
        f"SELECT {columns} FROM {spec.name} WHERE updated_at >= ? ORDER BY updated_at", (since,)
    )
    if chunk.num_rows:
        duck.register("changed_intents", chunk)
        try:
            duck.execute(
                f"DELETE FROM {spec.name} WHERE bot = $bot AND client_order_id IN "
                "(SELECT client_order_id FROM changed_intents)",
                {"bot": bot},
            )
        finally:
            duck.unregister("changed_intents")
        _insert(duck, spec, chunk, bot)
        since = max(since, str(chunk.column("updated_at")[-1].as_py()))
    _set_watermark(duck, bot, spec.name, 0, since)
    expected = journal.rows(f"SELECT COUNT(*) FROM {spec.name}")[0][0]
    have = duck.execute(
        f"SELECT COUNT(*) FROM {spec.name} WHERE bot = ?", [bot]
    ).fetchall()[0][0]
    if have != expected:  # a clock that went backwards: rebuild rather than miss a status
        log.warning("analytics_intents_rebuilt bot=%s have=%d journal=%d", bot, have, expected)
        _replace_all(journal, duck, spec, bot)
    return int(chunk.num_rows)


def _replace_all(
    journal: _Journal, duck: duckdb.DuckDBPyConnection, spec: TableSpec, bot: str
) -> None:
    columns = ", ".join(f'"{c}"' for c in spec.column_names)
    duck.execute(f'DELETE FROM "{spec.name}" WHERE bot = ?', [bot])
    chunk = journal.arrow(f'SELECT {columns} FROM "{spec.name}"')
    if chunk.num_rows:
        _insert(duck, spec, chunk, bot)


def _load_holdings(duck: duckdb.DuckDBPyConnection, bot: str) -> dict[str, Holding]:
    rows = duck.execute(
        "SELECT symbol, quantity, average_price FROM ledger_positions WHERE bot = ?", [bot]
    ).fetchall()
    return {str(s): Holding(float(q), float(a)) for s, q, a in rows}


def _save_holdings(
    duck: duckdb.DuckDBPyConnection, bot: str, holdings: dict[str, Holding]
) -> None:
    duck.execute("DELETE FROM ledger_positions WHERE bot = ?", [bot])
    for symbol, held in sorted(holdings.items()):
        duck.execute(
            "INSERT INTO ledger_positions VALUES (?, ?, ?, ?)",
            [bot, symbol, held.quantity, held.average_price],
        )
