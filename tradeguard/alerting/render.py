"""The only place alerts get decorated: title, plain text and Markdown bodies."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from tradeguard.alerting.model import AlertFacts, OutboxAlert, RenderedMessage


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:g}"


def _times(at: datetime, zone: str) -> str:
    local = at.astimezone(ZoneInfo(zone))
    return f"{at.isoformat()} UTC / {local.strftime('%Y-%m-%d %H:%M:%S')} {zone}"


def _lines(alert: OutboxAlert, zone: str, escalated: bool) -> list[tuple[str, str]]:
    facts = alert.facts
    rows: list[tuple[str, str]] = [("Priority", facts.priority.name)]
    if facts.from_state is not None:
        rows.append(("Transition", f"{facts.from_state} -> {facts.to_state}"))
    if facts.trigger:
        rows.append(("Trigger", facts.trigger))
    if facts.observed is not None or facts.threshold is not None:
        rows.append(
            ("Observed", f"{_fmt(facts.observed)} (threshold {_fmt(facts.threshold)})")
        )
    if facts.reason:
        rows.append(("Reason", facts.reason))
    rows.append(("Time", _times(facts.event_at, zone)))
    if alert.repeat_count > 1:
        since = alert.first_seen or facts.event_at
        rows.append(("Repeated", f"{alert.repeat_count} times since {since.isoformat()}"))
    rows.append(("Engine", facts.engine_action))
    steps = [s.replace(" ID", f" {alert.alert_id}") for s in facts.next_steps]
    if steps:
        rows.append(("Next", "; ".join(steps)))
    if facts.deployment:
        rows.append(("Prefect", f"prefect deployment run '{facts.deployment}'"))
    if facts.ack_required:
        note = "ESCALATED: not acknowledged in time. " if escalated else ""
        rows.append(("Ack", f"{note}tradeguard alerts ack {alert.alert_id}"))
    rows.append(("Alert", f"#{alert.alert_id} condition={facts.condition}"))
    return rows


def title(facts: AlertFacts, alert_id: int, escalated: bool = False) -> str:
    """Return the one-line title: priority, what happened, alert id."""
    prefix = "[ESCALATED] " if escalated else ""
    return f"{prefix}[{facts.priority.name}] tradeguard: {facts.summary} (#{alert_id})"


def render(alert: OutboxAlert, zone: str, escalated: bool = False) -> RenderedMessage:
    """Render an outbox alert for channels; zone is orchestration.schedule_timezone."""
    rows = _lines(alert, zone, escalated)
    text = "\n".join(f"{key}: {value}" for key, value in rows)
    markdown_rows = [f"- **{key}**: {_md(value)}" for key, value in rows]
    heading = f"**{alert.facts.summary}**"
    markdown = "\n".join([heading, "", *markdown_rows])
    return RenderedMessage(
        title(alert.facts, alert.alert_id, escalated), text, markdown, alert.facts.priority
    )


def _md(value: str) -> str:
    if value.startswith(("tradeguard ", "prefect ")) or "; tradeguard" in value:
        return "; ".join(f"`{part}`" for part in value.split("; "))
    return value.replace("*", "\\*").replace("_", "\\_")
