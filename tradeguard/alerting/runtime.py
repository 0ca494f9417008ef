"""Wiring for the composition root: commit hook, delivery worker and heartbeat of a session."""

from __future__ import annotations

import logging
import sqlite3
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.clock import Clock, SystemClock
from tradeguard.alerting import deliveries as d
from tradeguard.alerting.channels import AppriseSender, Channel, resolve_channels
from tradeguard.alerting.config import AlertsConfig
from tradeguard.alerting.heartbeat import HeartbeatJournal, HeartbeatRecorder
from tradeguard.alerting.outbox import Route
from tradeguard.alerting.policy import AlertPolicy, EngineFacts
from tradeguard.alerting.worker import DeliveryWorker, WorkerConfig, connect
from tradeguard.alerting.writer import OutboxWriter

if TYPE_CHECKING:
    from tradeguard.settings import Settings

log = logging.getLogger(__name__)


def routes(channels: list[Channel]) -> tuple[Route, ...]:
    """Return the URL-free routing view of the channels."""
    return tuple(c.route for c in channels)


def engine_facts(settings: Settings) -> EngineFacts:
    """Return the engine settings an alert quotes."""
    return EngineFacts(
        throttle_size_factor=settings.breaker.throttle_size_factor,
        throttle_min_confidence=settings.breaker.throttle_min_confidence,
        flatten_on_halt=settings.session.flatten_on_halt,
        shadow_mode=settings.breaker.shadow_mode,
        halt_recovery=settings.breaker.halt_recovery,
        halt_cooldown_seconds=settings.breaker.halt_cooldown_seconds,
    )


def worker_config(
    config: AlertsConfig, channels: list[Channel], db_path: Path, zone: str
) -> WorkerConfig:
    """Return the delivery worker's configuration."""
    return WorkerConfig(
        db_path=db_path,
        channels=tuple(c.name for c in channels),
        routes=routes(channels),
        retry=d.RetryPolicy(config.retry_base_seconds, config.retry_cap_seconds,
                            config.max_attempts),
        zone=zone,
        ack_timeout=timedelta(seconds=config.ack_timeout_seconds),
        escalation_channels=tuple(config.escalation_channels),
        send_bound_seconds=config.connect_timeout_seconds + config.read_timeout_seconds,
    )


def sender(config: AlertsConfig, channels: list[Channel]) -> AppriseSender:
    """Return the Apprise sender bounded by the configured cto/rto."""
    return AppriseSender(channels, config.connect_timeout_seconds, config.read_timeout_seconds)


@dataclass
class SessionAlerting:
    """What a running session holds of alerting; wrap_journal() adds the heartbeat."""

    worker: DeliveryWorker
    heartbeat: HeartbeatRecorder
    writer: OutboxWriter

    def wrap_journal(self, journal: Any) -> Any:
        """Return the journal whose per-bar command poll also records the heartbeat."""
        return HeartbeatJournal(journal, self.heartbeat)


def start_session_alerting(
    settings: Settings, store: Any, stack: ExitStack, clock: Clock | None = None
) -> SessionAlerting:
    """Hook the outbox into store.commit, start delivery and heartbeat; stack drains them."""
    config = settings.alerts
    channels = resolve_channels(config)
    wall = clock or SystemClock()
    db_path = Path(store.path)
    writer = OutboxWriter(
        AlertPolicy(engine_facts(settings)),
        routes(channels),
        timedelta(seconds=config.dedup_window_seconds),
    )
    store.alert_hook = writer
    stack.callback(setattr, store, "alert_hook", None)
    apprise_sender = sender(config, channels)
    worker = DeliveryWorker(
        worker_config(config, channels, db_path, settings.orchestration.schedule_timezone),
        apprise_sender.send,
        wall,
        apprise_sender.warm,
    )
    _check_heartbeat_reach(settings)
    heartbeat = HeartbeatRecorder(lambda: connect(db_path), wall, config.heartbeat_every_seconds)
    try:
        heartbeat.start()
    except sqlite3.Error as e:
        log.warning("heartbeat_start_failed error=%s", e)
    stack.callback(heartbeat.stop)
    worker.start()
    stack.callback(worker.drain, config.drain_timeout_seconds)
    return SessionAlerting(worker, heartbeat, writer)


def _check_heartbeat_reach(settings: Settings) -> None:
    # The loop beats when it polls commands, once per N bars: a real-time session polling
    # less often than the stale limit would look dead to the dead-man check.
    between = settings.feed.bar_seconds * settings.session.command_poll_every_bars
    if between >= settings.alerts.heartbeat_stale_seconds:
        log.warning(
            "heartbeat_interval_too_long poll_seconds=%.0f stale_seconds=%.0f "
            "fix=raise alerts.heartbeat_stale_seconds or lower session.command_poll_every_bars",
            between, settings.alerts.heartbeat_stale_seconds,
        )
