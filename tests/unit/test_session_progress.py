"""The session section round-trips exactly; older stores' loss windows still load."""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime, timedelta

import pytest

from engine.session_state import SessionProgress, pack_window, unpack_window

T0 = datetime(2022, 1, 14, 19, 37, 0, 123456, tzinfo=UTC)


def test_the_loss_window_round_trips_exactly_through_the_packed_section() -> None:
    progress = SessionProgress()
    progress.cursors["BTC-PERP"] = T0
    progress.loss_window = deque(
        (T0 + timedelta(minutes=i), 99736.8870832964 - i / 3) for i in range(25)
    )
    section = progress.snapshot(clean_shutdown=False)
    assert isinstance(section["loss_window"], str)

    restored = SessionProgress.from_snapshot(section)

    assert restored.loss_window == progress.loss_window
    assert restored.cursors == progress.cursors
    assert restored.unclean


def test_a_loss_window_written_as_a_list_by_an_older_store_still_loads() -> None:
    older = [[T0.isoformat(), 100.5], [(T0 + timedelta(minutes=1)).isoformat(), 99.25]]
    assert unpack_window(older) == deque([(T0, 100.5), (T0 + timedelta(minutes=1), 99.25)])
    assert unpack_window(pack_window(deque())) == deque()


@pytest.mark.parametrize("text", ["t64f64:%%%", "t64f64:AAAA", "f64:AAAAAAAAAAA=", "junk"])
def test_a_damaged_packed_loss_window_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="loss_window"):
        unpack_window(text)


def test_a_non_finite_equity_in_the_packed_window_is_refused() -> None:
    text = pack_window(deque([(T0, float("nan"))]))
    with pytest.raises(ValueError, match="non-finite"):
        unpack_window(text)
