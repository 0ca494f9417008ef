"""Settings: defaults, env/TOML/override precedence, error messages, secret masking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.errors import ConfigurationError
from tradeguard.settings import Settings, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Isolate from the developer's environment: no TRADEGUARD_* variables, own XDG dir."""
    import os

    for name in list(os.environ):
        if name.upper().startswith("TRADEGUARD_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_build_valid_settings_with_state_dir_under_xdg(tmp_path: Path) -> None:
    settings = load_settings()
    assert isinstance(settings, Settings)
    assert settings.store.state_dir == tmp_path / "xdg-state" / "tradeguard"
    assert settings.store.durability == "kill9"
    assert settings.alerts.urls == []
    assert settings.orchestration.server_port == 4200
    assert str(settings.replay.validation_day) == "2016-10-07"


def test_state_dir_default_without_xdg_is_under_home_not_tmp(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    settings = load_settings()
    assert settings.store.state_dir == tmp_path / "home" / ".local" / "state" / "tradeguard"


def test_nested_env_variable_overrides_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEGUARD_RISK__MAX_DAILY_LOSS", "500")
    assert load_settings().risk.max_daily_loss == 500.0


def test_toml_file_sets_nested_values(tmp_path: Path) -> None:
    config = _write(
        tmp_path / "tg.toml",
        '[risk]\nmax_daily_trades = 7\n[store]\ndurability = "power"\n'
        '[orchestration]\nschedule_timezone = "Europe/Paris"\n',
    )
    settings = load_settings(config)
    assert settings.risk.max_daily_trades == 7
    assert settings.store.durability == "power"
    assert settings.orchestration.schedule_timezone == "Europe/Paris"
    assert type(settings) is Settings


def test_config_file_named_by_env_variable_is_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = _write(tmp_path / "tg.toml", "[risk]\nmax_daily_trades = 9\n")
    monkeypatch.setenv("TRADEGUARD_CONFIG", str(config))
    assert load_settings().risk.max_daily_trades == 9


def test_precedence_is_override_then_env_then_toml_then_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = _write(
        tmp_path / "tg.toml",
        "[risk]\nmax_daily_loss = 100\nmax_daily_trades = 11\nmax_position = 3\n",
    )
    monkeypatch.setenv("TRADEGUARD_RISK__MAX_DAILY_LOSS", "200")
    monkeypatch.setenv("TRADEGUARD_RISK__MAX_DAILY_TRADES", "22")
    settings = load_settings(config, risk={"max_daily_loss": 300})
    assert settings.risk.max_daily_loss == 300.0  # override beats env and file
    assert settings.risk.max_daily_trades == 22  # env beats file
    assert settings.risk.max_position == 3.0  # file beats default
    default_notional = Settings().risk.max_order_notional
    assert settings.risk.max_order_notional == default_notional  # untouched default


def test_override_of_one_field_keeps_other_fields_from_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TRADEGUARD_STORE__DURABILITY", "power")
    settings = load_settings(store={"state_dir": tmp_path / "state"})
    assert settings.store.state_dir == tmp_path / "state"
    assert settings.store.durability == "power"


def test_missing_named_config_file_is_an_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigurationError, match=r"nope\.toml") as info:
        load_settings(missing)
    assert "does not exist" in str(info.value)


def test_missing_config_file_named_by_env_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TRADEGUARD_CONFIG", str(tmp_path / "gone.toml"))
    with pytest.raises(ConfigurationError, match=r"gone\.toml.*TRADEGUARD_CONFIG"):
        load_settings()


def test_invalid_toml_error_names_file_and_line(tmp_path: Path) -> None:
    config = _write(tmp_path / "bad.toml", "[risk]\nmax_daily_loss = = 5\n")
    with pytest.raises(ConfigurationError, match=r"bad\.toml.*line 2"):
        load_settings(config)


def test_out_of_bounds_value_error_names_dotted_field_and_env_source(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRADEGUARD_RISK__MAX_DAILY_LOSS", "-5")
    with pytest.raises(ConfigurationError) as info:
        load_settings()
    message = str(info.value)
    assert "risk.max_daily_loss:" in message
    assert "TRADEGUARD_RISK__MAX_DAILY_LOSS" in message


def test_a_config_file_applies_to_its_own_load_only(tmp_path: Path) -> None:
    # load_settings hands the parsed file to the build it runs, not to later ones.
    good = _write(tmp_path / "good.toml", "[risk]\nmax_daily_trades = 7\n")
    bad = _write(
        tmp_path / "bad.toml", "[risk]\nmax_daily_trades = 7\n[store]\nbackup_retention = 0\n"
    )
    assert load_settings(good).risk.max_daily_trades == 7
    with pytest.raises(ConfigurationError):
        load_settings(bad)
    assert load_settings().risk.max_daily_trades == Settings().risk.max_daily_trades != 7


def test_bad_value_in_file_error_names_field_and_file(tmp_path: Path) -> None:
    config = _write(tmp_path / "tg.toml", "[store]\nbackup_retention = 0\n")
    with pytest.raises(ConfigurationError) as info:
        load_settings(config)
    assert "store.backup_retention:" in str(info.value)
    assert "tg.toml" in str(info.value)


def test_cross_field_breaker_error_names_group_and_fields(tmp_path: Path) -> None:
    config = _write(
        tmp_path / "tg.toml",
        "[breaker]\nthrottle_api_latency_ms = 5000\nhalt_api_latency_ms = 4000\n",
    )
    with pytest.raises(ConfigurationError) as info:
        load_settings(config)
    message = str(info.value)
    assert "breaker" in message
    assert "halt_api_latency_ms" in message
    assert "throttle_api_latency_ms" in message


def test_unknown_key_in_file_is_rejected_by_dotted_name(tmp_path: Path) -> None:
    config = _write(tmp_path / "tg.toml", "[risk]\nmax_daily_los = 5\n")
    with pytest.raises(ConfigurationError, match=r"risk\.max_daily_los: unknown setting"):
        load_settings(config)


def test_unknown_group_in_file_is_rejected(tmp_path: Path) -> None:
    config = _write(tmp_path / "tg.toml", "[risks]\nmax_daily_loss = 5\n")
    with pytest.raises(ConfigurationError, match=r"risks: unknown setting"):
        load_settings(config)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("session_cron", "0 0 * *", "orchestration.session_cron"),
        ("schedule_timezone", "Mars/Olympus_Mons", "orchestration.schedule_timezone"),
        ("api_url", "ftp://example.org", "orchestration.api_url"),
        ("server_port", 70000, "orchestration.server_port"),
    ],
)
def test_orchestration_values_are_validated(field: str, value: object, expected: str) -> None:
    with pytest.raises(ConfigurationError, match=rf"{expected}:"):
        load_settings(orchestration={field: value})


def test_alert_urls_are_masked_in_safe_dump_and_config_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = "1234567:SECRET-token-value"
    monkeypatch.setenv("TRADEGUARD_ALERTS__URLS", json.dumps([f"tgram://{token}/42"]))
    settings = load_settings()
    assert settings.alerts.urls[0].get_secret_value() == f"tgram://{token}/42"
    dumped = settings.model_dump_safe()
    assert dumped["alerts"]["urls"] == ["tgram://**********"]
    text = json.dumps(dumped)
    assert token not in text
    assert "SECRET" not in repr(settings)


def test_safe_dump_is_json_ready_with_every_group() -> None:
    dumped = load_settings().model_dump_safe()
    assert set(dumped) == {
        "breaker",
        "risk",
        "strategy",
        "broker",
        "feed",
        "session",
        "store",
        "alerts",
        "replay",
        "orchestration",
        "venue",
        "api",
    }
    assert isinstance(dumped["store"]["state_dir"], str)
    json.dumps(dumped)  # raises if anything is not JSON-ready


def test_settings_are_frozen() -> None:
    from pydantic import ValidationError

    settings = load_settings()
    with pytest.raises(ValidationError):
        settings.store = settings.store  # type: ignore[misc]


def test_every_shell_field_has_a_description() -> None:
    from tradeguard.settings import AlertsConfig, OrchestrationConfig, ReplayConfig, StoreConfig

    for model in (Settings, StoreConfig, AlertsConfig, ReplayConfig, OrchestrationConfig):
        undocumented = [n for n, f in model.model_fields.items() if not f.description]
        assert undocumented == [], f"{model.__name__} fields without description: {undocumented}"
