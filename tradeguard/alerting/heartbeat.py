"""Heartbeat of a running session and the dead-man check that reports a silent death."""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from engine.clock import Clock
from engine.ports import OperatorCommand
from tradeguard.alerting import outbox
from tradeguard.alerting.policy import heartbeat_alert, missing_session_alert
from tradeguard.store.serialize import format_utc, parse_utc

log = logging.getLogger(__name__)

SESSION = "session"


class HeartbeatRecorder:
    """Write the session heartbeat row, at most once per `every` seconds of wall time."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        clock: Clock,
        every: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connect = connect
        self._conn: sqlite3.Connection | None = None
        self._clock = clock
        self._every = every
        self._monotonic = monotonic
        self._next = 0.0

    def start(self) -> None:
        """Mark the session running now."""
        self._conn = self._connect()
        now = format_utc(self._clock.now())
        self._conn.execute(
            "INSERT INTO heartbeats (name, pid, state, started_at, beat_at) "
            "VALUES (?, ?, 'running', ?, ?) ON CONFLICT (name) DO UPDATE SET pid = excluded.pid, "
            "state = 'running', started_at = excluded.started_at, beat_at = excluded.beat_at, "
            "ended_at = NULL, reported_at = NULL",
            (SESSION, os.getpid(), now, now),
        )
        self._next = self._monotonic() + self._every

    def beat(self) -> None:
        """Record that the trading loop is alive (throttled by wall time)."""
        moment = self._monotonic()
        if moment < self._next or self._conn is None:
            return
        self._next = moment + self._every
        try:
            self._conn.execute(
                "UPDATE heartbeats SET beat_at = ?, pid = ? WHERE name = ?",
                (format_utc(self._clock.now()), os.getpid(), SESSION),
            )
        except sqlite3.Error as e:  # a missed beat must never stop trading
            log.warning("heartbeat_write_failed error=%s", e)

    def stop(self) -> None:
        """Mark a clean end: a stopped session is not expected to beat."""
        if self._conn is None:
            return
        conn, self._conn = self._conn, None
        try:
            now = format_utc(self._clock.now())
            conn.execute(
                "UPDATE heartbeats SET state = 'stopped', ended_at = ?, beat_at = ? WHERE name = ?",
                (now, now, SESSION),
            )
        except sqlite3.Error as e:
            log.warning("heartbeat_stop_failed error=%s", e)
        finally:
            conn.close()


class HeartbeatJournal:
    """Journal wrapper: the command poll the loop makes every bar also beats the heart."""

    def __init__(self, inner: Any, recorder: HeartbeatRecorder) -> None:
        self._inner = inner
        self._recorder = recorder

    def pending_commands(self) -> list[OperatorCommand]:
        """Beat, then return the inner journal's pending commands."""
        self._recorder.beat()
        commands: list[OperatorCommand] = self._inner.pending_commands()
        return commands

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@dataclass(frozen=True)
class SessionSchedule:
    """When the scheduled session runs: a cron in a zone, for a number of minutes."""

    cron: str
    zone: str
    duration_minutes: float

    def started_at(self, now: datetime) -> datetime | None:
        """Return the start of the scheduled session window covering now, else None."""
        from zoneinfo import ZoneInfo

        from cronsim import CronSim

        local = now.astimezone(ZoneInfo(self.zone))
        # reverse=True yields fire times strictly before its start: nudge past now.
        last: datetime = next(CronSim(self.cron, local + timedelta(seconds=1), reverse=True))
        start = last.astimezone(now.tzinfo)
        return start if start + timedelta(minutes=self.duration_minutes) > now else None


@dataclass(frozen=True)
class HeartbeatVerdict:
    """What the dead-man check found."""

    state: str
    beat_at: datetime | None
    age_seconds: float | None
    stale: bool
    alert_id: int | None


def check(
    conn: sqlite3.Connection,
    now: datetime,
    stale_after: timedelta,
    routes: Sequence[outbox.Route],
    expected_since: datetime | None = None,
    window: timedelta = timedelta(hours=1),
) -> HeartbeatVerdict:
    """Raise the dead-man alert (once per silent death) when a running session went quiet.

    expected_since: start of the scheduled session window covering now; a session that has
    not beaten since (plus stale_after of grace to start) is reported missing, once per
    dedup window.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        verdict = _check(conn, now, stale_after, routes)
        if expected_since is not None and not verdict.stale:
            verdict = _check_missing(conn, verdict, now, stale_after, routes, expected_since,
                                     window)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return verdict


def _check(
    conn: sqlite3.Connection, now: datetime, stale_after: timedelta,
    routes: Sequence[outbox.Route],
) -> HeartbeatVerdict:
    row = conn.execute(
        "SELECT pid, state, beat_at, reported_at FROM heartbeats WHERE name = ?", (SESSION,)
    ).fetchone()
    if row is None:
        return HeartbeatVerdict("never", None, None, False, None)
    pid, state, beat_text, reported = row
    beat_at = parse_utc(beat_text)
    age = (now - beat_at).total_seconds()
    stale = state == "running" and age > stale_after.total_seconds()
    alert_id = None
    if stale and reported is None:
        facts = heartbeat_alert(pid, beat_at, now, stale_after.total_seconds())
        alert_id = outbox.insert_alert(conn, facts, format_utc(now), routes)
        conn.execute(
            "UPDATE heartbeats SET reported_at = ? WHERE name = ?", (format_utc(now), SESSION)
        )
        log.error("heartbeat_stale pid=%s last_beat=%s age_seconds=%.0f alert_id=%d",
                  pid, beat_text, age, alert_id)
    return HeartbeatVerdict(str(state), beat_at, age, stale, alert_id)


def _check_missing(
    conn: sqlite3.Connection,
    verdict: HeartbeatVerdict,
    now: datetime,
    grace: timedelta,
    routes: Sequence[outbox.Route],
    expected_since: datetime,
    window: timedelta,
) -> HeartbeatVerdict:
    if now - expected_since <= grace:
        return verdict  # the session may still be starting
    if verdict.state == "running" or (
        verdict.beat_at is not None and verdict.beat_at >= expected_since
    ):
        return verdict
    facts = missing_session_alert(expected_since, verdict.beat_at, now)
    alert_id = outbox.record(conn, facts, format_utc(now), routes, window)
    if alert_id is not None:
        log.error("session_missing expected_since=%s last_beat=%s alert_id=%d",
                  expected_since.isoformat(), verdict.beat_at, alert_id)
    return HeartbeatVerdict(verdict.state, verdict.beat_at, verdict.age_seconds, True, alert_id)
