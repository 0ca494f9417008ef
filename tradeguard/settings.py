"""Settings of the shell: one pydantic-settings object built once at the edge and passed down.

Precedence, highest first: keyword overrides (CLI options) > environment (`TRADEGUARD_`
prefix, `__` between group and field) > TOML file (`--config FILE` or `TRADEGUARD_CONFIG`) >
defaults. Engine groups are the engine's own frozen config models; the shell-only groups
(store, alerts, replay, orchestration) live here. A `TRADEGUARD_` variable that sets nothing,
a boolean given for a number, an empty state_dir or a cron no parser accepts is an error
(tradeguard/settings_checks.py); error text never repeats a possibly secret input.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from datetime import date
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import to_jsonable_python
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from engine.breaker_config import CircuitConfig
from engine.broker_config import BrokerConfig
from engine.clock import check_iana_zone
from engine.errors import ConfigurationError
from engine.feed_config import FeedConfig
from engine.risk_config import RiskConfig
from engine.session_config import SessionConfig
from engine.strategy_config import StrategyConfig
from tradeguard.alerting.config import AlertsConfig
from tradeguard.cockpit.config import ApiConfig
from tradeguard.settings_checks import check_cron, check_environment, check_strict
from tradeguard.settings_errors import (
    CONFIG_ENV_VAR,
    ENV_NESTED_DELIMITER,
    ENV_PREFIX,
    format_validation_error,
)
from tradeguard.venues.config import VenueConfig

__all__ = [
    "CONFIG_ENV_VAR",
    "ENV_NESTED_DELIMITER",
    "ENV_PREFIX",
    "AlertsConfig",
    "OrchestrationConfig",
    "ReplayConfig",
    "Settings",
    "StoreConfig",
    "load_settings",
]
SECRET_MASK = "**********"
FAILPOINT_ENV_VAR = "TRADEGUARD_FAILPOINT"

# The parsed config file of the Settings being built, set by load_settings for the build:
# one Settings class serves every file (a subclass naming the file would cost a model build,
# ~5 ms, at every start) and the file is read once.
_CONFIG_FILE_DATA: ContextVar[dict[str, Any]] = ContextVar("tradeguard_config_file_data")


def default_state_dir() -> Path:
    """Return $XDG_STATE_HOME/tradeguard, else ~/.local/state/tradeguard (read at build time)."""
    xdg = os.environ.get("XDG_STATE_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "state"
    return base / "tradeguard"


class StoreConfig(BaseModel):
    """Where and how durably the engine state is persisted."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    state_dir: Path = Field(
        default_factory=default_state_dir,
        description="Directory of the state store, backups and locks "
        "(default $XDG_STATE_HOME/tradeguard or ~/.local/state/tradeguard).",
    )
    durability: Literal["kill9", "power"] = Field(
        "kill9",
        description="kill9: survive a killed process (WAL, synchronous=NORMAL); "
        "power: also survive power loss (synchronous=FULL, slower).",
    )
    backup_retention: int = Field(
        10, ge=1, le=1000, description="Number of state backups kept by rotation."
    )
    stale_after_seconds: float = Field(
        600.0,
        gt=0,
        le=7 * 86400,
        description="Age after which a lock or temporary file without a live owner is stale.",
    )
    failpoint: str | None = Field(
        None,
        pattern=(
            r"^(before_broker|inside_broker|venue_fill|after_commit|after_fill"
            r"|archive_history_committed|archive_hot_committed|restore_set_aside):[1-9][0-9]*$"
        ),
        description="Crash drill only: SIGKILL this process the n-th time it reaches <point> "
        f"(<point>:<n>; also read from ${FAILPOINT_ENV_VAR}). Unset in production.",
    )

    @field_validator("state_dir", mode="before")
    @classmethod
    def _state_dir_named(cls, value: Any) -> Any:
        # Path("") is ".": an empty value would put the store in the working directory.
        if isinstance(value, str) and not value.strip():
            message = "state_dir must not be empty: name a directory, or unset it for the default"
            raise ValueError(message)
        return value

    @field_validator("state_dir")
    @classmethod
    def _expand_state_dir(cls, value: Path) -> Path:
        return value.expanduser()


class ReplayConfig(BaseModel):
    """Real market data used by replays and by the 24h validation (the main job)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    data_dir: Path | None = Field(
        None,
        description="Directory of the *.csv.gz market data; None = found by "
        "tradeguard.data.find_data_dir (TRADEGUARD_DATA_DIR or ../shared/data).",
    )
    validation_file: str = Field(
        "btc-usd_coinbase_1m.csv.gz",
        min_length=1,
        description="Data file (in data_dir) of the calm control day of the 24h validation.",
    )
    validation_day: date = Field(
        date(2016, 10, 7), description="UTC day replayed as the calm control of the validation."
    )
    seed: int = Field(
        0, ge=0, le=2**63 - 1, description="Seed of paper-broker randomness in validation runs."
    )

    @field_validator("data_dir")
    @classmethod
    def _expand_data_dir(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser()

    @field_validator("validation_file")
    @classmethod
    def _bare_file_name(cls, value: str) -> str:
        if Path(value).name != value:
            message = f"{value!r} must be a file name inside data_dir, not a path"
            raise ValueError(message)
        return value


class OrchestrationConfig(BaseModel):
    """Prefect server, work pool and schedules."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    api_url: str | None = Field(
        None,
        description="Prefect API URL; None = the local server at http://<server_host>:"
        "<server_port>/api, or an ephemeral server when none runs.",
    )
    work_pool: str = Field(
        "tradeguard-process",
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="Name of the Prefect work pool the deployments run on.",
    )
    work_pool_type: Literal["process", "docker", "kubernetes"] = Field(
        "process",
        description="Type of the work pool `deploy` creates when missing: process (workers on "
        "this host), docker or kubernetes (workers elsewhere, with prefect-docker or "
        "prefect-kubernetes installed where they run).",
    )
    server_host: str = Field(
        "127.0.0.1", min_length=1, description="Host the local Prefect server binds to."
    )
    server_port: int = Field(4200, ge=1, le=65535, description="Port of the local Prefect server.")
    schedule_timezone: str = Field(
        "UTC", min_length=1, description="IANA time zone of every cron schedule."
    )
    session_cron: str = Field("0 0 * * *", description="Cron of the daily trading session start.")
    session_duration_minutes: int = Field(
        1435,
        ge=1,
        le=1440,
        description="Length of a scheduled session (1435 = until 23:55, before the reset).",
    )
    reset_cron: str = Field("0 0 * * *", description="Cron of the daily P&L/trade-count reset.")
    validation_cron: str = Field("0 6 * * 1", description="Cron of the scheduled 24h validation.")
    cleanup_cron: str = Field("0 * * * *", description="Cron of stale-lock and backup cleanup.")

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("http", "https"):
            message = "api_url must be an http(s) URL"  # the value may embed credentials
            raise ValueError(message)
        return value

    @field_validator("schedule_timezone")
    @classmethod
    def _iana_zone(cls, value: str) -> str:
        return check_iana_zone(value, "schedule_timezone")

    @field_validator("session_cron", "reset_cron", "validation_cron", "cleanup_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_cron(value)


class Settings(BaseSettings):
    """Every setting of tradeguard; build it with load_settings() at the edge, once."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        extra="forbid",
        frozen=True,
    )

    breaker: CircuitConfig = Field(
        default_factory=lambda: CircuitConfig.model_validate({}),
        description="Graduated circuit breaker thresholds.",
    )
    risk: RiskConfig = Field(
        default_factory=lambda: RiskConfig.model_validate({}), description="Pre-trade risk limits."
    )
    strategy: StrategyConfig = Field(
        default_factory=lambda: StrategyConfig.model_validate({}),
        description="SMA crossover strategy parameters.",
    )
    broker: BrokerConfig = Field(
        default_factory=lambda: BrokerConfig.model_validate({}),
        description="Paper broker behaviour and costs.",
    )
    feed: FeedConfig = Field(
        default_factory=lambda: FeedConfig.model_validate({}), description="Bar validation rules."
    )
    session: SessionConfig = Field(
        default_factory=lambda: SessionConfig.model_validate({}),
        description="Trading loop: checkpoints, operator command polling, flatten on halt.",
    )
    store: StoreConfig = Field(
        default_factory=lambda: StoreConfig.model_validate({}), description="State persistence."
    )
    alerts: AlertsConfig = Field(
        default_factory=lambda: AlertsConfig.model_validate({}), description="Notifications."
    )
    replay: ReplayConfig = Field(
        default_factory=lambda: ReplayConfig.model_validate({}),
        description="Market data and validation days.",
    )
    orchestration: OrchestrationConfig = Field(
        default_factory=lambda: OrchestrationConfig.model_validate({}),
        description="Prefect server and schedules.",
    )
    venue: VenueConfig = Field(
        default_factory=lambda: VenueConfig.model_validate({}),
        description="Live venue through ccxt: exchange, keys, symbols, mainnet catch.",
    )
    api: ApiConfig = Field(
        default_factory=lambda: ApiConfig.model_validate({}),
        description="HTTP control API (`tradeguard api`): bind address, bearer tokens, limits.",
    )

    @field_validator("*", mode="before")
    @classmethod
    def _strict_scalars(cls, value: Any, info: ValidationInfo) -> Any:
        """Refuse true/false where a number is meant and anything but true/false for a flag."""
        field = cls.model_fields.get(info.field_name or "")
        return value if field is None else check_strict(field.annotation, value)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Order sources: init kwargs > env > TOML (the file load_settings read) > defaults.

        Every TRADEGUARD_ variable is checked first: one that sets nothing is an error.
        """
        check_environment(os.environ, settings_cls)
        legacy = _LegacyFailpointSource(settings_cls)
        config_file = InitSettingsSource(settings_cls, _CONFIG_FILE_DATA.get({}))
        return (init_settings, env_settings, legacy, config_file)

    def model_dump_safe(self) -> dict[str, Any]:
        """Return the effective settings as JSON-ready data with every secret masked."""
        data: dict[str, Any] = to_jsonable_python(_mask(self.model_dump()))
        return data


class _LegacyFailpointSource(PydanticBaseSettingsSource):
    """Read $TRADEGUARD_FAILPOINT (the crash drills' historical name) into store.failpoint."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Answer nothing per field: __call__ hands over the nested value."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        """Return {"store": {"failpoint": ...}} when the variable is set."""
        value = os.environ.get(FAILPOINT_ENV_VAR, "").strip()
        return {"store": {"failpoint": value}} if value else {}


def _mask(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return mask_secret(value)
    if isinstance(value, dict):
        return {key: _mask(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(item) for item in value]
    return value


def mask_secret(secret: SecretStr) -> str:
    """Mask a secret, keeping only a URL scheme so operators can tell channels apart."""
    raw = secret.get_secret_value()
    scheme, sep, _rest = raw.partition("://")
    if sep and scheme.isalnum():
        return f"{scheme}://{SECRET_MASK}"
    return SECRET_MASK


def resolve_config_file(config_file: Path | None) -> tuple[Path | None, str]:
    """Return the config file to read (argument, else $TRADEGUARD_CONFIG) and who named it."""
    if config_file is not None:
        return config_file.expanduser(), "--config"
    from_env = os.environ.get(CONFIG_ENV_VAR, "").strip()
    if from_env:
        return Path(from_env).expanduser(), CONFIG_ENV_VAR
    return None, ""


def _read_toml(path: Path, named_by: str) -> dict[str, Any]:
    import tomllib  # on use: a command run without a config file never parses TOML

    if not path.exists():
        message = f"config file {path} (named by {named_by}) does not exist"
        raise ConfigurationError(message)
    if not path.is_file():
        message = f"config file {path} (named by {named_by}) is not a regular file"
        raise ConfigurationError(message)
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as e:
        # The decoder's message carries "(at line N, column M)".
        message = f"config file {path} is not valid TOML: {e}"
        raise ConfigurationError(message) from e
    except OSError as e:
        message = f"config file {path} cannot be read: {e}"
        raise ConfigurationError(message) from e
    except UnicodeDecodeError as e:
        message = f"config file {path} is not UTF-8 text: {e}"
        raise ConfigurationError(message) from e


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings once; invalid values raise ConfigurationError naming dotted fields."""
    path, named_by = resolve_config_file(config_file)
    toml_data = _read_toml(path, named_by) if path is not None else {}
    # Not chained (`from None`): pydantic's own text of these errors echoes input values,
    # and a traceback at DEBUG would print it, secrets included.
    token = _CONFIG_FILE_DATA.set(toml_data)
    try:
        return Settings(**overrides)
    except ValidationError as e:
        message = format_validation_error(e, Settings, toml_data, path, overrides)
        raise ConfigurationError(message) from None
    except SettingsError as e:
        message = f"invalid configuration: {e}"
        raise ConfigurationError(message) from None
    finally:
        _CONFIG_FILE_DATA.reset(token)
