"""Breaker events become Prefect events; deployments carry the configured schedules."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from deployments.register import deployment_specs
from engine.errors import ConfigurationError
from engine.events import BreakerTransitioned, OrderDenied
from engine.model import Side
from flows._common import build_request, parse_data_spec
from tasks.events import breaker_event_listener
from tradeguard.settings import load_settings

AT = datetime(2022, 1, 21, 21, 30, tzinfo=UTC)


def test_breaker_transition_to_halt_emits_halt_event_for_the_session_resource(
    tmp_path: Path,
) -> None:
    sent: list[dict[str, Any]] = []
    listen = breaker_event_listener(tmp_path / "desk-a", emit=lambda **kw: sent.append(kw))
    listen(BreakerTransitioned(AT, "THROTTLE", "HALT", "consecutive_failures", 5.0, 5.0, "x"))
    listen(OrderDenied(AT, "c1", "BTC", Side.BUY, 1.0, "breaker", "halted"))

    assert len(sent) == 1
    event = sent[0]
    assert event["event"] == "tradeguard.breaker.halt"
    assert event["resource"]["prefect.resource.id"] == "tradeguard.session.desk-a"
    assert event["payload"]["from"] == "THROTTLE"
    assert event["payload"]["to"] == "HALT"
    assert event["payload"]["observed"] == 5.0
    assert event["payload"]["at"] == AT.isoformat()
    assert event["payload"]["state_dir"] == str((tmp_path / "desk-a").resolve())


def test_event_bus_failure_does_not_propagate_into_the_session(tmp_path: Path) -> None:
    def broken(**_: Any) -> None:
        raise ConnectionError("prefect api down")

    listen = breaker_event_listener(tmp_path, emit=broken)
    listen(BreakerTransitioned(AT, "CLOSED", "ALERT", "latency"))  # must not raise


def test_data_spec_accepts_bare_path_and_symbol_prefix() -> None:
    assert parse_data_spec("/d/btc-perp_ftx_1m.csv.gz").symbol == "BTC-PERP"
    spec = parse_data_spec("XBT=/d/btc-usd_coinbase_1m.csv.gz")
    assert (spec.symbol, spec.path) == ("XBT", Path("/d/btc-usd_coinbase_1m.csv.gz"))


def test_duration_without_start_is_refused_with_the_field_named() -> None:
    with pytest.raises(ConfigurationError, match="duration_minutes"):
        build_request(["/d/x.csv.gz"], duration_minutes=60)


def test_duration_counts_from_start() -> None:
    request = build_request(["/d/x.csv.gz"], start=AT, duration_minutes=90)
    assert request.end is not None
    assert (request.end - AT).total_seconds() == 90 * 60


def test_deployments_use_configured_crons_timezone_and_halt_trigger(tmp_path: Path) -> None:
    settings = load_settings(
        None,
        store={"state_dir": tmp_path},
        replay={"data_dir": tmp_path},
        orchestration={"schedule_timezone": "Europe/Zurich", "cleanup_cron": "*/15 * * * *"},
    )
    specs = {(s.entrypoint.rsplit(":", 1)[1], s.name): s for s in deployment_specs(settings)}

    assert set(specs) == {
        ("trading_session", "daily"),
        ("live_session", "live"),
        ("daily_reset", "daily"),
        ("validation_24h", "weekly"),
        ("state_cleanup", "hourly"),
        ("incident_report", "on-breaker-halt"),
        ("halt", "operator"),
        ("resume", "operator"),
        ("recover", "operator"),
        ("alerts_heartbeat", "dead-man"),
        ("alerts_flow_run", "on-failed-run"),
    }
    cleanup = specs[("state_cleanup", "hourly")].schedules[0]
    assert (cleanup.cron, cleanup.timezone) == ("*/15 * * * *", "Europe/Zurich")
    session = specs[("trading_session", "daily")]
    assert session.parameters["duration_minutes"] == settings.orchestration.session_duration_minutes
    assert session.parameters["realtime"] is True
    trigger = specs[("incident_report", "on-breaker-halt")].triggers[0]
    assert trigger.expect == {"tradeguard.breaker.halt", "tradeguard.breaker.shutdown"}
    assert not specs[("halt", "operator")].schedules
    assert all(s.parameters["state_dir"] == str(tmp_path) for s in specs.values())
    # One run at a time per state directory for sessions, live or replayed, and incidents.
    for key in [("trading_session", "daily"), ("live_session", "live"),
                ("incident_report", "on-breaker-halt")]:
        assert specs[key].concurrency_limit == 1, key
    assert specs[("live_session", "live")].parameters["paper"] is True
    for spec in specs.values():  # the UI shows times in the viewer's zone: say which one
        for schedule in spec.schedules:
            assert "in Europe/Zurich" in spec.description, spec.description
            assert schedule.slug is not None and schedule.slug.endswith("europe-zurich")


def test_every_flow_parameter_has_a_description() -> None:
    from prefect.utilities.callables import parameter_schema

    from flows import (
        daily_reset,
        incident_report,
        live_session,
        operator,
        state_cleanup,
        trading_session,
        validation_24h,
    )

    flows = [daily_reset.daily_reset, incident_report.incident_report, live_session.live_session,
             operator.halt, operator.resume, operator.recover, state_cleanup.state_cleanup,
             trading_session.trading_session, validation_24h.validation_24h]
    for flow in flows:
        schema = parameter_schema(flow.fn)
        missing = [n for n, p in schema.properties.items() if not p.get("description")]
        assert not missing, f"{flow.name}: {missing}"


@pytest.mark.parametrize("pool_type", ["docker", "kubernetes"])
def test_a_docker_or_kubernetes_work_pool_is_registered_from_settings(pool_type: str) -> None:
    from prefect.client.orchestration import get_client

    from deployments.register import ensure_work_pool

    name = f"tradeguard-{pool_type}-test"
    assert ensure_work_pool(name, pool_type) is True
    assert ensure_work_pool(name, pool_type) is False  # idempotent
    with get_client(sync_client=True) as client:
        pool = client.read_work_pool(name)
    assert pool.type == pool_type
    assert "job_configuration" in pool.base_job_template
    assert "image" in pool.base_job_template["variables"]["properties"]


def test_the_work_pool_type_setting_is_validated(tmp_path: Path) -> None:
    from engine.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="work_pool_type"):
        load_settings(None, store={"state_dir": tmp_path},
                      orchestration={"work_pool_type": "ecs"})
