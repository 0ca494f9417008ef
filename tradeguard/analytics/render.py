"""Render Arrow query results as a text table, CSV or JSON for the console."""

from __future__ import annotations

import io
import json
from datetime import date, datetime
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.csv as pacsv  # type: ignore[import-untyped]

FORMATS = ("table", "csv", "json")


def cell_text(value: Any) -> str:
    """Render one value compactly: ISO times, 6 significant digits, empty for NULL."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def as_text_table(table: pa.Table) -> str:
    """Render a table as aligned text columns (numbers right-aligned)."""
    names = table.column_names
    if not names:
        return "(no columns)\n"
    rows = [[cell_text(v) for v in row.values()] for row in table.to_pylist()]
    numeric = [pa.types.is_integer(t) or pa.types.is_floating(t) for t in table.schema.types]
    widths = [max([len(n)] + [len(r[i]) for r in rows]) for i, n in enumerate(names)]

    def line(values: list[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    out = [line(names), line(["-" * w for w in widths])] + [line(r) for r in rows]
    if not rows:
        out.append("(no rows)")
    return "\n".join(out) + "\n"


def as_key_values(table: pa.Table) -> str:
    """Render each row as `key: value` lines (the one-screen overview)."""
    blocks = []
    for row in table.to_pylist():
        width = max(len(k) for k in row)
        blocks.append("\n".join(f"{k.ljust(width)}  {cell_text(v)}" for k, v in row.items()))
    return "\n\n".join(blocks) + "\n" if blocks else "(no data: run a session first)\n"


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def render(table: pa.Table, fmt: str) -> str:
    """Render a query result in one of FORMATS."""
    if fmt == "csv":
        buffer = io.BytesIO()
        pacsv.write_csv(table, buffer)
        return buffer.getvalue().decode()
    if fmt == "json":
        return json.dumps(table.to_pylist(), default=_json_default, indent=1) + "\n"
    return as_text_table(table)
