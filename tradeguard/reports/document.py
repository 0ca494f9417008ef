"""A report as data: sections of paragraphs, tables and charts, rendered to Markdown and HTML."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


def text(value: Any) -> str:
    """Render one value for a report cell: UTC times to the second, 6 significant digits."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


@dataclass(frozen=True)
class Table:
    """A titled table of text cells."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""

    @classmethod
    def of(
        cls, title: str, rows: Iterable[Mapping[str, Any]], columns: Sequence[str] = (),
        note: str = "",
    ) -> Table:
        """Build a table from dict rows (columns default to the first row's keys)."""
        rows = list(rows)
        cols = tuple(columns) or (tuple(rows[0]) if rows else ())
        body = tuple(tuple(text(r.get(c)) for c in cols) for r in rows)
        return cls(title, cols, body, note)


@dataclass(frozen=True)
class Chart:
    """A PNG chart with a file name (inside the report directory) and a caption."""

    name: str
    caption: str
    png: bytes


@dataclass(frozen=True)
class Section:
    """A heading with paragraphs, tables and charts in that order."""

    heading: str
    paragraphs: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()
    charts: tuple[Chart, ...] = ()


@dataclass(frozen=True)
class Report:
    """A whole report: kind (incident, session, validation), title, key facts and sections."""

    kind: str
    slug: str
    title: str
    facts: tuple[tuple[str, str], ...]
    sections: tuple[Section, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def charts(self) -> list[Chart]:
        """Return every chart of the report in order."""
        return [c for s in self.sections for c in s.charts]
