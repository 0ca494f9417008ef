"""Scenario files: the shipped set loads; a malformed one is refused naming file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import ConfigurationError
from tradeguard.scenarios.model import load_scenario, load_scenarios

REPO = Path(__file__).resolve().parents[2]
GOOD = """
start = 2022-01-21T00:00:00Z
end = 2022-01-22T00:00:00Z
[[data]]
file = "btc-perp_ftx_1m.csv.gz"
[expect]
highest_level = "HALT"
"""


def test_the_shipped_matrix_has_the_ten_required_scenarios() -> None:
    names = [s.name for s in load_scenarios(REPO / "scenarios")]
    assert names == [
        "calm-control", "unfunded-wallet", "reject-storm", "timeouts-crash-drill",
        "selloff-loss-halt", "latency-spike", "slippage-storm", "coinbase-outage",
        "three-symbols", "rollover-new-york",
    ]


def test_a_good_file_is_named_after_its_stem_without_the_order_prefix(tmp_path: Path) -> None:
    path = tmp_path / "07-my-storm.toml"
    path.write_text(GOOD)
    scenario = load_scenario(path)
    assert scenario.name == "my-storm"
    assert scenario.data[0].resolved_symbol == "BTC-PERP"


@pytest.mark.parametrize("change, field", [
    (("highest_level = \"HALT\"", "highest_levle = \"HALT\""), "expect.highest_levle"),
    (("highest_level = \"HALT\"", "highest_level = \"HALTED\""), "expect.highest_level"),
    (("start = 2022-01-21T00:00:00Z", "start = 2022-01-21T00:00:00"), "start"),
    (("end = 2022-01-22T00:00:00Z", "end = 2022-01-20T00:00:00Z"), "(file)"),
    (("[expect]", "[crash_drill]\nfailpoints = [\"nowhere:1\"]\n[expect]"),
     "crash_drill"),
    (("[expect]", "[[fault]]\nstart = 2022-01-21T00:00:00Z\nend = 2022-01-21T01:00:00Z\n"
                  "reject_rate = 2.0\n[expect]"), "fault.0.reject_rate"),
])
def test_a_malformed_scenario_names_the_file_and_field(
    tmp_path: Path, change: tuple[str, str], field: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace(*change))
    with pytest.raises(ConfigurationError) as caught:
        load_scenario(path)
    assert str(path) in str(caught.value)
    assert f": {field}" in str(caught.value)


def test_invalid_toml_and_missing_directory_and_unknown_name(tmp_path: Path) -> None:
    (tmp_path / "broken.toml").write_text("start = [")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load_scenario(tmp_path / "broken.toml")
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_scenarios(tmp_path / "nope")
    (tmp_path / "broken.toml").unlink()
    (tmp_path / "a.toml").write_text(GOOD)
    with pytest.raises(ConfigurationError, match="no scenario named 'b'"):
        load_scenarios(tmp_path, only="b")


@pytest.mark.parametrize("again", ['file = "btc-perp_ftx_1m.csv.gz"',
                                   'file = "btc-perp_ftx_1m.csv.gz"\nsymbol = "BTC-PERP"'])
def test_a_data_file_listed_twice_under_one_symbol_is_refused(tmp_path: Path, again: str) -> None:
    # Read twice, every bar of the second copy was a duplicate timestamp reported to the
    # breaker as a data-feed issue: the scenario judged a breaker fed bad data.
    path = tmp_path / "twice.toml"
    path.write_text(GOOD.replace("[expect]", f"[[data]]\n{again}\n[expect]"))
    with pytest.raises(ConfigurationError, match=r": data: .*listed twice as BTC-PERP"):
        load_scenario(path)
    path.write_text(GOOD.replace("[expect]", '[[data]]\nfile = "btc-perp_ftx_1m.csv.gz"\n'
                                             'symbol = "ALT"\n[expect]'))
    assert [d.resolved_symbol for d in load_scenario(path).data] == ["BTC-PERP", "ALT"]


@pytest.mark.parametrize(("section", "named"), [
    ("[settings.breker]\nhalt_cooldown_seconds = 60", "breker: not a settings group"),
    ("[settings.breaker]\nhalt_cooldwn_seconds = 60", "breaker.halt_cooldwn_seconds: not a"),
    ('[settings.store]\nstate_dir = "elsewhere"', "store: not a settings group"),
])
def test_a_typo_in_the_settings_overrides_is_a_malformed_file(
    tmp_path: Path, section: str, named: str
) -> None:
    # It loaded, and the run failed the scenario after Prefect started (exit 1) instead of
    # exit 2 naming the file before anything starts.
    path = tmp_path / "typo.toml"
    path.write_text(GOOD.replace("[expect]", f"{section}\n[expect]"))
    with pytest.raises(ConfigurationError, match=f"{path}: settings: .*{named}"):
        load_scenario(path)
    path.write_text(GOOD.replace("[expect]", "[settings.breaker]\nhalt_cooldown_seconds = 60\n"
                                             "[expect]"))
    assert load_scenario(path).settings == {"breaker": {"halt_cooldown_seconds": 60}}
