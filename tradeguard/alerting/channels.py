"""Channels: Apprise URLs (secret) with a name, a minimum priority and tags; one send each."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import SecretStr

from engine.errors import ConfigurationError
from tradeguard.alerting.config import AlertsConfig, Priority
from tradeguard.alerting.model import AlertFacts, RenderedMessage, SendResult
from tradeguard.alerting.outbox import Route

log = logging.getLogger(__name__)

REDACTED = "***"
_MIN_SECRET = 3
_ERROR_CHARS = 300


@dataclass(frozen=True)
class Channel:
    """A resolved channel; only `name` ever leaves this process in clear."""

    name: str
    url: SecretStr
    min_priority: Priority
    tags: tuple[str, ...] = ()

    @property
    def route(self) -> Route:
        """Return what routing needs of this channel (no URL)."""
        return Route(self.name, self.min_priority, self.tags)

    def admits(self, facts: AlertFacts) -> bool:
        """Return True when this channel should receive the alert (priority, then tags)."""
        return self.route.admits(facts)


def with_timeouts(url: str, connect: float, read: float) -> str:
    """Append Apprise's cto/rto arguments to a URL that does not set them."""
    query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    extra = [f"{key}={value:g}" for key, value in (("cto", connect), ("rto", read))
             if key not in query]
    if not extra:
        return url
    joiner = "&" if "?" in url else "?"
    return url + joiner + "&".join(extra)


def _file_channels(path: Path, priority: Priority) -> list[Channel]:
    import apprise

    if not path.is_file():
        message = f"alerts.config_file {path} does not exist"
        raise ConfigurationError(message)
    config = apprise.AppriseConfig()
    if not config.add(str(path)):
        message = f"alerts.config_file {path} is not an Apprise configuration (YAML or TEXT)"
        raise ConfigurationError(message)
    bundle = apprise.Apprise()
    bundle.add(config)
    stem = re.sub(r"[^a-z0-9_-]", "", path.stem.lower()) or "file"
    channels = []
    for index, plugin in enumerate(bundle, start=1):
        url = SecretStr(str(plugin.url(privacy=False)))  # type: ignore[no-untyped-call]
        channels.append(Channel(f"{stem}{index}", url, priority, tuple(sorted(plugin.tags))))
    if not channels:
        message = f"alerts.config_file {path} defines no notification URL"
        raise ConfigurationError(message)
    return channels


def resolve_channels(config: AlertsConfig) -> list[Channel]:
    """Return every configured channel: named channels, urls shorthand, the config file."""
    channels = [Channel(c.name, c.url, c.min_priority, tuple(c.tags)) for c in config.channels]
    channels += [
        Channel(f"url{i}", url, config.default_min_priority)
        for i, url in enumerate(config.urls, start=1)
    ]
    if config.config_file is not None:
        channels += _file_channels(config.config_file, config.default_min_priority)
    names = [c.name for c in channels]
    unknown = [n for n in config.escalation_channels if n not in names]
    if unknown:
        message = f"alerts.escalation_channels names unknown channels: {', '.join(unknown)}"
        raise ConfigurationError(message)
    return channels


def secret_fragments(urls: Iterable[SecretStr]) -> list[str]:
    """Return every part of the URLs that could be secret (longest first), for redaction."""
    parts: set[str] = set()
    for secret in urls:
        raw = secret.get_secret_value()
        split = urlsplit(raw)
        parts.update({raw, raw.split("://", 1)[-1], split.netloc, split.path, split.query})
        parts.update({split.username or "", split.password or "", split.hostname or ""})
        parts.update(p for p in split.path.split("/"))
        parts.update(v for _, v in parse_qsl(split.query))
    parts |= {unquote(p) for p in parts}
    return sorted((p for p in parts if len(p) >= _MIN_SECRET), key=len, reverse=True)


class Redactor:
    """Replace every fragment of the channel URLs in a text (errors, log lines)."""

    def __init__(self, urls: Iterable[SecretStr]) -> None:
        self._fragments = secret_fragments(urls)

    def extend(self, other: Redactor) -> None:
        """Also redact what another redactor redacts (longest fragments first)."""
        merged = set(self._fragments) | set(other._fragments)
        self._fragments = sorted(merged, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        """Return text with every URL fragment replaced."""
        for fragment in self._fragments:
            text = text.replace(fragment, REDACTED)
        return text


class AppriseSender:
    """Send one rendered message to one channel through Apprise, bounded by cto/rto."""

    def __init__(self, channels: Sequence[Channel], connect: float, read: float) -> None:
        self._urls = {c.name: with_timeouts(c.url.get_secret_value(), connect, read)
                      for c in channels}
        self._redact = Redactor(c.url for c in channels)
        _quiet_apprise(self._redact)

    def warm(self) -> None:
        """Load Apprise and each channel's plugin (about a second, once per process)."""
        import apprise

        with _ThreadCapture():
            for url in self._urls.values():
                apprise.Apprise.instantiate(url)

    def send(self, channel: str, message: RenderedMessage) -> SendResult:
        """Deliver one message; never raises, the error comes back redacted."""
        import apprise

        started = time.perf_counter()
        url = self._urls.get(channel)
        if url is None:
            return SendResult(False, f"channel {channel} is not configured")
        with _ThreadCapture() as captured:
            try:
                # The plugin itself sends in this thread (Apprise() would dispatch to others,
                # and its error lines would escape this thread's capture).
                plugin = apprise.Apprise.instantiate(url)
                if plugin is None:
                    return SendResult(False, "Apprise does not accept this URL")
                markdown = _renders_markdown(plugin)
                ok = bool(
                    plugin.notify(
                        body=message.markdown if markdown else message.text,
                        title=message.title,
                        body_format=apprise.NotifyFormat.MARKDOWN if markdown
                        else apprise.NotifyFormat.TEXT,
                        notify_type=_NOTIFY_TYPE[message.priority],
                    )
                )
            except Exception as e:  # a plugin bug must not kill the delivery worker
                ok = False
                captured.lines.append(f"{type(e).__name__}: {e}")
        seconds = time.perf_counter() - started
        if ok:
            return SendResult(True, "", seconds)
        error = self._redact(" | ".join(captured.lines[-3:]) or "Apprise reported a failure")
        return SendResult(False, error[:_ERROR_CHARS], seconds)


# Pass-through webhooks hand the body to a program, not a person: they get plain text.
_PASS_THROUGH = frozenset({"json", "jsons", "form", "forms", "xml", "xmls"})


def _renders_markdown(plugin: Any) -> bool:
    import apprise

    rich = {apprise.NotifyFormat.MARKDOWN, apprise.NotifyFormat.HTML}
    protocol = plugin.protocol
    names = {protocol} if isinstance(protocol, str) else set(protocol or ())
    if names & _PASS_THROUGH:
        return False
    formats = plugin.notify_format
    formats = set(formats) if isinstance(formats, tuple | list) else {formats}
    return bool(formats & rich)


_NOTIFY_TYPE = {
    Priority.INFO: "info",
    Priority.WARNING: "warning",
    Priority.CRITICAL: "failure",
    Priority.EMERGENCY: "failure",
}


class _ThreadCapture(logging.Handler):
    """Collect the apprise log lines of the current thread only (channels send in parallel)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._thread = threading.get_ident()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the message of a record emitted by this thread."""
        if record.thread == self._thread:
            self.lines.append(record.getMessage())

    def __enter__(self) -> _ThreadCapture:
        logger = logging.getLogger("apprise")
        logger.addHandler(self)
        if logger.level == logging.NOTSET or logger.level > logging.WARNING:
            logger.setLevel(logging.WARNING)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("apprise").removeHandler(self)


# HTTP client libraries log request lines (with URL paths and queries) at DEBUG.
_HTTP_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry", "urllib3", "requests",
                 "httpx", "httpcore")


class RedactingFilter(logging.Filter):
    """Rewrite a log record so that no channel URL fragment reaches any handler."""

    def __init__(self) -> None:
        super().__init__("tradeguard-alerts-redact")
        self._redact = Redactor(())

    def learn(self, redact: Redactor) -> None:
        """Add the fragments of more channels (filters live as long as the process)."""
        self._redact.extend(redact)

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the message by its redacted text; keep the record."""
        text = self._redact(record.getMessage())
        record.msg, record.args = text, ()
        return True


_HTTP_FILTER = RedactingFilter()


def _quiet_apprise(redact: Redactor) -> None:
    # Apprise logs URLs and hosts; our handlers never see them: errors come back through
    # _ThreadCapture and are redacted.
    logging.getLogger("apprise").propagate = False
    _HTTP_FILTER.learn(redact)
    for name in _HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if _HTTP_FILTER not in logger.filters:
            logger.addFilter(_HTTP_FILTER)
