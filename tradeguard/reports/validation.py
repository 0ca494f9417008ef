"""Validation report: the gate matrix of a validation run with its session's journal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tradeguard.reports.document import Report, Section, Table, text
from tradeguard.reports.journal import JournalView
from tradeguard.reports.session import journal_window, session_sections


def gate_rows(result: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Return the gates of a validate_24h result as table rows."""
    gates = (result or {}).get("gates") or []
    return [
        {"gate": g.get("name"), "result": "pass" if g.get("passed") else "FAIL",
         "observed": g.get("observed"), "expected": g.get("expected")}
        for g in gates if isinstance(g, Mapping)
    ]


def build_validation_report(
    view: JournalView, bot: str, run: str, result: Mapping[str, Any] | None
) -> Report:
    """Build the validation report of one run (gates from its result, journal from its store)."""
    w = journal_window(view, bot, None)
    facts, sections = session_sections(view, bot, w, {})
    rows = gate_rows(result)
    failed = [r["gate"] for r in rows if r["result"] != "pass"]
    if result is None:
        verdict = "not recorded (no validation result next to the run)"
    else:
        verdict = "PASSED" if result.get("passed") else f"FAILED ({', '.join(failed)})"
    matrix = Section("Validation gates", (f"Verdict: {verdict}.",), (Table.of("", rows),))
    facts = (("Run", run), ("Verdict", verdict), *facts)
    window = (result or {}).get("window") or {}
    if window:
        facts = (*facts, ("Replayed", f"{text(window.get('start'))} to {text(window.get('end'))}"))
    return Report("validation", f"validation-{run}", f"Validation report: {run}", facts,
                  (matrix, *sections), {"run": run, "passed": None if result is None
                                        else bool(result.get("passed"))})
