"""The entry point picks Prefect's API: explicit URL, a local server that answers, else its own."""

from __future__ import annotations

import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from entrypoints.prefect_api import configure_prefect_api, prefect_api
from tradeguard.settings import load_settings


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/api/health" else 404)
        self.end_headers()
        self.wfile.write(b"true")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("PREFECT_", "TRADEGUARD_")):
            monkeypatch.delenv(name)


def test_a_local_server_that_answers_is_reused_and_prefect_is_quieted(
    tmp_path: Path, health_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(None, store={"state_dir": tmp_path},
                             orchestration={"server_port": health_server})
    monkeypatch.setenv("PREFECT_LOGGING_LEVEL", "DEBUG")  # the user's choice wins

    with prefect_api(settings, "WARNING") as started:
        assert started is None  # nothing of our own was started
        assert os.environ["PREFECT_API_URL"] == f"http://127.0.0.1:{health_server}/api"
    assert os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert os.environ["PREFECT_LOGGING_LEVEL"] == "DEBUG"


def test_an_explicit_api_url_always_wins(tmp_path: Path, health_server: int,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    settings = load_settings(None, store={"state_dir": tmp_path},
                             orchestration={"server_port": health_server})
    configure_prefect_api(settings, "INFO")
    assert os.environ["PREFECT_API_URL"] == "http://127.0.0.1:9/api"
    assert os.environ["PREFECT_LOGGING_LEVEL"] == "INFO"


def test_without_a_server_a_temporary_one_is_started_and_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    settings = load_settings(None, store={"state_dir": tmp_path},
                             orchestration={"server_port": 9})  # nothing listens there

    with prefect_api(settings) as started:
        assert started is not None
        started.wait_ready()
        assert os.environ["PREFECT_API_URL"] == started.api_url
    assert started.process.poll() is not None  # stopped with the block
    assert "PREFECT_API_URL" not in os.environ
