"""How journal tables map onto analytics tables: columns and DuckDB types, read from SQLite."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Journal tables that are not mirrored: mutable queues and JSON snapshots (see docs/analytics.md).
SKIPPED_TABLES = frozenset({"store_meta", "key_state", "last_signals", "commands"})
INTENTS_TABLE = "order_intents"
POSITIONS_TABLE = "positions"
TRADES_TABLE = "trades"
# Columns added to the trades table by the average-cost ledger (engine/portfolio.py rules).
LEDGER_COLUMNS = (
    "signed_quantity",
    "closed_quantity",
    "gross_pnl",
    "realized_pnl",
    "position_after",
    "average_price_after",
)
_TIME_COLUMNS = frozenset(
    {"at", "ts", "created_at", "updated_at", "requested_at", "done_at", "bar_time"}
)
_DATE_COLUMNS = frozenset({"trading_day"})
_DECLARED = {"INTEGER": "BIGINT", "REAL": "DOUBLE", "TEXT": "VARCHAR"}


@dataclass(frozen=True)
class Column:
    """One mirrored column: its name and its DuckDB type."""

    name: str
    duck_type: str

    def cast_sql(self) -> str:
        """Return the SELECT expression that casts the Arrow column to the DuckDB type."""
        quoted = f'"{self.name}"'
        if self.duck_type in ("TIMESTAMPTZ", "DATE"):
            # A chunk whose values are all NULL arrives typed int64: go through text.
            return f"CAST(CAST({quoted} AS VARCHAR) AS {self.duck_type}) AS {quoted}"
        return f"CAST({quoted} AS {self.duck_type}) AS {quoted}"


@dataclass(frozen=True)
class TableSpec:
    """One journal table as the analytics database mirrors it."""

    name: str
    columns: tuple[Column, ...]
    extra: tuple[Column, ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        """Return the journal column names, in journal order."""
        return tuple(c.name for c in self.columns)

    def create_sql(self) -> str:
        """Return CREATE TABLE IF NOT EXISTS with the leading bot column."""
        cols = ["bot VARCHAR NOT NULL"]
        cols += [f'"{c.name}" {c.duck_type}' for c in (*self.columns, *self.extra)]
        return f'CREATE TABLE IF NOT EXISTS "{self.name}" ({", ".join(cols)})'

    def select_sql(self, arrow_name: str) -> str:
        """Return the SELECT that turns an Arrow chunk into rows of this table."""
        exprs = ["$bot AS bot"] + [c.cast_sql() for c in (*self.columns, *self.extra)]
        return f"SELECT {', '.join(exprs)} FROM {arrow_name}"


def duck_type(name: str, declared: str) -> str:
    """Return the DuckDB type of a journal column from its name and declared SQLite type."""
    if name in _TIME_COLUMNS:
        return "TIMESTAMPTZ"
    if name in _DATE_COLUMNS:
        return "DATE"
    return _DECLARED.get(declared.upper(), "VARCHAR")


def table_spec(name: str, info: Sequence[tuple[str, str]]) -> TableSpec:
    """Build the spec of one journal table from (column, declared type) pairs."""
    columns = tuple(Column(col, duck_type(col, declared)) for col, declared in info)
    extra = tuple(Column(c, "DOUBLE") for c in LEDGER_COLUMNS) if name == TRADES_TABLE else ()
    return TableSpec(name, columns, extra)


def is_append_table(name: str, info: Sequence[tuple[str, str]], pk: str | None) -> bool:
    """Return True for append-only journal tables keyed by an INTEGER PRIMARY KEY id (rowid)."""
    if name in SKIPPED_TABLES or name in (INTENTS_TABLE, POSITIONS_TABLE):
        return False
    return pk == "id" and any(col == "id" for col, _ in info)
