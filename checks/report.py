"""The verdict of a check run: one outcome per expectation, rendered as text, Markdown or JSON.

This module never imports Great Expectations: it reads GX results by attribute, so the CLI and
the Prefect tasks can render and pass reports around without the import cost.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import DataError, StateError

Row = Mapping[str, str]
Sampler = Callable[[str, Any], tuple[Row, ...]]
SAMPLE_ROWS = 5


class DataChecksFailedError(DataError):
    """Market data failed its pre-flight checks: fix or exclude the data, then run again."""

    def __init__(self, message: str, report: CheckReport | None = None) -> None:
        super().__init__(message)
        self.report = report


class JournalAuditFailedError(StateError):
    """The journal or breaker events failed their audit: investigate before the next session."""

    def __init__(self, message: str, report: CheckReport | None = None) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation judged on one batch: its stable name, verdict and failing sample."""

    suite: str
    batch: str
    name: str
    expectation_type: str
    success: bool
    unexpected_count: int | None = None
    element_count: int | None = None
    detail: str = ""
    sample: tuple[Row, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the outcome as plain JSON-ready data."""
        return {
            "suite": self.suite,
            "batch": self.batch,
            "expectation": self.name,
            "type": self.expectation_type,
            "success": self.success,
            "unexpected_count": self.unexpected_count,
            "element_count": self.element_count,
            "detail": self.detail,
            "sample": [dict(row) for row in self.sample],
        }


@dataclass(frozen=True)
class CheckReport:
    """The outcomes of one check run and where its Data Docs are (no outcome = failure)."""

    kind: str
    outcomes: tuple[ExpectationOutcome, ...]
    docs_index: Path | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def success(self) -> bool:
        """Return True when at least one expectation ran and every one held (fails closed)."""
        return bool(self.outcomes) and all(o.success for o in self.outcomes)

    @property
    def failures(self) -> tuple[ExpectationOutcome, ...]:
        """Return the failed outcomes."""
        return tuple(o for o in self.outcomes if not o.success)

    def failed_names(self) -> set[str]:
        """Return the stable names of the failed expectations."""
        return {o.name for o in self.failures}

    def docs_url(self) -> str | None:
        """Return the file:// URL of the Data Docs index, if one was built."""
        return self.docs_index.resolve().as_uri() if self.docs_index is not None else None

    def summary(self) -> str:
        """Return a one-line verdict."""
        verdict = "passed" if self.success else "FAILED"
        failed = self.failures
        names = ", ".join(sorted({f"{o.name} ({o.batch})" for o in failed}))
        tail = f": {names}" if failed else ""
        count = len(self.outcomes)
        return f"{self.kind} {verdict} ({count - len(failed)}/{count} expectations hold){tail}"

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain JSON-ready data."""
        return {
            "kind": self.kind,
            "success": self.success,
            "expectations": len(self.outcomes),
            "failed": [o.to_dict() for o in self.failures],
            "passed": [o.name + " (" + o.batch + ")" for o in self.outcomes if o.success],
            "docs": self.docs_url(),
            "notes": list(self.notes),
        }

    def text_lines(self) -> list[str]:
        """Return the report for a terminal: each failure with its sample rows."""
        lines: list[str] = []
        for outcome in self.failures:
            rows = outcome.unexpected_count
            count = "" if rows is None else f" {rows} row(s)"
            lines.append(f"FAIL {outcome.name} [{outcome.batch}]{count}: {outcome.detail}")
            lines.extend(f"    {_row_text(row)}" for row in outcome.sample)
        lines.extend(f"note: {note}" for note in self.notes)
        if self.docs_index is not None:
            lines.append(f"data docs: {self.docs_index}")
        lines.append(self.summary())
        return lines

    def table_rows(self) -> list[dict[str, Any]]:
        """Return one row per expectation for a table artifact."""
        return [
            {
                "suite": o.suite,
                "batch": o.batch,
                "expectation": o.name,
                "result": "pass" if o.success else "FAIL",
                "unexpected": "" if o.unexpected_count is None else o.unexpected_count,
                "detail": o.detail,
            }
            for o in self.outcomes
        ]

    def markdown(self) -> str:
        """Return the report as Markdown: verdict, Data Docs link, failures with samples, table."""
        parts = [f"# Data checks: {self.summary()}\n"]
        url = self.docs_url()
        if url is not None:
            parts.append(f"Data Docs: [{self.docs_index}]({url})\n")
        for outcome in self.failures:
            parts.append(f"## FAIL `{outcome.name}` ({outcome.batch})\n\n{outcome.detail}\n")
            if outcome.sample:
                parts.append(_markdown_table(outcome.sample))
        parts.extend(f"- note: {note}" for note in self.notes)
        parts.append("## Every expectation\n")
        parts.append(_markdown_table(self.table_rows()))
        return "\n".join(parts)


def merge(kind: str, reports: Sequence[CheckReport], docs_index: Path | None) -> CheckReport:
    """Combine reports of one run (e.g. journal and breaker suites) under one Data Docs index."""
    outcomes = tuple(o for r in reports for o in r.outcomes)
    notes = tuple(n for r in reports for n in r.notes)
    return CheckReport(kind, outcomes, docs_index, notes)


def outcomes_of(
    suite_result: Any, suite: str, batch: str, sampler: Sampler
) -> list[ExpectationOutcome]:
    """Turn one GX suite validation result into outcomes; a raised expectation is a failure."""
    outcomes = []
    for result in suite_result.results:
        config = result.expectation_config
        meta = config.meta or {}
        name = str(meta.get("name", config.type))
        error = _raised(result.exception_info)
        body: Mapping[str, Any] = result.result or {}
        success = bool(result.success) and error is None
        if error is not None:
            detail = f"expectation could not be evaluated: {error}"
        else:
            detail = str(meta.get("rule", config.description or config.type))
        sample = () if success or error is not None else sampler(name, body)
        outcomes.append(
            ExpectationOutcome(
                suite=suite,
                batch=batch,
                name=name,
                expectation_type=config.type,
                success=success,
                unexpected_count=_count(body),
                element_count=_int(body.get("element_count")),
                detail=detail,
                sample=sample,
            )
        )
    return outcomes


def _raised(info: Any) -> str | None:
    """Return the error message when an expectation raised (GX nests it per metric)."""
    if not isinstance(info, Mapping):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "unknown error")
    for value in info.values():
        nested = _raised(value)
        if nested is not None:
            return nested
    if "exception_traceback" in info and info.get("exception_traceback"):
        return str(info.get("exception_message") or "unknown error")
    return None


def _count(body: Mapping[str, Any]) -> int | None:
    if "unexpected_count" in body:
        return _int(body["unexpected_count"])
    return _int(body.get("observed_value"))  # UnexpectedRowsExpectation: rows returned


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    return None


def cell_text(value: Any) -> str:
    """Render one sample value as short text."""
    if isinstance(value, float):
        return f"{value:.10g}"
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, default=str)
    return "" if value is None else str(value)


def _row_text(row: Row) -> str:
    return " ".join(f"{k}={v}" for k, v in row.items())


def _markdown_table(rows: Iterable[Mapping[str, Any]]) -> str:
    rows = list(rows)
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    if not columns:
        return "_none_\n"
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = (cell_text(row.get(c)).replace("|", "\\|").replace("\n", " ") for c in columns)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
