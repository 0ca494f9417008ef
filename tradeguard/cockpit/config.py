"""Settings of the HTTP control API: where it listens, who may read and who may operate."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

Scope = Literal["read", "operate"]


class ApiToken(BaseModel):
    """One bearer token: its name (recorded as `who` in the audit) and its scope."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    name: str = Field(
        description="Who holds the token; operator actions are audited as api:<name>.",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
    )
    token: SecretStr = Field(description="The bearer token itself (at least 24 characters).")
    scope: Scope = Field("read", description="read: GET endpoints; operate: also POST actions.")

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 24:
            message = "a token must have at least 24 characters"
            raise ValueError(message)
        return value


class ApiConfig(BaseModel):
    """The control API (`tradeguard api`): loopback by default, bearer tokens required."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    host: str = Field("127.0.0.1", description="Address to bind; loopback unless you mean it.")
    port: int = Field(8765, description="TCP port to bind.", ge=1, le=65535)
    tokens: list[ApiToken] = Field(
        default=[],  # not default_factory=list: see the note in tradeguard/alerting/config.py
        description="Bearer tokens; the API refuses to start without at least one.",
    )
    operate_per_minute: int = Field(
        10, description="POST actions allowed per token per minute (429 beyond).", ge=1, le=600
    )
    allow_remote: bool = Field(
        False, description="Allow a non-loopback host (put TLS in front of it yourself)."
    )

    @model_validator(mode="after")
    def _sound(self) -> ApiConfig:
        names = [t.name for t in self.tokens]
        if len(set(names)) != len(names):
            message = "api.tokens: token names must be unique"
            raise ValueError(message)
        secrets = [t.token.get_secret_value() for t in self.tokens]
        if len(set(secrets)) != len(secrets):
            message = "api.tokens: two tokens have the same value"
            raise ValueError(message)
        if not self.allow_remote and not _is_loopback(self.host):
            message = f"api.host {self.host!r} is not loopback; set api.allow_remote = true"
            raise ValueError(message)
        return self


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
