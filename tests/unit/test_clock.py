"""Clocks: the simulated clock moves only when told; the wall clock ignores advance_to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.clock import Clock, SimulatedClock, SystemClock
from engine.errors import ConfigurationError

T0 = datetime(2022, 1, 21, 10, 0, tzinfo=UTC)


def test_simulated_clock_advances_to_later_times_only() -> None:
    clock = SimulatedClock(T0)
    clock.advance_to(T0 + timedelta(minutes=1))
    assert clock.now() == T0 + timedelta(minutes=1)
    clock.advance_to(T0)  # earlier: nothing changes
    assert clock.now() == T0 + timedelta(minutes=1)
    assert clock.simulated is True


def test_system_clock_ignores_advance_to_and_reads_the_wall() -> None:
    clock = SystemClock()
    before = datetime.now(UTC)
    clock.advance_to(before + timedelta(days=365))
    after = datetime.now(UTC)
    assert before <= clock.now() <= after + timedelta(seconds=1)
    assert clock.simulated is False


def test_both_clocks_satisfy_the_clock_protocol() -> None:
    clocks: list[Clock] = [SimulatedClock(T0), SystemClock()]
    assert [c.simulated for c in clocks] == [True, False]


def test_simulated_clock_refuses_a_naive_start() -> None:
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        SimulatedClock(datetime(2022, 1, 21))
