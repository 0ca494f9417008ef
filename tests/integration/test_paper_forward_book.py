"""Forward paper trading (`venue run --paper`) refuses a paper book that is not its journal's.

The replay refuses a book without the journal's newest fill; the forward paper session opened
its book on its own and took a lost or replaced book for a new account (starting cash, no
position) against a journal that holds positions and fills.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.clock import SimulatedClock
from engine.errors import StatePathError
from tests.integration.venue_support import (
    T0,
    clean_tradeguard_env,  # noqa: F401 - autouse fixture
    journal,
    live_settings,
    make_emulator,
    minutes,
    run_live_until,
    serving,
    venue_config,
)

BOOK = "paper_broker.sqlite"


def test_a_forward_paper_session_refuses_a_book_without_the_journals_fills(
    tmp_path: Path, data_dir: Path
) -> None:
    clock = SimulatedClock(T0)
    emulator = make_emulator(data_dir, clock)
    with serving(emulator) as server:
        settings = live_settings(tmp_path / "s", venue_config(server.url, warmup_bars=30))
        run_live_until(settings, clock, T0 + minutes(60.1), paper=True)
        trades = journal(tmp_path / "s")["trades"]
        assert trades, "the hour booked no fill: nothing to check the book against"
        for suffix in ("", "-wal", "-shm"):  # the book lost (or replaced by a fresh one)
            Path(f"{tmp_path / 's' / BOOK}{suffix}").unlink(missing_ok=True)

        with pytest.raises(StatePathError, match="lacks the journal's newest fill"):
            run_live_until(settings, clock, T0 + minutes(70.1), paper=True)

    assert journal(tmp_path / "s")["trades"] == trades  # nothing booked against that book
