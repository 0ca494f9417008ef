"""Markdown and text renderings of the contracts: the one place reports are formatted."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tradeguard.contracts import Gate, IncidentTimeline, SessionSummary, ValidationResult


def cell(value: Any) -> str:
    """Render one value for a Markdown table cell (JSON for containers, pipes escaped)."""
    if isinstance(value, Mapping | list | tuple):
        text = json.dumps(value, default=str, sort_keys=True)
    elif isinstance(value, float):
        text = f"{value:.6g}"
    else:
        text = "" if value is None else str(value)
    # ">" would open a blockquote where a renderer reads the cell as Markdown ("> 0 bars").
    return text.replace("|", "\\|").replace(">", "&gt;").replace("\n", " ")


def markdown_table(rows: Iterable[Mapping[str, Any]]) -> str:
    """Render dict rows as a Markdown table whose columns are the union of keys in order."""
    rows = list(rows)
    if not rows:
        return "_none_\n"
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def key_value_rows(data: Mapping[str, Any]) -> list[dict[str, str]]:
    """Flatten a mapping into metric/value rows for a table artifact."""
    return [{"metric": str(k), "value": cell(v)} for k, v in data.items()]


def session_markdown(
    summary: SessionSummary, state_dir: str, extra: Mapping[str, Any] | None = None
) -> str:
    """Render a session summary (plus flow-level extras) as Markdown."""
    verdict = (
        "stopped by the circuit breaker" if summary.stopped_by_breaker
        else "ran to its end" if summary.stop_reason == "end of data"
        else f"ended early, cleanly ({summary.stop_reason})"
    )
    head = f"# Trading session summary\n\nState dir `{state_dir}`: session {verdict}.\n\n"
    metrics = {k: v for k, v in summary.to_json().items() if k != "transitions"}
    body = markdown_table(key_value_rows({**metrics, **(extra or {})}))
    return head + body + "\n## Breaker transitions\n\n" + transitions_table(summary)


def transitions_table(summary: SessionSummary) -> str:
    """Render the session's breaker transitions as a Markdown table, one row each."""
    return markdown_table(
        {"at": t.at.isoformat(), "from": t.from_state, "to": t.to_state, "trigger": t.trigger,
         "observed": t.observed, "threshold": t.threshold, "reason": t.reason}
        for t in summary.transitions
    )


def pnl_lines(summary: SessionSummary, starting_cash: float | None, currency: str) -> list[str]:
    """Say what the P&L numbers mean: currency, % of starting equity, today's realized part."""
    share = (
        f"; {summary.pnl / starting_cash:+.4%} of starting equity {starting_cash:g} {currency}"
        if starting_cash
        else ""
    )
    return [
        f"pnl: {summary.pnl:+.2f} {currency} (equity change since the book opened, fees "
        f"{summary.fees:.2f} {currency} included){share}",
        f"daily_pnl: {summary.daily_pnl:+.2f} {currency} (realized P&L of the current "
        f"trading day only); trades today: {summary.daily_trades}",
    ]


def signal_lines(summary: SessionSummary) -> list[str]:
    """Count the signals that produced no order, by why."""
    why: dict[str, int] = {"duplicate suppressed": summary.signals_suppressed}
    for reason, count in sorted(summary.orders_denied_by_reason.items()):
        why[f"denied by {reason}"] = count
    without = max(summary.signals - summary.orders_submitted, 0)
    shown = {k: v for k, v in why.items() if v}
    other = without - sum(shown.values())
    if other > 0:
        shown["no order needed (already at target)"] = other
    detail = ", ".join(f"{k}={v}" for k, v in shown.items()) or "none"
    return [
        f"signals: {summary.signals}; {summary.orders_submitted} produced an order, "
        f"{without} did not ({detail})"
    ]


def summary_lines(
    summary: SessionSummary, starting_cash: float | None = None, currency: str = "USD"
) -> list[str]:
    """Render a session summary for people: counts, P&L, breaker transitions, final state."""
    lines = [
        f"bars: {summary.bars} (bad bars skipped: {summary.bad_bars})",
        *signal_lines(summary),
        "orders: "
        f"submitted={summary.orders_submitted} adopted={summary.orders_adopted} "
        f"filled={summary.orders_filled} "
        f"failed={summary.orders_failed} open={summary.orders_open} "
        f"denied={summary.orders_denied}",
    ]
    if summary.orders_adopted:
        lines.append(
            f"  adopted: {summary.orders_adopted} orders sent by a run the journal lost (state "
            "restore, lost store) and taken over from the venue's record by the venue sync; "
            "submitted + adopted = filled + failed + open"
        )
    lines.append(f"trades executed: {summary.trades_executed}")
    lines += pnl_lines(summary, starting_cash, currency)
    if summary.transitions:
        lines.append("breaker transitions:")
        lines += [
            f"  {t.at.isoformat()} {t.from_state} -> {t.to_state} trigger={t.trigger}"
            for t in summary.transitions
        ]
    else:
        lines.append("breaker transitions: none")
    lines.append(f"final state: {summary.final_state}")
    if summary.stopped_by_breaker:
        when = summary.last_bar.isoformat() if summary.last_bar else "?"
        lines.append(
            f"session stopped by the circuit breaker after bar {when} "
            f"(state {summary.final_state}, reason: {summary.stop_reason or '?'});"
            " see `tradeguard status` and `tradeguard incident-report`"
        )
    elif summary.stop_reason:
        lines.append(f"session ended: {summary.stop_reason}")
    return lines


def gate_table_lines(result: ValidationResult, error: str | None = None) -> list[str]:
    """Render the validation gate table and its verdict line."""
    gates = result.gates
    width = max([len("gate"), *(len(g.name) for g in gates)])
    lines = [f"{'gate':<{width}}  result  observed / expected"] if gates else []
    for gate in gates:
        verdict = "PASS" if gate.passed else "FAIL"
        lines.append(f"{gate.name:<{width}}  {verdict:<6}  {gate.observed} / {gate.expected}")
    if error:
        lines.append(error)
    failed = [g.name for g in result.failed]
    if result.passed:
        lines.append(f"validation PASSED ({len(gates)}/{len(gates)} gates)")
    elif not gates:
        lines.append("validation FAILED: no gate table was returned")
    else:
        lines.append(
            f"validation FAILED ({len(gates) - len(failed)}/{len(gates)} gates passed): "
            + ", ".join(failed)
        )
    return lines


def gate_row(gate: Gate) -> dict[str, Any]:
    """Return one gate as a table-artifact row."""
    return {
        "gate": gate.name,
        "result": "pass" if gate.passed else "FAIL",
        "observed": cell(gate.observed),
        "expected": cell(gate.expected),
    }


def validation_markdown(result: ValidationResult) -> str:
    """Render the validation verdict with every gate's observed value."""
    failed = result.failed
    verdict = "PASSED" if not failed else f"FAILED ({', '.join(g.name for g in failed)})"
    rows = [gate_row(g) for g in result.gates or failed]
    return f"# 24h validation: {verdict}\n\n" + markdown_table(rows)


def timeline_markdown(timeline: IncidentTimeline) -> str:
    """Render an incident timeline as Markdown (one row per event, time ordered)."""
    if timeline.incident is None and timeline.start is None:
        return "No HALT or SHUTDOWN on record."
    rows: list[tuple[str, str, str]] = []
    for t in timeline.transitions:
        measured = "" if t.observed is None else f", observed {t.observed:g}"
        limit = "" if t.threshold is None else f", threshold {t.threshold:g}"
        rows.append((t.at.isoformat(), "breaker",
                     f"{t.from_state} -> {t.to_state} ({t.trigger}{measured}{limit})"))
    for o in timeline.orders:
        rows.append((o.created_at.isoformat(), "order",
                     f"{o.side} {o.quantity} {o.symbol} {o.status} {o.reason}".strip()))
    for a in timeline.operator_actions:
        rows.append((a.at.isoformat(), "operator", f"{a.action} by {a.who}: {a.reason}"))
    # Stable sort on time only: transitions keep their journal order within one instant.
    rows.sort(key=lambda row: row[0])
    head = timeline.incident
    title = (
        f"# Incident: {head.to_state} at {head.at.isoformat()} ({head.trigger})"
        if head
        else "# Timeline"
    )
    start = timeline.start.isoformat() if timeline.start else "?"
    end = timeline.end.isoformat() if timeline.end else "?"
    lines = [
        title,
        "",
        f"Window: {start} to {end}",
        "",
        "| time (UTC) | kind | event |",
        "|---|---|---|",
    ]
    lines += [f"| {at} | {kind} | {text} |" for at, kind, text in rows]
    return "\n".join(lines) + "\n"


def incident_markdown(timeline: IncidentTimeline) -> str:
    """Render an incident report artifact: the trigger event, then the timeline."""
    prefix = ""
    if timeline.trigger_event:
        prefix = f"Triggered by event `{timeline.trigger_event}`.\n\n"
    return prefix + timeline_markdown(timeline)
