"""A live state and a paper state never share a state directory.

Found by the adversarial pass: `venue run --paper` (the README's dry run, on the same default
state dir) on a directory a live session traded booked its paper fills into the live journal,
and the next live session traded with cash and positions the account does not have (the venue
sync adds missing trades, it removes nothing). Real ccxt against the loopback emulator.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from engine.clock import SimulatedClock
from engine.errors import ConfigurationError, StateCorruptedError
from tests.integration.venue_support import (
    T0,
    clean_tradeguard_env,  # noqa: F401 - autouse fixture
    engine_book,
    journal,
    live_settings,
    make_emulator,
    minutes,
    run_live_until,
    serving,
    venue_config,
)


@contextmanager
def _venue_and_state(
    tmp_path: Path, data_dir: Path
) -> Iterator[tuple[SimulatedClock, Any, Path, Any]]:
    """Serve a loopback emulator; yield (clock, emulator, state dir, live settings for it)."""
    clock = SimulatedClock(T0)
    emulator = make_emulator(data_dir, clock)
    state = tmp_path / "s"
    with serving(emulator) as server:
        yield clock, emulator, state, live_settings(state, venue_config(server.url))


def test_a_paper_session_or_a_replay_on_a_live_state_is_refused(
    tmp_path: Path, data_dir: Path
) -> None:
    with _venue_and_state(tmp_path, data_dir) as (clock, emulator, state, settings):
        run_live_until(settings, clock, T0 + minutes(15.1))
        trades = journal(state)["trades"]
        assert len(trades) == len(emulator.book.trades) > 0
        assert (state / "venue.json").stat().st_mode & 0o777 == 0o600
        with pytest.raises(ConfigurationError, match="trades a live venue"):
            run_live_until(settings, clock, T0 + minutes(30.1), paper=True)
        from entrypoints.cli import app

        replay = CliRunner().invoke(app, [
            "--state-dir", str(state), "replay", "--data",
            str(data_dir / "btc-perp_ftx_1m.csv.gz"), "--start", "2022-01-21T20:00:00Z",
            "--end", "2022-01-21T21:00:00Z",
        ])
        assert replay.exit_code == 2, replay.output
        assert "trades a live venue" in replay.output
        assert "Traceback" not in replay.output
        assert journal(state)["trades"] == trades
        assert not (state / "paper_broker.sqlite").exists()
        run_live_until(settings, clock, T0 + minutes(30.1))  # the live session goes on
    booked = {fill_id for fill_id, _, _ in journal(state)["trades"]}
    assert booked == {f"binance-trade-{t.trade_id}" for t in emulator.book.trades}
    cash = engine_book(state)["portfolio"]["cash"]
    assert cash == pytest.approx(emulator.book.balances["USDT"], abs=1e-6)


def test_a_live_session_on_a_paper_state_is_refused(tmp_path: Path, data_dir: Path) -> None:
    with _venue_and_state(tmp_path, data_dir) as (clock, emulator, state, settings):
        run_live_until(settings, clock, T0 + minutes(15.1), paper=True)
        paper_trades = journal(state)["trades"]
        assert paper_trades  # the dry run traded the paper book
        with pytest.raises(ConfigurationError, match="paper or replay session"):
            run_live_until(settings, clock, T0 + minutes(30.1))
    assert emulator.book.trades == []  # nothing reached the venue
    assert journal(state)["trades"] == paper_trades
    assert not (state / "venue.json").exists()


@pytest.mark.parametrize(
    "damage",
    [
        "not json {",
        "[1, 2]",
        '{"symbols": ["BTC/USDT"]}',
        '{"exchange": "binance", "symbols": "BTC"}',
        '{"exchange": "binance", "symbols": ["BTC/USDT"], "sync_from": "yesterday"}',
    ],
)
def test_a_damaged_venue_marker_is_refused_not_read_as_no_venue(
    tmp_path: Path, data_dir: Path, damage: str
) -> None:
    # Adversarial pass: a garbage venue.json was accepted with a warning, and `reconcile` then
    # took the state for a paper one. The marker names the venue: a damaged one fails closed.
    with _venue_and_state(tmp_path, data_dir) as (clock, _emulator, state, settings):
        run_live_until(settings, clock, T0 + minutes(10.1))
        trades = journal(state)["trades"]
        (state / "venue.json").write_text(damage, encoding="utf-8")
        with pytest.raises(StateCorruptedError, match=r"venue marker .* is damaged"):
            run_live_until(settings, clock, T0 + minutes(20.1))
        from entrypoints.cli import app

        done = CliRunner().invoke(app, ["--state-dir", str(state), "reconcile"])
        assert done.exit_code == 2, done.output
        assert "is damaged" in done.output and "Traceback" not in done.output
        assert journal(state)["trades"] == trades


def test_venue_settings_that_drop_a_traded_symbol_or_change_exchange_are_refused(
    tmp_path: Path, data_dir: Path
) -> None:
    with _venue_and_state(tmp_path, data_dir) as (clock, _emulator, state, settings):
        run_live_until(settings, clock, T0 + minutes(10.1))
        marker = state / "venue.json"
        marker.write_text(marker.read_text().replace('"symbols": [', '"symbols": ["ETH/USDT", '))
        with pytest.raises(ConfigurationError, match=r"ETH/USDT on binance, which venue\.symbols"):
            run_live_until(settings, clock, T0 + minutes(20.1))
        marker.write_text(marker.read_text().replace('"binance"', '"kraken"'))
        with pytest.raises(ConfigurationError, match=r"trades 'kraken' but venue\.exchange"):
            run_live_until(settings, clock, T0 + minutes(20.1))
