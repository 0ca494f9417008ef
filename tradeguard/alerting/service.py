"""Use cases of `tradeguard alerts ...` and of the Prefect flows; typed args, typed results."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from engine.clock import Clock
from engine.errors import ConfigurationError, StateError
from tradeguard.alerting import deliveries as d
from tradeguard.alerting import heartbeat, outbox
from tradeguard.alerting.channels import resolve_channels
from tradeguard.alerting.config import AlertsConfig
from tradeguard.alerting.model import AlertFacts, OutboxAlert, Silence
from tradeguard.alerting.policy import probe_alert
from tradeguard.alerting.render import render
from tradeguard.alerting.runtime import routes, sender, worker_config
from tradeguard.alerting.worker import connect, deliver_pending
from tradeguard.store.serialize import format_utc, parse_utc

log = logging.getLogger(__name__)


class UnknownAlertError(ConfigurationError):
    """The alert or silence id does not exist: check `tradeguard alerts status`."""


@dataclass(frozen=True)
class ChannelCheck:
    """Result of `alerts test` for one channel."""

    channel: str
    ok: bool
    error: str
    seconds: float


@contextmanager
def outbox_connection(db_path: Path) -> Iterator[sqlite3.Connection]:
    """Open the state store's outbox (migrating it if needed); refuse a missing store."""
    if not db_path.exists():
        message = f"state store {db_path} does not exist: run a session first or pass --state-dir"
        raise ConfigurationError(message)
    from tradeguard.store.sqlite_store import SqliteStore

    SqliteStore(db_path, session=False, verify="recovery").close()  # applies migrations
    conn = connect(db_path)
    conn.execute("PRAGMA foreign_keys=ON")
    try:
        yield conn
    except sqlite3.DatabaseError as e:
        message = f"state store {db_path}: outbox access failed: {e}"
        raise StateError(message) from e
    finally:
        conn.close()


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _audit(conn: sqlite3.Connection, at: datetime, action: str, reason: str, who: str) -> None:
    conn.execute(
        "INSERT INTO operator_actions (at, action, reason, who) VALUES (?,?,?,?)",
        (format_utc(at), action, reason, who),
    )


def check_channels(
    config: AlertsConfig, zone: str, now: datetime, channel: str | None = None
) -> list[ChannelCheck]:
    """Send a test message to each channel (or the named one); report success or error."""
    channels = resolve_channels(config)
    if channel is not None:
        channels = [c for c in channels if c.name == channel]
        if not channels:
            message = f"--channel {channel}: no such channel (see `tradeguard config show`)"
            raise ConfigurationError(message)
    send = sender(config, channels).send
    rendered = render(OutboxAlert(0, probe_alert(now), now), zone)
    results = []
    for item in channels:
        result = send(item.name, rendered)
        results.append(ChannelCheck(item.name, result.ok, result.error, round(result.seconds, 3)))
    return results


def status(db_path: Path, now: datetime) -> dict[str, Any]:
    """Return the outbox per channel, unacknowledged alerts and active silences."""
    with outbox_connection(db_path) as conn:
        summary = d.outbox_status(conn)
        summary["silences"] = [_silence_dict(s) for s in _silences(conn, now)]
        beat = conn.execute(
            "SELECT state, beat_at, pid FROM heartbeats WHERE name = ?", (heartbeat.SESSION,)
        ).fetchone()
    summary["heartbeat"] = (
        None if beat is None else {"state": beat[0], "beat_at": beat[1], "pid": beat[2]}
    )
    return summary


def acknowledge(db_path: Path, alert_id: int, who: str, now: datetime) -> dict[str, Any]:
    """Acknowledge an alert: it will not be escalated; recorded with who and when."""
    with outbox_connection(db_path) as conn, _transaction(conn):
        row = conn.execute(
            "SELECT ack_required, acked_at, acked_by FROM alert_outbox WHERE id = ?", (alert_id,)
        ).fetchone()
        if row is None:
            message = f"alert {alert_id} does not exist (see `tradeguard alerts status`)"
            raise UnknownAlertError(message)
        if row[1] is not None:
            return {"id": alert_id, "acked_at": row[1], "acked_by": row[2], "already": True}
        conn.execute(
            "UPDATE alert_outbox SET acked_at = ?, acked_by = ? WHERE id = ?",
            (format_utc(now), who, alert_id),
        )
        _audit(conn, now, "alerts-ack", f"alert {alert_id}", who)
    log.info("alert_acked id=%d who=%s", alert_id, who)
    return {"id": alert_id, "acked_at": format_utc(now), "acked_by": who, "already": False}


def add_silence(
    db_path: Path, pattern: str, duration: timedelta, reason: str, who: str, now: datetime
) -> Silence:
    """Mute a condition pattern (fnmatch, e.g. issue:DATA_FEED*) for a window; audited."""
    if not pattern.strip() or not reason.strip():
        message = "a silence needs a condition pattern and a --reason"
        raise ConfigurationError(message)
    if duration <= timedelta(0) or duration > timedelta(days=30):
        message = "--for must be between 1s and 30d"
        raise ConfigurationError(message)
    with outbox_connection(db_path) as conn, _transaction(conn):
        cursor = conn.execute(
            "INSERT INTO alert_silences (pattern, starts_at, ends_at, reason, who, created_at) "
            "VALUES (?,?,?,?,?,?)",
            (pattern, format_utc(now), format_utc(now + duration), reason, who, format_utc(now)),
        )
        silence_id = int(cursor.lastrowid or 0)
        _audit(conn, now, "alerts-silence",
               f"#{silence_id} {pattern} until {format_utc(now + duration)}: {reason}", who)
    log.warning("alert_silence_added id=%d pattern=%s until=%s who=%s", silence_id, pattern,
                format_utc(now + duration), who)
    return Silence(silence_id, pattern, now, now + duration, reason, who, now)


def cancel_silence(db_path: Path, silence_id: int, who: str, now: datetime) -> None:
    """End a silence early; audited."""
    with outbox_connection(db_path) as conn, _transaction(conn):
        cursor = conn.execute(
            "UPDATE alert_silences SET cancelled_at = ?, cancelled_by = ? "
            "WHERE id = ? AND cancelled_at IS NULL",
            (format_utc(now), who, silence_id),
        )
        if cursor.rowcount != 1:
            message = f"silence {silence_id} does not exist or is already cancelled"
            raise UnknownAlertError(message)
        _audit(conn, now, "alerts-unsilence", f"#{silence_id}", who)


def silences(db_path: Path, now: datetime) -> list[Silence]:
    """Return the silences active now."""
    with outbox_connection(db_path) as conn:
        return _silences(conn, now)


def _silences(conn: sqlite3.Connection, now: datetime) -> list[Silence]:
    stamp = format_utc(now)
    rows = conn.execute(
        "SELECT id, pattern, starts_at, ends_at, reason, who, created_at FROM alert_silences "
        "WHERE cancelled_at IS NULL AND ends_at > ? ORDER BY id",
        (stamp,),
    ).fetchall()
    return [
        Silence(int(r[0]), r[1], parse_utc(r[2]), parse_utc(r[3]), r[4], r[5], parse_utc(r[6]))
        for r in rows
    ]


def _silence_dict(silence: Silence) -> dict[str, Any]:
    data = asdict(silence)
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in data.items()}


def enqueue(config: AlertsConfig, db_path: Path, facts: AlertFacts, now: datetime) -> int | None:
    """Record an alert raised outside the engine (flow hooks) in the outbox, with dedup."""
    channels = resolve_channels(config)
    window = timedelta(seconds=config.dedup_window_seconds)
    with outbox_connection(db_path) as conn, _transaction(conn):
        return outbox.record(conn, facts, format_utc(now), routes(channels), window)


def deliver(
    config: AlertsConfig, zone: str, db_path: Path, clock: Clock, timeout: float
) -> dict[str, int]:
    """Escalate due alerts and deliver every due delivery now, bounded by timeout."""
    channels = resolve_channels(config)
    with outbox_connection(db_path):
        pass  # migrate and check before the worker opens its own connections
    cfg = worker_config(config, channels, db_path, zone)
    return deliver_pending(cfg, sender(config, channels).send, clock, timeout)


def check_heartbeat(
    config: AlertsConfig,
    zone: str,
    db_path: Path,
    clock: Clock,
    timeout: float,
    schedule: heartbeat.SessionSchedule | None = None,
) -> dict[str, Any]:
    """Dead-man check: alert on a stale or missing session, then deliver what is pending."""
    channels = resolve_channels(config)
    stale = timedelta(seconds=config.heartbeat_stale_seconds)
    now = clock.now()
    expected = schedule.started_at(now) if schedule is not None else None
    window = timedelta(seconds=config.dedup_window_seconds)
    with outbox_connection(db_path) as conn:
        verdict = heartbeat.check(conn, now, stale, routes(channels), expected, window)
    sent = deliver(config, zone, db_path, clock, timeout)
    return {
        "state": verdict.state,
        "beat_at": verdict.beat_at.isoformat() if verdict.beat_at else None,
        "age_seconds": verdict.age_seconds,
        "stale": verdict.stale,
        "alert_id": verdict.alert_id,
        "scheduled_since": expected.isoformat() if expected else None,
        "delivered": sent,
    }


def notify_direct(config: AlertsConfig, zone: str, facts: AlertFacts, now: datetime) -> bool:
    """Send straight to the admitting channels when no state store exists (no outbox)."""
    channels = [c for c in resolve_channels(config) if c.admits(facts)]
    message = render(OutboxAlert(0, facts, now), zone)
    send = sender(config, channels).send
    results = [send(c.name, message) for c in channels]
    return not channels or any(r.ok for r in results)
