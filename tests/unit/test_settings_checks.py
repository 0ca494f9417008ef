"""Configuration cannot silently drop a limit: unknown variables, strict scalars, real crons."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.errors import ConfigurationError
from tradeguard.settings import Settings, load_settings
from tradeguard.settings_checks import NON_SETTINGS_ENV, env_targets

SECRET = "tok:s3cr3tpw"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith("TRADEGUARD_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tg.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _error(**kwargs: object) -> str:
    with pytest.raises(ConfigurationError) as info:
        load_settings(**kwargs)  # type: ignore[arg-type]
    return str(info.value)


# -- unknown TRADEGUARD_ variables ------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "TRADEGUARD_RISK_MAX_DAILY_LOSS",  # one underscore
        "TRADEGUARD_RISKS__MAX_DAILY_LOSS",  # a group that does not exist
        "TRADEGUARD_RISK__MAX_DAILY_LOS",  # a field that does not exist
        "tradeguard_risk_max_daily_loss",  # lower case is read as well
    ],
)
def test_mistyped_limit_variable_is_an_error_naming_it_and_the_valid_name(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv(name, "1")

    message = _error()

    assert f"env {name}:" in message
    assert "did you mean TRADEGUARD_RISK__MAX_DAILY_LOSS?" in message


def test_every_problem_variable_is_listed_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEGUARD_RISK_MAX_DAILY_LOSS", "1")
    monkeypatch.setenv("TRADEGUARD_BREAKER_HALT_LOSS_PCT", "0.1")

    message = _error()

    assert "(2 errors)" in message
    assert "TRADEGUARD_BREAKER__HALT_LOSS_PCT?" in message


def test_unknown_variable_far_from_any_name_gets_no_guess(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEGUARD_ZZZZZZZZ", "1")

    message = _error()

    assert "env TRADEGUARD_ZZZZZZZZ: no setting has this name" in message
    assert "did you mean" not in message


def test_project_variables_outside_the_settings_stay_valid(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TRADEGUARD_CONFIG", str(_toml(tmp_path, "[risk]\nmax_daily_trades = 4\n")))
    monkeypatch.setenv("TRADEGUARD_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("TRADEGUARD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TRADEGUARD_FAILPOINT", "before_broker:3")
    monkeypatch.setenv("TRADEGUARD_RISK__MAX_DAILY_LOSS", "250")

    settings = load_settings()

    assert (settings.risk.max_daily_trades, settings.risk.max_daily_loss) == (4, 250.0)


def test_every_field_and_group_has_a_variable_name() -> None:
    names = env_targets(Settings)

    assert names["TRADEGUARD_RISK"].dotted == "risk"
    assert names["TRADEGUARD_RISK__MAX_DAILY_LOSS"].dotted == "risk.max_daily_loss"
    assert names["TRADEGUARD_ALERTS__URLS"].complex
    assert not names["TRADEGUARD_RISK__MAX_DAILY_LOSS"].complex
    assert "TRADEGUARD_LOG_LEVEL" in NON_SETTINGS_ENV


def test_entry_of_a_mapping_setting_is_a_valid_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEGUARD_STRATEGY__SYMBOL_PAIRS__ETH", "[[5, 20]]")

    assert list(load_settings().strategy.symbol_pairs.values()) == [[(5, 20)]]


# -- malformed values: a ConfigurationError naming the field, never a traceback ---------------


@pytest.mark.parametrize(
    ("name", "value", "field"),
    [
        ("TRADEGUARD_ALERTS__URLS", f'["tgram://{SECRET}@x", 5', "alerts.urls"),  # broken JSON
        ("TRADEGUARD_ALERTS__URLS", f"tgram://{SECRET}@x", "alerts.urls"),  # no brackets
        ("TRADEGUARD_STRATEGY__PAIRS", "5,20", "strategy.pairs"),
        ("TRADEGUARD_RISK", "max_daily_loss=5", "risk"),  # a group that is not JSON
    ],
)
def test_malformed_json_in_env_names_field_and_variable_without_the_value(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, field: str
) -> None:
    monkeypatch.setenv(name, value)

    message = _error()

    assert f"{field}: the value is not valid JSON" in message
    assert f"[from env {name}]" in message
    assert value not in message
    assert SECRET not in message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", "risk: Input should be a valid dictionary"),
        ('{"max_daily_los": 5}', "risk.max_daily_los: unknown setting"),
    ],
)
def test_bad_settings_group_in_env_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    monkeypatch.setenv("TRADEGUARD_RISK", value)

    assert expected in _error()


def test_unknown_field_in_file_suggests_the_closest_field(tmp_path: Path) -> None:
    message = _error(config_file=_toml(tmp_path, "[risk]\nmax_daily_los = 5\n"))

    assert "risk.max_daily_los: unknown setting" in message
    assert "did you mean max_daily_loss?" in message


# -- empty state_dir ---------------------------------------------------------------------------


def test_empty_state_dir_from_env_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEGUARD_STORE__STATE_DIR", "")

    message = _error()

    assert "store.state_dir: must not be empty" in message
    assert "TRADEGUARD_STORE__STATE_DIR" in message


def test_blank_state_dir_in_file_is_an_error(tmp_path: Path) -> None:
    message = _error(config_file=_toml(tmp_path, '[store]\nstate_dir = "  "\n'))

    assert "store.state_dir: must not be empty" in message


# -- cron ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("cron", ["99 99 99 99 99", "0 25 * * *", "0 0 30 2 *", "x y z w v"])
def test_cron_that_no_parser_accepts_is_refused(cron: str) -> None:
    message = _error(orchestration={"session_cron": cron})

    assert "orchestration.session_cron: cron expression" in message
    assert "is not valid" in message


@pytest.mark.parametrize("cron", ["0 0 * * *", "*/15 9-17 * * MON-FRI", "0 0 L * *", "0 6 * * 1#2"])
def test_real_cron_expressions_are_accepted(cron: str) -> None:
    assert load_settings(orchestration={"reset_cron": cron}).orchestration.reset_cron == cron


# -- booleans are booleans -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "field"),
    [
        ("[risk]\nmax_daily_trades = true\n", "risk.max_daily_trades: expects a whole number"),
        ("[risk]\nmax_daily_loss = false\n", "risk.max_daily_loss: expects a number"),
        ("[breaker]\nhalt_consecutive_failures = true\n", "breaker.halt_consecutive_failures"),
        ("[strategy]\npairs = [[true, 20]]\n", "strategy: pairs[0][0] expects a whole number"),
        ("[session]\ndry_run = 1\n", "session.dry_run: expects true or false"),
    ],
)
def test_boolean_for_a_count_or_number_for_a_flag_is_refused(
    tmp_path: Path, toml: str, field: str
) -> None:
    assert field in _error(config_file=_toml(tmp_path, toml))


def test_boolean_for_a_count_in_a_json_group_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEGUARD_RISK", '{"max_daily_trades": true}')

    assert "risk.max_daily_trades: expects a whole number" in _error()


@pytest.mark.parametrize("text", ["yes", "on", "1", "t"])
def test_flag_from_env_must_say_true_or_false(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setenv("TRADEGUARD_SESSION__DRY_RUN", text)

    assert "session.dry_run: expects true or false" in _error()


def test_real_booleans_and_numbers_still_load(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TRADEGUARD_SESSION__DRY_RUN", "TRUE")
    config = _toml(tmp_path, "[risk]\nmax_daily_trades = 3\n[session]\nflatten_on_halt = false\n")

    settings = load_settings(config)

    assert settings.session.dry_run is True
    assert settings.session.flatten_on_halt is False
    assert settings.risk.max_daily_trades == 3


# -- secrets never in error text -------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        f'"tgram://{SECRET}@x"',  # a string where a list is meant: pydantic echoes it
        f'["tgram://{SECRET}@x", 5]',
        f'["{SECRET}"]',  # no scheme
        f'{{"a": "tgram://{SECRET}@x"}}',
    ],
)
def test_alert_url_errors_never_contain_the_secret(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("TRADEGUARD_ALERTS__URLS", value)

    with pytest.raises(ConfigurationError) as info:
        load_settings()

    assert "alerts.urls" in str(info.value)
    assert SECRET not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_api_url_error_does_not_repeat_the_url() -> None:
    message = _error(orchestration={"api_url": f"ftp://{SECRET}@prefect.example"})

    assert "orchestration.api_url: must be an http(s) URL" in message
    assert SECRET not in message
