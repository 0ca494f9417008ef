"""The matrix verdict rendered once: JSON-ready data, terminal lines, Markdown and HTML."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tradeguard.scenarios.runner import MatrixResult, ScenarioResult


def scenario_data(result: ScenarioResult) -> dict[str, Any]:
    """Return one scenario's result as JSON-ready data."""
    return {
        "name": result.name,
        "description": result.description,
        "passed": result.passed,
        "error": result.error,
        "expected": {v.name: v.expected for v in result.verdicts},
        "observed": {v.name: v.observed for v in result.verdicts},
        "verdicts": [
            {"name": v.name, "expected": v.expected, "observed": v.observed, "passed": v.passed}
            for v in result.verdicts
        ],
        "state_dir": str(result.state_dir),
        "engine_seconds": round(result.engine_seconds, 3),
        "drill_seconds": round(result.drill_seconds, 3),
        "check_seconds": round(result.check_seconds, 3),
    }


def gate_rows(result: MatrixResult) -> list[dict[str, Any]]:
    """Return every verdict as a gate row `scenario: expectation` (what reports/ reads)."""
    rows: list[dict[str, Any]] = []
    for s in result.scenarios:
        if s.error:
            rows.append({"name": f"{s.name}: runs", "passed": False, "observed": s.error,
                         "expected": "the scenario runs to its end"})
        rows += [
            {"name": f"{s.name}: {v.name}", "passed": v.passed, "observed": v.observed,
             "expected": v.expected}
            for v in s.verdicts
        ]
    return rows


def timings(result: MatrixResult) -> dict[str, float]:
    """Return where the matrix's wall time went: engine replays, crash drills, the rest."""
    engine = sum(s.engine_seconds for s in result.scenarios)
    drills = sum(s.drill_seconds for s in result.scenarios)
    checks = sum(s.check_seconds for s in result.scenarios)
    return {
        "engine_seconds": round(engine, 3),
        "crash_drill_seconds": round(drills, 3),
        "gx_audit_seconds": round(checks, 3),
        "other_seconds": round(max(result.seconds - engine - drills - checks, 0.0), 3),
    }


def matrix_data(
    result: MatrixResult, extra_timings: Mapping[str, float] | None = None
) -> dict[str, Any]:
    """Return the whole matrix as JSON-ready data (`validate --json`, validation.json).

    `gates` and `state_dir` (the first scenario's, the calm control by default) are what
    `tradeguard report validation RUN` reads next to the scenarios.
    """
    first = result.scenarios[0].state_dir if result.scenarios else result.run_dir
    return {
        "passed": result.passed,
        "started_at": result.started_at.isoformat(),
        "seconds": round(result.seconds, 3),
        "run_dir": str(result.run_dir),
        "state_dir": str(first),
        "scenarios": [scenario_data(s) for s in result.scenarios],
        "total": len(result.scenarios),
        "failed": [s.name for s in result.scenarios if not s.passed],
        "gates": gate_rows(result),
        "timings": {
            **timings(result), **{k: round(v, 3) for k, v in (extra_timings or {}).items()}
        },
    }


def _failed_detail(result: ScenarioResult) -> str:
    if result.error:
        return f"error: {result.error}"
    bad = [v for v in result.verdicts if not v.passed]
    return "; ".join(f"{v.name}: expected {v.expected}, observed {v.observed}" for v in bad)


def terminal_lines(result: MatrixResult) -> list[str]:
    """Return one line per scenario (verdict, name, what failed) and a total line."""
    width = max((len(s.name) for s in result.scenarios), default=8)
    lines = []
    for s in result.scenarios:
        verdict = "PASS" if s.passed else "FAIL"
        detail = f"{len(s.verdicts)} expectations held" if s.passed else _failed_detail(s)
        lines.append(f"{verdict}  {s.name:<{width}}  {detail}")
    passed = sum(1 for s in result.scenarios if s.passed)
    word = "PASSED" if result.passed else "FAILED"
    lines.append(
        f"validation {word} ({passed}/{len(result.scenarios)} scenarios) in {result.seconds:.1f} s"
    )
    return lines


def _md_cell(text: str) -> str:
    # A leading ">" would start a blockquote and "|" would end the cell.
    return text.replace("|", "\\|").replace(">", "&gt;").replace("\n", " ")


def summary_markdown(result: MatrixResult) -> str:
    """Render the verdict line and one table row per scenario."""
    passed = sum(1 for s in result.scenarios if s.passed)
    out = [
        "# Validation matrix",
        "",
        f"**{'PASSED' if result.passed else 'FAILED'}**: {passed}/{len(result.scenarios)} "
        f"scenarios, {result.seconds:.1f} s, started {result.started_at.isoformat()}",
        "",
        "| scenario | verdict | failed expectations |",
        "|---|---|---|",
    ]
    for s in result.scenarios:
        verdict = "PASS" if s.passed else "FAIL"
        out.append(f"| {s.name} | {verdict} | {_md_cell(_failed_detail(s)) or '-'} |")
    return "\n".join(out) + "\n"


def markdown(result: MatrixResult) -> str:
    """Render the matrix as a Markdown report: the summary, then every expectation."""
    out = [summary_markdown(result).rstrip("\n")]
    for s in result.scenarios:
        out += ["", f"## {s.name}: {'PASS' if s.passed else 'FAIL'}", "", _md_cell(s.description)]
        if s.error:
            out += ["", f"Error: {_md_cell(s.error)}"]
            continue
        out += ["", "| expectation | expected | observed | verdict |", "|---|---|---|---|"]
        for v in s.verdicts:
            out.append(
                f"| {v.name} | {_md_cell(v.expected)} | {_md_cell(v.observed)} | "
                f"{'ok' if v.passed else 'FAILED'} |"
            )
    return "\n".join(out) + "\n"


_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
    "text-align:left}.pass{color:#1a7f37;font-weight:bold}.fail{color:#cf222e;font-weight:bold}"
)


def _verdict(passed: bool) -> str:
    return '<span class="pass">PASS</span>' if passed else '<span class="fail">FAIL</span>'


def to_html(result: MatrixResult) -> str:
    """Render the matrix as one self-contained HTML page."""
    esc = html.escape
    rows = "".join(
        f"<tr><td><a href='#{esc(s.name)}'>{esc(s.name)}</a></td><td>{_verdict(s.passed)}</td>"
        f"<td>{esc(_failed_detail(s)) or '-'}</td></tr>"
        for s in result.scenarios
    )
    sections = []
    for s in result.scenarios:
        body = f"<p>{esc(s.description)}</p>"
        if s.error:
            body += f"<p class='fail'>Error: {esc(s.error)}</p>"
        else:
            body += (
                "<table><tr><th>expectation</th><th>expected</th><th>observed</th><th></th></tr>"
            )
            body += "".join(
                f"<tr><td>{esc(v.name)}</td><td>{esc(v.expected)}</td><td>{esc(v.observed)}</td>"
                f"<td>{_verdict(v.passed)}</td></tr>"
                for v in s.verdicts
            )
            body += "</table>"
        sections.append(f"<h2 id='{esc(s.name)}'>{esc(s.name)} {_verdict(s.passed)}</h2>{body}")
    passed = sum(1 for s in result.scenarios if s.passed)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>tradeguard validation</title>"
        f"<style>{_CSS}</style></head><body><h1>Validation matrix {_verdict(result.passed)}</h1>"
        f"<p>{passed}/{len(result.scenarios)} scenarios in {result.seconds:.1f} s, started "
        f"{esc(result.started_at.isoformat())}</p><table><tr><th>scenario</th><th>verdict</th>"
        f"<th>failed expectations</th></tr>{rows}</table>{''.join(sections)}</body></html>"
    )


def write_reports(
    result: MatrixResult, directory: Path, data: Mapping[str, Any] | None = None
) -> tuple[Path, Path]:
    """Write report.md, report.html and validation.json into directory; return the first two."""
    directory.mkdir(parents=True, exist_ok=True)
    md, page = directory / "report.md", directory / "report.html"
    md.write_text(markdown(result), encoding="utf-8")
    page.write_text(to_html(result), encoding="utf-8")
    payload = dict(data) if data is not None else matrix_data(result)
    (directory / "validation.json").write_text(
        json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return md, page
