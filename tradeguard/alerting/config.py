"""Settings of the alerts group: channels (Apprise URLs, secret), routing, delivery, heartbeat."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from tradeguard.settings_checks import check_cron

_NAME = r"^[a-z0-9][a-z0-9_-]{0,39}$"
# List fields default to `[]` (pydantic copies it for each instance), not
# default_factory=list: pydantic reads a factory's signature, and list's costs ~3 ms of
# tokenizing at every start of a command that reads the settings.


class Priority(StrEnum):
    """Urgency of an alert (seed 004): INFO < WARNING < CRITICAL < EMERGENCY."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"
    EMERGENCY = "emergency"

    @property
    def rank(self) -> int:
        """Return 0 for INFO up to 3 for EMERGENCY."""
        return _RANK[self]

    def admits(self, other: Priority) -> bool:
        """Return True when an alert of priority `other` reaches a channel with this minimum."""
        return other.rank >= self.rank


_RANK = {Priority.INFO: 0, Priority.WARNING: 1, Priority.CRITICAL: 2, Priority.EMERGENCY: 3}


def _check_url(value: SecretStr, where: str) -> SecretStr:
    if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$", value.get_secret_value()):
        message = f"{where} is not an Apprise URL (expected scheme://...)"
        raise ValueError(message)
    return value


class ChannelConfig(BaseModel):
    """One named notification channel: an Apprise URL, a minimum priority, optional tags."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    name: str = Field(
        pattern=_NAME, description="Channel name shown in status and stored in the outbox."
    )
    url: SecretStr = Field(
        description="Apprise URL (tgram://, mailto://, slack://, ntfy://, json://, ...); secret."
    )
    min_priority: Priority = Field(
        Priority.WARNING, description="Alerts below this priority are not sent to this channel."
    )
    tags: list[str] = Field(
        default=[],
        max_length=20,
        description="Only alerts carrying one of these tags reach the channel (empty = all); "
        "EMERGENCY alerts ignore tags.",
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: SecretStr) -> SecretStr:
        return _check_url(value, "url")


class AlertsConfig(BaseModel):
    """Operator notifications through Apprise, with a durable outbox in the state store."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    channels: list[ChannelConfig] = Field(
        default=[], max_length=50, description="Named notification channels."
    )
    urls: list[SecretStr] = Field(
        default=[],
        max_length=50,
        description="Shorthand channels: each URL becomes channel url1, url2, ... with "
        "default_min_priority.",
    )
    config_file: Path | None = Field(
        None,
        description="Apprise configuration file (YAML or TEXT); each URL in it becomes channel "
        "<file stem>1, <file stem>2, ... with default_min_priority and the file's tags.",
    )
    default_min_priority: Priority = Field(
        Priority.WARNING, description="Minimum priority of channels from urls and config_file."
    )
    escalation_channels: list[str] = Field(
        default=[],
        max_length=50,
        description="Channel names an unacknowledged HALT/SHUTDOWN alert is re-sent to.",
    )
    ack_timeout_seconds: float = Field(
        900.0, gt=0, le=7 * 86400, description="Age at which an unacknowledged alert escalates."
    )
    dedup_window_seconds: float = Field(
        900.0,
        gt=0,
        le=86400,
        description="A repeating condition sends once per window (event time), with a count.",
    )
    connect_timeout_seconds: float = Field(
        2.0, gt=0, le=60, description="Apprise cto: connect timeout appended to each URL."
    )
    read_timeout_seconds: float = Field(
        4.0, gt=0, le=120, description="Apprise rto: read timeout appended to each URL."
    )
    retry_base_seconds: float = Field(
        1.0, gt=0, le=3600, description="First retry delay; doubles each failed attempt."
    )
    retry_cap_seconds: float = Field(
        300.0, gt=0, le=86400, description="Longest delay between two delivery attempts."
    )
    max_attempts: int = Field(
        30, ge=1, le=1000, description="Attempts per channel before a delivery is marked failed."
    )
    drain_timeout_seconds: float = Field(
        5.0,
        ge=0,
        le=300,
        description="Longest wait at session end for pending alerts to go out.",
    )
    heartbeat_every_seconds: float = Field(
        30.0, gt=0, le=3600, description="Wall time between two heartbeats of a running session."
    )
    heartbeat_stale_seconds: float = Field(
        300.0,
        gt=0,
        le=86400,
        description="A running session whose last heartbeat is older is reported dead.",
    )
    heartbeat_check_cron: str = Field(
        "*/5 * * * *", description="Cron of the dead-man check deployment (schedule time zone)."
    )

    @field_validator("urls")
    @classmethod
    def _urls(cls, value: list[SecretStr]) -> list[SecretStr]:
        for index, url in enumerate(value):
            _check_url(url, f"urls[{index}]")
        return value

    @field_validator("config_file")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser()

    @field_validator("heartbeat_check_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_cron(value)

    @model_validator(mode="after")
    def _names(self) -> AlertsConfig:
        names = [c.name for c in self.channels]
        names += [f"url{i}" for i in range(1, len(self.urls) + 1)]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            message = f"channel names must be unique: {', '.join(duplicates)}"
            raise ValueError(message)
        unknown = [n for n in self.escalation_channels if n not in names]
        if unknown and self.config_file is None:
            message = f"escalation_channels names unknown channels: {', '.join(unknown)}"
            raise ValueError(message)
        if self.heartbeat_stale_seconds <= self.heartbeat_every_seconds:
            message = "heartbeat_stale_seconds must exceed heartbeat_every_seconds"
            raise ValueError(message)
        if self.retry_cap_seconds < self.retry_base_seconds:
            message = "retry_cap_seconds must be >= retry_base_seconds"
            raise ValueError(message)
        return self
