"""Delivery rows: claim, mark, back off, escalate unacknowledged alerts, summarise status."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tradeguard.alerting.model import Delivery
from tradeguard.store.serialize import format_utc, parse_utc

_OPEN = "status IN ('pending', 'sending')"


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with a cap, and a bound on attempts."""

    base_seconds: float
    cap_seconds: float
    max_attempts: int

    def delay(self, attempts: int) -> timedelta:
        """Return the wait after `attempts` failed attempts (1 -> base, doubling, capped)."""
        exponent = min(max(attempts - 1, 0), 30)
        return timedelta(seconds=min(self.cap_seconds, self.base_seconds * 2**exponent))


def _delivery(row: tuple[Any, ...]) -> Delivery:
    return Delivery(
        delivery_id=int(row[0]),
        alert_id=int(row[1]),
        channel=str(row[2]),
        round=int(row[3]),
        status=str(row[4]),
        attempts=int(row[5]),
        next_attempt_at=parse_utc(row[6]),
        last_error=row[7],
    )


_COLUMNS = "id, alert_id, channel, round, status, attempts, next_attempt_at, last_error"


def due(conn: sqlite3.Connection, channel: str, now: datetime, limit: int = 20) -> list[Delivery]:
    """Return pending deliveries of a channel whose next attempt is due, oldest first."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM alert_deliveries WHERE channel = ? AND status = 'pending' "
        "AND next_attempt_at <= ? ORDER BY id LIMIT ?",
        (channel, format_utc(now), limit),
    ).fetchall()
    return [_delivery(row) for row in rows]


def next_due(conn: sqlite3.Connection, channels: Sequence[str]) -> datetime | None:
    """Return the earliest next attempt among pending deliveries of these channels."""
    if not channels:
        return None
    marks = ",".join("?" for _ in channels)
    row = conn.execute(
        f"SELECT MIN(next_attempt_at) FROM alert_deliveries WHERE status = 'pending' "
        f"AND channel IN ({marks})",
        tuple(channels),
    ).fetchone()
    return parse_utc(row[0]) if row and row[0] else None


def claim(conn: sqlite3.Connection, delivery_id: int, now: datetime) -> bool:
    """Mark a delivery as being sent; False when another worker took it first."""
    cursor = conn.execute(
        "UPDATE alert_deliveries SET status = 'sending', attempts = attempts + 1, "
        "last_attempt_at = ? WHERE id = ? AND status = 'pending'",
        (format_utc(now), delivery_id),
    )
    return cursor.rowcount == 1


def mark_delivered(conn: sqlite3.Connection, delivery_id: int, now: datetime) -> None:
    """Record a successful delivery."""
    conn.execute(
        "UPDATE alert_deliveries SET status = 'delivered', delivered_at = ?, last_error = NULL "
        "WHERE id = ?",
        (format_utc(now), delivery_id),
    )


def mark_failed(
    conn: sqlite3.Connection, delivery: Delivery, error: str, now: datetime, retry: RetryPolicy
) -> str:
    """Record a failed attempt: back to pending after the backoff, or failed; return status."""
    attempts = delivery.attempts + 1
    status = "failed" if attempts >= retry.max_attempts else "pending"
    conn.execute(
        "UPDATE alert_deliveries SET status = ?, next_attempt_at = ?, last_error = ? WHERE id = ?",
        (status, format_utc(now + retry.delay(attempts)), error, delivery.delivery_id),
    )
    return status


def release_stale(conn: sqlite3.Connection, older_than: datetime) -> int:
    """Put back deliveries left 'sending' by a dead process (at-least-once); return count."""
    stale = conn.execute(
        "SELECT 1 FROM alert_deliveries WHERE status = 'sending' AND last_attempt_at < ? "
        "LIMIT 1",
        (format_utc(older_than),),
    ).fetchone()
    if stale is None:  # the common case takes no write lock
        return 0
    cursor = conn.execute(
        "UPDATE alert_deliveries SET status = 'pending' WHERE status = 'sending' "
        "AND last_attempt_at < ?",
        (format_utc(older_than),),
    )
    return cursor.rowcount


def escalation_due(conn: sqlite3.Connection, now: datetime, ack_timeout: timedelta) -> bool:
    """Return True when an unacknowledged alert has waited longer than ack_timeout."""
    row = conn.execute(
        "SELECT 1 FROM alert_outbox WHERE ack_required = 1 AND acked_at IS NULL "
        "AND escalated_at IS NULL AND queued_at <= ? LIMIT 1",
        (format_utc(now - ack_timeout),),
    ).fetchone()
    return row is not None


def escalate_due(
    conn: sqlite3.Connection, now: datetime, ack_timeout: timedelta, channels: Sequence[str]
) -> list[int]:
    """Re-send unacknowledged alerts older than ack_timeout to the escalation channels."""
    cutoff = format_utc(now - ack_timeout)
    rows = conn.execute(
        "SELECT id FROM alert_outbox WHERE ack_required = 1 AND acked_at IS NULL "
        "AND escalated_at IS NULL AND queued_at <= ? ORDER BY id",
        (cutoff,),
    ).fetchall()
    stamp = format_utc(now)
    ids = [int(row[0]) for row in rows]
    for alert_id in ids:
        conn.execute("UPDATE alert_outbox SET escalated_at = ? WHERE id = ?", (stamp, alert_id))
        conn.executemany(
            "INSERT INTO alert_deliveries (alert_id, channel, round, status, next_attempt_at) "
            "VALUES (?, ?, 1, 'pending', ?) ON CONFLICT DO NOTHING",
            [(alert_id, name, stamp) for name in channels],
        )
    return ids


def outbox_status(conn: sqlite3.Connection) -> dict[str, Any]:
    """Return counts by channel and status, the last error per channel, open acks, silences."""
    per_channel: dict[str, dict[str, Any]] = {}
    for channel, status, count in conn.execute(
        "SELECT channel, status, COUNT(*) FROM alert_deliveries GROUP BY channel, status"
    ):
        entry = per_channel.setdefault(
            channel,
            {"pending": 0, "sending": 0, "delivered": 0, "failed": 0, "muted": 0,
             "attempts": 0, "last_error": None, "last_error_at": None},
        )
        entry[status] = int(count)
    for channel, attempts in conn.execute(
        "SELECT channel, SUM(attempts) FROM alert_deliveries GROUP BY channel"
    ):
        per_channel[channel]["attempts"] = int(attempts or 0)
    for channel, error, at in conn.execute(
        "SELECT channel, last_error, MAX(COALESCE(last_attempt_at, '')) FROM alert_deliveries "
        "WHERE last_error IS NOT NULL GROUP BY channel"
    ):
        if channel in per_channel:
            per_channel[channel]["last_error"] = error
            per_channel[channel]["last_error_at"] = at or None
    unacked = [
        {"id": int(i), "condition": c, "priority": p, "queued_at": q, "escalated_at": e}
        for i, c, p, q, e in conn.execute(
            "SELECT id, condition, priority, queued_at, escalated_at FROM alert_outbox "
            "WHERE ack_required = 1 AND acked_at IS NULL ORDER BY id"
        )
    ]
    alerts = int(conn.execute("SELECT COUNT(*) FROM alert_outbox").fetchone()[0])
    return {"alerts": alerts, "channels": dict(sorted(per_channel.items())), "unacked": unacked}
