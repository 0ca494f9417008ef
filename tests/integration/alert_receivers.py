"""Real loopback receivers for alert tests: an HTTP server for json:// and an SMTP server."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    """Return a loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Received:
    """Messages a receiver got, thread-safe."""

    items: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.arrived = threading.Condition(self.lock)

    def add(self, item: dict[str, Any]) -> None:
        with self.arrived:
            self.items.append(item)
            self.arrived.notify_all()

    def wait_for(self, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Block until `count` messages arrived (or timeout); return a copy."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.items) >= count, timeout)
            return list(self.items)

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.items)


@contextmanager
def json_receiver(port: int | None = None) -> Iterator[tuple[int, Received]]:
    """Serve json:// posts on 127.0.0.1; yield (port, received)."""
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            payload = json.loads(self.rfile.read(length))
            received.add({"path": self.path, **payload})
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", port or 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1]), received
    finally:
        server.shutdown()
        server.server_close()


class _Mailbox:
    def __init__(self, received: Received) -> None:
        self.received = received

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        plain = parsed.get_body(preferencelist=("plain",))
        html = parsed.get_body(preferencelist=("html",))
        self.received.add({
            "from": envelope.mail_from,
            "to": list(envelope.rcpt_tos),
            "subject": str(parsed["subject"]),
            "text": plain.get_content() if plain is not None else "",
            "html": html.get_content() if html is not None else "",
        })
        return "250 OK"


@contextmanager
def smtp_receiver() -> Iterator[tuple[int, Received]]:
    """Serve SMTP on 127.0.0.1 with aiosmtpd; yield (port, received)."""
    received = Received()
    port = free_port()
    controller = Controller(_Mailbox(received), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, received
    finally:
        controller.stop()


@contextmanager
def hanging_receiver() -> Iterator[int]:
    """Accept connections and never answer; yield the port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(50)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join(1)
        for conn in held:
            conn.close()
        server.close()


FTX = "btc-perp_ftx_1m.csv.gz"
REJECT_PLAN = (
    '[[fault]]\nstart = "2022-01-21T09:13:00Z"\nend = "2022-01-21T09:23:00Z"\nreject_rate = 1.0\n'
)
# Fast SMA pairs trade often enough for ten minutes of rejects to walk the breaker up to HALT.
ENGINE_TOML = """
[strategy]
pairs = [[2, 5], [3, 7], [4, 9], [5, 11]]
confidence_scale_pct = 0.0001
[risk]
max_daily_trades = 1000
[orchestration]
schedule_timezone = "Europe/Paris"
"""


def channel_toml(name: str, url: str, min_priority: str, tags: list[str] | None = None) -> str:
    """Return one [[alerts.channels]] table."""
    lines = ["[[alerts.channels]]", f'name = "{name}"', f'url = "{url}"',
             f'min_priority = "{min_priority}"']
    if tags:
        lines.append("tags = [" + ", ".join(f'"{t}"' for t in tags) + "]")
    return "\n".join(lines) + "\n"


def alerts_toml(**fields: Any) -> str:
    """Return the [alerts] table with scalar fields (channels go after it)."""
    body = "\n".join(f"{k} = {json.dumps(v)}" for k, v in fields.items())
    return f"[alerts]\n{body}\n"
