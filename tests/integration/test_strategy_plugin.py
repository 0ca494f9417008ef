"""A user's own strategy, plugged in by `strategy.class`, trades a real-data replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.errors import ConfigurationError
from engine.events import SignalRecorded
from engine.strategy import SmaCrossover, StrategyConfig
from tests.integration.first_and_tenth import FirstAndTenth
from tradeguard import services
from tradeguard.bootstrap import bootstrap
from tradeguard.requests import DataSpec, ReplayRequest
from tradeguard.settings import load_settings
from tradeguard.strategy_plugin import load_strategy

CALM = datetime(2016, 10, 7, tzinfo=UTC)
PLUGIN = "tests.integration.first_and_tenth:FirstAndTenth"


def test_a_second_strategy_plugged_by_settings_buys_on_bar_one_and_sells_on_bar_ten(
    tmp_path: Path, data_dir: Path
) -> None:
    settings = load_settings(
        store={"state_dir": tmp_path / "s"},
        strategy={"class": PLUGIN, "order_quantity": 0.5},
    )
    assert settings.strategy.class_path == PLUGIN
    spec = DataSpec(data_dir / "btc-usd_coinbase_1m.csv.gz", "BTC-USD")
    start, end = CALM + timedelta(hours=6), CALM + timedelta(hours=7)
    request = ReplayRequest(data=(spec,), start=start, end=end, seed=3)
    events: list[Any] = []
    summary = services.run_session(bootstrap(settings), request, [events.append]).summary
    signals = [e for e in events if isinstance(e, SignalRecorded)]
    assert [(s.side.value, s.outcome) for s in signals] == [("BUY", "ordered"), ("SELL", "ordered")]
    first, tenth = signals[0].bar_time, signals[1].bar_time
    assert first >= start and (tenth - first) >= timedelta(minutes=9)
    assert summary.signals == 2
    assert summary.orders_submitted == summary.orders_filled == 2
    assert summary.positions == {}
    assert summary.stop_reason == "end of data"


def test_the_default_class_is_the_sma_crossover() -> None:
    assert StrategyConfig().class_path == "engine.strategy:SmaCrossover"
    assert load_strategy(StrategyConfig().class_path) is SmaCrossover
    built = load_strategy(PLUGIN)(StrategyConfig())
    assert isinstance(built, FirstAndTenth)


@pytest.mark.parametrize(
    ("class_path", "expected"),
    [
        ("no_such_package.mod:Thing", "cannot import module 'no_such_package.mod'"),
        ("tests.integration.first_and_tenth:Missing", "has no class 'Missing'"),
        ("tests.integration.first_and_tenth:NotAStrategy", "missing warm, snapshot, restore"),
        ("tests.integration.first_and_tenth:PERIODS", "has no class 'PERIODS'"),
    ],
)
def test_a_class_that_does_not_load_or_fit_is_a_configuration_error_naming_the_setting(
    class_path: str, expected: str
) -> None:
    with pytest.raises(ConfigurationError, match=r"^strategy\.class: ") as info:
        load_strategy(class_path)
    assert expected in str(info.value)


def test_a_class_whose_constructor_does_not_take_the_config_is_a_configuration_error() -> None:
    factory = load_strategy("tests.integration.first_and_tenth:NoConfig")
    with pytest.raises(ConfigurationError, match=r"^strategy.class: .*NoConfig\(config\) failed"):
        factory(StrategyConfig())


def test_a_malformed_class_setting_is_refused_when_the_settings_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"strategy\.class"):
        load_settings(store={"state_dir": tmp_path}, strategy={"class": "no colon here"})
