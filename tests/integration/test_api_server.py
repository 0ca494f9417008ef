"""The control API against a real uvicorn server on loopback, driven with httpx."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from engine.errors import ConfigurationError
from entrypoints.api import RateLimiter, create_app
from tradeguard import services
from tradeguard.bootstrap import bootstrap, store_path
from tradeguard.cockpit.config import ApiConfig
from tradeguard.cockpit.local import LocalControl
from tradeguard.requests import DataSpec, ReplayRequest
from tradeguard.settings import load_settings

READ = "r" * 32
OPERATE = "o" * 32


class Clock:
    """A monotonic clock the test moves by hand (rate-limit windows without sleeping)."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    state = tmp_path_factory.mktemp("api") / "state"
    settings = load_settings(store={"state_dir": state})
    start = datetime(2022, 1, 21, 6, tzinfo=UTC)
    request = ReplayRequest((DataSpec(data_dir / "btc-perp_ftx_1m.csv.gz", "BTC-PERP"),),
                            start, start.replace(hour=9))
    services.run_session(bootstrap(settings), request)
    return state


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def base_url(state_dir: Path, clock: Clock) -> Iterator[str]:
    settings = load_settings(store={"state_dir": state_dir})
    config = ApiConfig.model_validate({
        "operate_per_minute": 600,
        "tokens": [
            {"name": "viewer", "token": READ, "scope": "read"},
            {"name": "ops", "token": OPERATE, "scope": "operate"},
        ],
    })
    app = create_app(LocalControl(bootstrap(settings)), config, now=clock)
    with serving(app) as url:
        yield url


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Run app on a real uvicorn server on a free loopback port."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:  # readiness, not timing: bounded by the deadline
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_missing_or_wrong_tokens_get_401_and_read_scope_cannot_operate(base_url: str) -> None:
    with httpx.Client(base_url=base_url) as http:
        missing = http.get("/status")
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        assert http.get("/status", headers=auth("x" * 32)).status_code == 401
        assert http.get("/status", headers={"Authorization": f"Basic {READ}"}).status_code == 401
        refused = http.post("/halt", json={"reason": "test"}, headers=auth(READ))
        assert refused.status_code == 403
        assert "operate" in refused.json()["detail"]


def test_status_metrics_transitions_and_issues_read_the_state(base_url: str) -> None:
    with httpx.Client(base_url=base_url, headers=auth(READ)) as http:
        status = http.get("/status").json()
        assert status["breaker"]["state"] in {"CLOSED", "ALERT", "HALT", "HALF_OPEN"}
        assert status["counters"]["bars"] > 100
        text = http.get("/metrics").text
        assert "tradeguard_breaker_state{state=\"" + status["breaker"]["state"] + "\"} 1.0" in text
        assert f"tradeguard_bars {float(status['counters']['bars'])}" in text
        assert isinstance(http.get("/transitions", params={"limit": 5}).json(), list)
        assert isinstance(http.get("/issues", params={"minutes": 600}).json(), list)
        bad = http.get("/issues", params={"minutes": "soon"})
        assert bad.status_code == 422
        assert bad.json()["detail"][0]["loc"] == ["query", "minutes"]
        assert http.get("/docs").status_code == 200
        assert "/override" in http.get("/openapi.json").json()["paths"]


def test_halt_then_override_off_is_applied_and_audited_with_the_token_name(
    base_url: str, state_dir: Path
) -> None:
    with httpx.Client(base_url=base_url, headers=auth(OPERATE)) as http:
        halted = http.post("/halt", json={"reason": "maintenance window"})
        assert halted.status_code == 200, halted.text
        assert halted.json()["applied"] is True and halted.json()["state"] == "HALT"
        assert http.get("/status").json()["breaker"]["state"] == "HALT"
        released = http.post("/override", json={"enabled": False, "reason": "done"})
        assert released.status_code == 200 and released.json()["state"] == "HALF_OPEN"
    db = sqlite3.connect(store_path(state_dir))
    try:
        who = [r[0] for r in db.execute("SELECT who FROM operator_actions")]
    finally:
        db.close()
    assert "api:ops" in who


@pytest.mark.parametrize("body, field", [
    ({}, "reason"),
    ({"reason": ""}, "reason"),
    ({"reason": "   "}, "reason"),
    ({"reason": "two\nlines"}, "reason"),
    ({"reason": "ok", "force": True}, "force"),
])
def test_malformed_bodies_get_422_naming_the_field(base_url: str, body: dict, field: str) -> None:
    with httpx.Client(base_url=base_url, headers=auth(OPERATE)) as http:
        response = http.post("/recover", json=body)
    assert response.status_code == 422
    assert field in [str(part) for err in response.json()["detail"] for part in err["loc"]]


def test_override_needs_its_enabled_flag(base_url: str) -> None:
    with httpx.Client(base_url=base_url, headers=auth(OPERATE)) as http:
        response = http.post("/override", json={"reason": "x"})
    assert response.status_code == 422


def test_the_rate_limiter_windows_per_token_on_its_own_clock(clock: Clock) -> None:
    limiter = RateLimiter(3, clock)
    assert [limiter.admit("a") for _ in range(3)] == [None, None, None]
    wait = limiter.admit("a")
    assert wait is not None and 0 < wait <= 60
    assert limiter.admit("b") is None
    clock.t += 61
    assert limiter.admit("a") is None


def test_a_limited_server_answers_429_with_retry_after(state_dir: Path, clock: Clock) -> None:
    settings = load_settings(store={"state_dir": state_dir})
    config = ApiConfig.model_validate({
        "operate_per_minute": 2,
        "tokens": [{"name": "ops", "token": OPERATE, "scope": "operate"}],
    })
    app = create_app(LocalControl(bootstrap(settings)), config, now=clock)
    with serving(app) as url, httpx.Client(base_url=url) as http:
        codes = [http.post("/resume", json={"reason": "r"}, headers=auth(OPERATE)).status_code
                 for _ in range(3)]
        assert codes[:2] == [200, 200] and codes[2] == 429
        retry = http.post("/resume", json={"reason": "r"}, headers=auth(OPERATE))
        assert int(retry.headers["retry-after"]) >= 1


def test_concurrent_actions_are_all_applied_and_none_is_lost(
    base_url: str, state_dir: Path
) -> None:
    def call(i: int) -> int:
        path, body = ("/halt", {"reason": f"c{i}"}) if i % 2 else ("/resume", {"reason": f"c{i}"})
        with httpx.Client(base_url=base_url, headers=auth(OPERATE), timeout=60) as http:
            return http.post(path, json=body).status_code

    db = sqlite3.connect(store_path(state_dir))
    try:
        before = db.execute("SELECT COUNT(*) FROM operator_actions").fetchall()[0][0]
        with ThreadPoolExecutor(max_workers=8) as pool:
            codes = list(pool.map(call, range(16)))
        after = db.execute("SELECT COUNT(*) FROM operator_actions").fetchall()[0][0]
        pending = db.execute("SELECT COUNT(*) FROM commands WHERE done_at IS NULL").fetchall()
    finally:
        db.close()
    assert codes == [200] * 16
    assert after - before >= 16
    assert pending[0][0] == 0


def test_the_api_refuses_to_start_without_tokens(state_dir: Path) -> None:
    settings = load_settings(store={"state_dir": state_dir})
    with pytest.raises(ConfigurationError, match=r"api\.tokens"):
        create_app(LocalControl(bootstrap(settings)), ApiConfig())


def test_api_settings_refuse_short_tokens_remote_hosts_and_duplicates() -> None:
    with pytest.raises(ValueError, match="24 characters"):
        ApiConfig.model_validate({"tokens": [{"name": "a", "token": "short"}]})
    with pytest.raises(ValueError, match="not loopback"):
        ApiConfig.model_validate({"host": "0.0.0.0"})
    with pytest.raises(ValueError, match="unique"):
        ApiConfig.model_validate({"tokens": [{"name": "a", "token": READ},
                                             {"name": "a", "token": OPERATE}]})
    assert ApiConfig.model_validate({"host": "0.0.0.0", "allow_remote": True}).allow_remote
