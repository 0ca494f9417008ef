"""Delivery off the trading path: one thread per channel reads the outbox and sends.

A hung endpoint blocks only its own channel's thread, and only for Apprise's cto + rto.
The trading loop never waits for a delivery: it only writes outbox rows in its own commit.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from engine.clock import Clock, SystemClock
from tradeguard.alerting import deliveries as d
from tradeguard.alerting import outbox
from tradeguard.alerting.model import Delivery, RenderedMessage, SendResult
from tradeguard.alerting.render import render
from tradeguard.store.serialize import format_utc

log = logging.getLogger(__name__)

Send = Callable[[str, RenderedMessage], SendResult]
POLL_SECONDS = 0.02
HOUSEKEEPING_SECONDS = 0.5
ERROR_PAUSE_SECONDS = 1.0


@dataclass(frozen=True)
class WorkerConfig:
    """What the delivery worker needs besides the channels' senders."""

    db_path: Path
    channels: tuple[str, ...]
    routes: tuple[outbox.Route, ...]
    retry: d.RetryPolicy
    zone: str
    ack_timeout: timedelta
    escalation_channels: tuple[str, ...]
    send_bound_seconds: float


def connect(path: Path) -> sqlite3.Connection:
    """Open a short-lived autocommit connection to the state store for the outbox."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def deliver_one(conn: sqlite3.Connection, delivery: Delivery, send: Send, config: WorkerConfig,
                clock: Clock) -> bool:
    """Claim, render, send and record one delivery; return True when it went out."""
    if not d.claim(conn, delivery.delivery_id, clock.now()):
        return False
    alert = outbox.load_alert(conn, delivery.alert_id)
    if alert is None:  # cannot happen with foreign keys; never loop on it
        d.mark_failed(conn, delivery, "alert row missing", clock.now(), config.retry)
        return False
    result = send(delivery.channel, render(alert, config.zone, escalated=delivery.round > 0))
    if result.ok:
        d.mark_delivered(conn, delivery.delivery_id, clock.now())
        log.info("alert_delivered id=%d channel=%s round=%d attempt=%d seconds=%.3f",
                 alert.alert_id, delivery.channel, delivery.round, delivery.attempts + 1,
                 result.seconds)
        return True
    status = d.mark_failed(conn, delivery, result.error, clock.now(), config.retry)
    log.warning("alert_delivery_failed id=%d channel=%s attempt=%d status=%s error=%s",
                alert.alert_id, delivery.channel, delivery.attempts + 1, status, result.error)
    return False


def housekeeping(conn: sqlite3.Connection, config: WorkerConfig, clock: Clock) -> list[int]:
    """Escalate unacknowledged alerts and release deliveries a dead process left claimed."""
    now = clock.now()
    d.release_stale(conn, now - timedelta(seconds=config.send_bound_seconds * 2 + 1))
    if not config.escalation_channels or not d.escalation_due(conn, now, config.ack_timeout):
        return []
    conn.execute("BEGIN IMMEDIATE")
    try:
        ids = d.escalate_due(conn, now, config.ack_timeout, config.escalation_channels)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    for alert_id in ids:
        log.warning("alert_escalated id=%d channels=%s", alert_id,
                    ",".join(config.escalation_channels))
    return ids


def deliver_pending(config: WorkerConfig, send: Send, clock: Clock,
                    timeout: float) -> dict[str, int]:
    """Deliver every due alert now (channels in parallel, bounded); return sent per channel."""
    conn = connect(config.db_path)
    try:
        housekeeping(conn, config, clock)
    finally:
        conn.close()
    sent: dict[str, int] = dict.fromkeys(config.channels, 0)

    def run(channel: str) -> None:
        own = connect(config.db_path)
        try:
            while True:
                batch = d.due(own, channel, clock.now())
                if not batch:
                    return
                sent_any = [deliver_one(own, row, send, config, clock) for row in batch]
                sent[channel] += sum(sent_any)
        finally:
            own.close()

    threads = [threading.Thread(target=run, args=(c,), daemon=True, name=f"alerts-{c}")
               for c in config.channels]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return sent


class DeliveryWorker:
    """Background delivery while a session runs; drain() waits a bounded time at the end.

    One dispatcher thread watches the outbox (`PRAGMA data_version`, which reads no table)
    and hands due deliveries to one sender thread per channel; a sender blocked on a hung
    endpoint holds no lock and gets no new work until its send returns.
    """

    def __init__(
        self,
        config: WorkerConfig,
        send: Send,
        clock: Clock | None = None,
        warm: Callable[[], None] | None = None,
    ) -> None:
        self._config = config
        self._send = send
        self._clock = clock or SystemClock()
        self._warm = warm
        self._stop = threading.Event()
        self._dirty = threading.Event()
        self._busy_lock = threading.Lock()
        self._in_flight: set[str] = set()
        self._queues: dict[str, queue.SimpleQueue[list[Delivery] | None]] = {
            c: queue.SimpleQueue() for c in config.channels
        }
        self._threads: list[threading.Thread] = []
        self._seen = -1
        self._retry_at: datetime | None = None

    def start(self) -> None:
        """Start the dispatcher, one sender per channel, and the escalation thread."""
        for channel in self._config.channels:
            self._threads.append(threading.Thread(
                target=self._sender, args=(channel,), daemon=True, name=f"alerts-{channel}"
            ))
        self._threads.append(
            threading.Thread(target=self._dispatch, daemon=True, name="alerts-dispatch")
        )
        self._threads.append(
            threading.Thread(target=self._housekeeping_loop, daemon=True, name="alerts-escalate")
        )
        for thread in self._threads:
            thread.start()

    def _run(self, name: str, step: Callable[[sqlite3.Connection], None]) -> None:
        """Repeat step until stopped; a database error pauses, reconnects, and goes on."""
        while not self._stop.is_set():
            conn: sqlite3.Connection | None = None
            try:
                conn = connect(self._config.db_path)
                while not self._stop.is_set():
                    step(conn)
            except sqlite3.Error as e:
                log.error("alert_worker_error thread=%s error=%s", name, e)  # noqa: TRY400
                self._stop.wait(ERROR_PAUSE_SECONDS)
            finally:
                if conn is not None:
                    conn.close()

    def _dispatch(self) -> None:
        if not self._config.channels:
            return
        if self._warm is not None:
            self._warm()  # load the channel plugins now, not on the first alert
        self._run("dispatch", self._dispatch_step)

    def _dispatch_step(self, conn: sqlite3.Connection) -> None:
        version = int(conn.execute("PRAGMA data_version").fetchone()[0])
        now = self._clock.now()
        due_retry = self._retry_at is not None and self._retry_at <= now
        if version != self._seen or due_retry or self._dirty.is_set():
            self._dirty.clear()
            self._seen = version
            self._hand_out(conn, now)
            self._retry_at = d.next_due(conn, self._config.channels)
        self._stop.wait(POLL_SECONDS)

    def _hand_out(self, conn: sqlite3.Connection, now: datetime) -> None:
        for channel in self._config.channels:
            with self._busy_lock:
                if channel in self._in_flight:
                    continue
            rows = d.due(conn, channel, now)
            if rows:
                with self._busy_lock:
                    self._in_flight.add(channel)
                self._queues[channel].put(rows)

    def _sender(self, channel: str) -> None:
        inbox = self._queues[channel]

        def step(conn: sqlite3.Connection) -> None:
            rows = inbox.get()
            try:
                for row in rows or ():
                    if self._stop.is_set():
                        break
                    deliver_one(conn, row, self._send, self._config, self._clock)
            finally:
                with self._busy_lock:
                    self._in_flight.discard(channel)
                self._dirty.set()  # look again: more may have queued meanwhile

        self._run(f"send-{channel}", step)

    def _housekeeping_loop(self) -> None:
        def step(conn: sqlite3.Connection) -> None:
            if not self._stop.wait(HOUSEKEEPING_SECONDS):
                housekeeping(conn, self._config, self._clock)

        self._run("escalate", step)

    def drain(self, timeout: float) -> int:
        """Flush held-back counts, wait until nothing is due or timeout; return pending left.

        Runs as the session ends, maybe while it ends on a store error: a store it cannot
        use now (locked by another process, gone) is logged, never raised over that error;
        what stays in the outbox goes out with the next session or `tradeguard alerts`.
        Returns -1 when the outbox could not be read.
        """
        try:
            left = self._drain(timeout)
        except sqlite3.Error as e:
            log.warning("alert_drain_failed store=%s error=%s", self._config.db_path, e)
            return -1
        finally:
            self.stop()
        if left:
            log.warning("alert_drain_incomplete pending=%d", left)
        return left

    def _drain(self, timeout: float) -> int:
        conn = connect(self._config.db_path)
        try:
            _flush(conn, self._config, format_utc(self._clock.now()))
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and _busy(conn, self._config.channels,
                                                         format_utc(self._clock.now())):
                time.sleep(POLL_SECONDS)
            return _open_count(conn, self._config.channels)
        finally:
            conn.close()

    def stop(self) -> None:
        """Stop the threads; a send in flight ends within its channel timeouts (daemon)."""
        self._stop.set()
        for inbox in self._queues.values():
            inbox.put(None)
        for thread in self._threads:
            thread.join(0.05)


def _flush(conn: sqlite3.Connection, config: WorkerConfig, now: str) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        outbox.flush_suppressed(conn, now, config.routes)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _busy(conn: sqlite3.Connection, channels: Sequence[str], now: str) -> bool:
    if not channels:
        return False
    marks = ",".join("?" for _ in channels)
    row = conn.execute(
        f"SELECT 1 FROM alert_deliveries WHERE channel IN ({marks}) AND (status = 'sending' "
        "OR (status = 'pending' AND next_attempt_at <= ?)) LIMIT 1",
        (*channels, now),
    ).fetchone()
    return row is not None


def _open_count(conn: sqlite3.Connection, channels: Sequence[str]) -> int:
    if not channels:
        return 0
    marks = ",".join("?" for _ in channels)
    row = conn.execute(
        f"SELECT COUNT(*) FROM alert_deliveries WHERE status IN ('pending', 'sending') "
        f"AND channel IN ({marks})",
        tuple(channels),
    ).fetchone()
    return int(row[0])
