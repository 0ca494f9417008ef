"""The outbox tables: record alerts (with dedup and silences) and route them to channels.

Every function takes an open sqlite3 connection; callers own the transaction. Channels are
stored by name only: a URL never reaches the state store.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from tradeguard.alerting.config import Priority
from tradeguard.alerting.model import AlertFacts, OutboxAlert
from tradeguard.store.serialize import format_utc, parse_utc

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Route:
    """What routing needs of a channel: its name, minimum priority and tags (no URL)."""

    name: str
    min_priority: Priority
    tags: tuple[str, ...] = ()

    def admits(self, facts: AlertFacts) -> bool:
        """Return True when the alert reaches this channel."""
        if not self.min_priority.admits(facts.priority):
            return False
        if not self.tags or facts.priority is Priority.EMERGENCY:
            return True
        return bool(set(self.tags) & set(facts.tags))


def _facts_json(facts: AlertFacts) -> str:
    return json.dumps(facts.to_json_dict(), sort_keys=True, separators=(",", ":"))


def active_silence(conn: sqlite3.Connection, condition: str, now: str) -> int | None:
    """Return the id of a silence muting this condition now, else None."""
    rows = conn.execute(
        "SELECT id, pattern FROM alert_silences WHERE cancelled_at IS NULL "
        "AND starts_at <= ? AND ends_at > ? ORDER BY id",
        (now, now),
    ).fetchall()
    for silence_id, pattern in rows:
        if fnmatch.fnmatchcase(condition, pattern):
            return int(silence_id)
    return None


def insert_alert(
    conn: sqlite3.Connection,
    facts: AlertFacts,
    now: str,
    routes: Sequence[Route],
    repeat: int = 1,
    first_seen: datetime | None = None,
) -> int:
    """Insert one alert and a delivery row per admitting channel; return the alert id."""
    # SHUTDOWN-level (EMERGENCY) alerts are never muted.
    silence = None if facts.priority is Priority.EMERGENCY else active_silence(
        conn, facts.condition, now
    )
    cursor = conn.execute(
        "INSERT INTO alert_outbox (condition, priority, facts, event_at, queued_at, "
        "repeat_count, first_seen, ack_required, silenced_by) VALUES (?,?,?,?,?,?,?,?,?)",
        (
            facts.condition,
            facts.priority.value,
            _facts_json(facts),
            format_utc(facts.event_at, "event_at"),
            now,
            repeat,
            None if first_seen is None else format_utc(first_seen, "first_seen"),
            int(facts.ack_required),
            silence,
        ),
    )
    alert_id = int(cursor.lastrowid or 0)
    status = "pending" if silence is None else "muted"
    targets = [r.name for r in routes if r.admits(facts)]
    conn.executemany(
        "INSERT INTO alert_deliveries (alert_id, channel, round, status, next_attempt_at) "
        "VALUES (?, ?, 0, ?, ?)",
        [(alert_id, name, status, now) for name in targets],
    )
    log.log(
        logging.INFO if facts.priority is Priority.INFO else logging.WARNING,
        "alert_queued id=%d condition=%s priority=%s repeat=%d channels=%s muted_by=%s",
        alert_id, facts.condition, facts.priority.value, repeat, ",".join(targets) or "-",
        silence if silence is not None else "-",
    )
    return alert_id


def record(
    conn: sqlite3.Connection,
    facts: AlertFacts,
    now: str,
    routes: Sequence[Route],
    window: timedelta,
) -> int | None:
    """Record an alert unless its condition already sent within the window (then count it).

    Escalations are never held back; a repeat after the window carries the count of the
    occurrences it stood for.
    """
    if facts.escalation:
        return insert_alert(conn, facts, now, routes)
    at = format_utc(facts.event_at, "event_at")
    row = conn.execute(
        "SELECT window_start, suppressed, suppressed_since FROM alert_conditions "
        "WHERE condition = ?",
        (facts.condition,),
    ).fetchone()
    if row is not None:
        start = parse_utc(row[0])
        if start <= facts.event_at < start + window:
            conn.execute(
                "UPDATE alert_conditions SET suppressed = suppressed + 1, "
                "suppressed_since = COALESCE(suppressed_since, ?), facts = ? WHERE condition = ?",
                (at, _facts_json(facts), facts.condition),
            )
            return None
    repeat = 1 + (int(row[1]) if row is not None else 0)
    first = parse_utc(row[2]) if row is not None and row[2] else None
    alert_id = insert_alert(conn, facts, now, routes, repeat, first)
    conn.execute(
        "INSERT INTO alert_conditions (condition, window_start, suppressed, suppressed_since, "
        "facts) VALUES (?, ?, 0, NULL, ?) ON CONFLICT (condition) DO UPDATE SET "
        "window_start = excluded.window_start, suppressed = 0, suppressed_since = NULL, "
        "facts = excluded.facts",
        (facts.condition, at, _facts_json(facts)),
    )
    return alert_id


def flush_suppressed(conn: sqlite3.Connection, now: str, routes: Sequence[Route]) -> list[int]:
    """Send the counts still held back by the dedup window (session end); return alert ids."""
    rows = conn.execute(
        "SELECT condition, suppressed, suppressed_since, facts FROM alert_conditions "
        "WHERE suppressed > 0 ORDER BY condition"
    ).fetchall()
    ids = []
    for condition, suppressed, since, facts_text in rows:
        facts = AlertFacts.from_json_dict(json.loads(facts_text))
        first = parse_utc(since) if since else None
        ids.append(insert_alert(conn, facts, now, routes, int(suppressed), first))
        conn.execute(
            "UPDATE alert_conditions SET suppressed = 0, suppressed_since = NULL "
            "WHERE condition = ?",
            (condition,),
        )
    return ids


def load_alert(conn: sqlite3.Connection, alert_id: int) -> OutboxAlert | None:
    """Return one outbox alert, or None."""
    row = conn.execute(
        "SELECT id, facts, queued_at, repeat_count, first_seen, acked_at, acked_by, "
        "escalated_at, silenced_by FROM alert_outbox WHERE id = ?",
        (alert_id,),
    ).fetchone()
    if row is None:
        return None
    return OutboxAlert(
        alert_id=int(row[0]),
        facts=AlertFacts.from_json_dict(json.loads(row[1])),
        queued_at=parse_utc(row[2]),
        repeat_count=int(row[3]),
        first_seen=parse_utc(row[4]) if row[4] else None,
        acked_at=parse_utc(row[5]) if row[5] else None,
        acked_by=row[6],
        escalated_at=parse_utc(row[7]) if row[7] else None,
        silenced_by=row[8],
    )
