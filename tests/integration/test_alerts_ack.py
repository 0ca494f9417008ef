"""Unacknowledged HALT alerts escalate after the configured time; acked ones and silences don't."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from engine.clock import SimulatedClock
from engine.events import BreakerTransitioned, IssueReported
from engine.ports import Batch
from tests.integration.alert_receivers import json_receiver
from tradeguard.alerting import service
from tradeguard.alerting.channels import resolve_channels
from tradeguard.alerting.config import AlertsConfig
from tradeguard.alerting.policy import AlertPolicy
from tradeguard.alerting.runtime import routes
from tradeguard.alerting.writer import OutboxWriter
from tradeguard.store.sqlite_store import SqliteStore

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
ACK_TIMEOUT = 600.0


def _config(page_port: int, boss_port: int) -> AlertsConfig:
    return AlertsConfig.model_validate({
        "channels": [
            {"name": "page", "url": f"json://127.0.0.1:{page_port}/p", "min_priority": "warning"},
            {"name": "boss", "url": f"json://127.0.0.1:{boss_port}/b", "min_priority": "emergency"},
        ],
        "escalation_channels": ["boss"],
        "ack_timeout_seconds": ACK_TIMEOUT,
    })


def _store(path: Path, config: AlertsConfig, clock: SimulatedClock) -> SqliteStore:
    store = SqliteStore(path, clock=clock)
    store.alert_hook = OutboxWriter(
        AlertPolicy(), routes(resolve_channels(config)),
        timedelta(seconds=config.dedup_window_seconds),
    )
    return store


def _halt(at: datetime) -> BreakerTransitioned:
    return BreakerTransitioned(at, "THROTTLE", "HALT", "consecutive_failures", 5.0, 5.0, "5 fail")


def test_unacked_halt_is_escalated_after_the_timeout_and_acked_one_is_not(tmp_path: Path) -> None:
    clock = SimulatedClock(T0)
    db = tmp_path / "state.db"
    with json_receiver() as (page_port, page), json_receiver() as (boss_port, boss):
        config = _config(page_port, boss_port)
        store = _store(db, config, clock)
        store.commit(Batch(transitions=[_halt(T0)]))
        clock.advance(timedelta(hours=2))  # leave the dedup window: a second, separate HALT
        store.commit(Batch(transitions=[_halt(clock.now())]))
        store.close()
        first, second = (s["id"] for s in service.status(db, clock.now())["unacked"])
        service.acknowledge(db, first, "alice", clock.now())

        service.deliver(config, "UTC", db, clock, timeout=10.0)
        clock.advance(timedelta(seconds=ACK_TIMEOUT - 1))
        service.deliver(config, "UTC", db, clock, timeout=10.0)
        early = boss.snapshot()
        clock.advance(timedelta(seconds=2))
        service.deliver(config, "UTC", db, clock, timeout=10.0)
        clock.advance(timedelta(hours=1))
        service.deliver(config, "UTC", db, clock, timeout=10.0)
        late = boss.snapshot()
        paged = page.snapshot()

    assert early == []
    assert [p["title"] for p in late] == [
        f"[ESCALATED] [CRITICAL] tradeguard: breaker escalated THROTTLE -> HALT (#{second})"
    ]
    assert "ESCALATED: not acknowledged in time" in late[0]["message"]
    assert f"tradeguard alerts ack {second}" in late[0]["message"]
    assert len(paged) == 2  # the first send of both alerts, once each
    status = service.status(db, clock.now())
    assert [u["id"] for u in status["unacked"]] == [second]
    assert status["unacked"][0]["escalated_at"] is not None


def test_silence_mutes_a_condition_but_never_a_shutdown_and_is_audited(tmp_path: Path) -> None:
    clock = SimulatedClock(T0)
    db = tmp_path / "state.db"
    with json_receiver() as (page_port, page), json_receiver() as (boss_port, _):
        config = _config(page_port, boss_port)
        store = _store(db, config, clock)
        store.commit(Batch())  # create the store before silencing
        silence = service.add_silence(db, "breaker:*", timedelta(hours=1), "maintenance",
                                      "bob", clock.now())
        # The store's clock is the wall clock of the silence check.
        store.commit(Batch(transitions=[
            BreakerTransitioned(T0, "CLOSED", "ALERT", "api_latency", 700.0, 500.0, "slow"),
            BreakerTransitioned(T0, "HALT", "SHUTDOWN", "critical_issue", None, None, "corrupt"),
        ], issues=[IssueReported(T0, "DATA_FEED", {"kind": "gap"})]))
        clock.advance(timedelta(hours=2))  # the silence has ended
        store.commit(Batch(transitions=[
            BreakerTransitioned(clock.now(), "CLOSED", "ALERT", "api_latency", 800.0, 500.0, "x")
        ]))
        store.close()
        service.deliver(config, "UTC", db, clock, timeout=10.0)
        titles = [p["title"] for p in page.snapshot()]

    assert sum("CLOSED -> ALERT" in t for t in titles) == 1  # only the one after the silence
    assert sum("HALT -> SHUTDOWN" in t for t in titles) == 1  # never muted
    assert sum("data feed issue" in t for t in titles) == 1  # other conditions unaffected
    status = service.status(db, clock.now())
    assert status["channels"]["page"]["muted"] == 1
    assert status["silences"] == []  # expired
    with sqlite3.connect(db) as conn:
        audit = conn.execute("SELECT action, who, reason FROM operator_actions").fetchall()
        muted = conn.execute(
            "SELECT condition, silenced_by FROM alert_outbox WHERE silenced_by IS NOT NULL"
        ).fetchall()
    assert audit == [("alerts-silence", "bob", f"#{silence.silence_id} breaker:* until "
                      f"{(T0 + timedelta(hours=1)).isoformat(timespec='microseconds')}: "
                      "maintenance")]
    assert muted == [("breaker:ALERT", silence.silence_id)]
