"""Live sessions against the Binance emulator: same decisions as the replay, faults, safety.

Every session here is the real one (engine.assembly + SQLite journal + CcxtBroker + real ccxt
over loopback HTTP + LiveBarFeed), on a SimulatedClock the emulator shares, so an hour of
bars runs in seconds and nothing sleeps for timing.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from engine.broker import PaperBroker
from engine.clock import SimulatedClock
from engine.session import SessionEnd
from tests.integration.venue_support import (
    DATA_FILE,
    SYMBOL,
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
from tradeguard.adapters.paper_book import SqlitePaperBook
from tradeguard.bootstrap import (
    BOOK_FILE,
    bootstrap,
    engine_config,
    ensure_state_dir,
    open_store,
)
from tradeguard.marketdata import read_bars
from tradeguard.venues.emulator.faults import FaultRule, HttpFaults
from tradeguard.venues.live import with_warm_cursors

HOUR_END = T0 + minutes(60) + minutes(0.1)  # the 20:59 bar closes at 21:00 and is polled


def _replay_hour(settings: object, data_dir: Path, warmup: int) -> SessionEnd:
    """Replay 20:00-21:00 with the paper venue, warm on the same bars the live feed fetched."""
    from engine.assembly import assemble

    state_dir = ensure_state_dir(settings.store.state_dir)  # type: ignore[attr-defined]
    items = list(read_bars(data_dir / DATA_FILE, SYMBOL, T0 - minutes(warmup), T0 + minutes(60)))
    warm = [i for i in items if i.ts < T0]
    clock = SimulatedClock(T0)
    store = open_store(settings, state_dir, writer=True)  # type: ignore[arg-type]
    book = SqlitePaperBook(state_dir / BOOK_FILE)
    try:
        broker = PaperBroker(settings.broker, clock, book)  # type: ignore[attr-defined]
        session = assemble(
            engine_config(settings), clock=clock,  # type: ignore[arg-type]
            store=store, broker=broker, recovered=with_warm_cursors(store.load(), warm),
        )
        return session.run(items)
    finally:
        book.close()
        store.close()


@pytest.mark.parametrize("paper", [False, True], ids=["emulator-venue", "paper-venue"])
def test_live_hour_makes_the_same_decisions_as_the_replay(
    tmp_path: Path, data_dir: Path, paper: bool
) -> None:
    clock = SimulatedClock(T0)
    emulator = make_emulator(data_dir, clock)
    with serving(emulator) as server:
        venue = venue_config(server.url, warmup_bars=30)
        live = live_settings(tmp_path / "live", venue)
        _, _, end = run_live_until(live, clock, HOUR_END, paper=paper)
    assert (emulator.orders() == []) is paper
    assert end.last_bar == T0 + minutes(59)
    replay = live_settings(tmp_path / "replay", venue)
    _replay_hour(replay, data_dir, warmup=30)
    live_signals = journal(tmp_path / "live")["signals"]
    assert len(live_signals) >= 5  # the 2x5 SMA crosses often on 2022-01-21
    assert live_signals == journal(tmp_path / "replay")["signals"]


def test_every_fill_is_booked_once_and_no_client_id_reaches_the_venue_twice(
    tmp_path: Path, data_dir: Path
) -> None:
    clock = SimulatedClock(T0)
    emulator = make_emulator(data_dir, clock)
    with serving(emulator) as server:
        settings = live_settings(tmp_path / "s", venue_config(server.url))
        run_live_until(settings, clock, HOUR_END)
        # A second process resumes the same state: it reconciles and books what is left.
        run_live_until(settings, clock, HOUR_END + minutes(3))
    trades = journal(tmp_path / "s")["trades"]
    filled_at_venue = [o for o in emulator.orders() if o.executed > 0]
    assert len(trades) == len(filled_at_venue) >= 5
    assert len({t[0] for t in trades}) == len(trades)
    assert max(Counter(emulator.submissions()).values()) == 1


def test_lost_and_late_order_answers_are_reconciled_without_duplicates(
    tmp_path: Path, data_dir: Path
) -> None:
    faults = HttpFaults([
        FaultRule(kind="lost_response", method="POST", path="/api/v3/order", times=2),
        FaultRule(kind="timeout_after_accept", method="POST", path="/api/v3/order", after=1,
                  times=1, hold_seconds=1.0),
    ])
    clock = SimulatedClock(T0)
    emulator = make_emulator(data_dir, clock, faults=faults)
    with serving(emulator) as server:
        venue = venue_config(server.url, timeout_ms=300)
        settings = live_settings(tmp_path / "s", venue)
        run_live_until(settings, clock, HOUR_END)
    assert [f[0] for f in faults.fired] == ["lost_response", "lost_response",
                                            "timeout_after_accept"]
    book = journal(tmp_path / "s")
    orders = emulator.orders()
    assert max(Counter(emulator.submissions()).values()) == 1
    # The three unanswered orders had reached the venue: found by client id, never resent,
    # and their fills booked like every other one, once.
    statuses = [status for _, status, _ in book["intents"]]
    assert len(statuses) == len(orders) >= 5
    assert set(statuses[:-1]) == {"FILLED"}
    assert statuses[-1] in ("FILLED", "SUBMITTED")  # the last may fill after the hour
    booked = Counter(t[1] for t in book["trades"])
    assert max(booked.values()) == 1
    assert len(booked) == statuses.count("FILLED")


@pytest.mark.parametrize("kind", ["rate_limit", "server_error"])
def test_rate_limit_and_5xx_storms_drive_the_breaker_up_and_back_down(
    tmp_path: Path, data_dir: Path, kind: str
) -> None:
    storm = FaultRule(kind=kind, method="POST", path="/api/v3/order", times=5)  # type: ignore[arg-type]
    faults = HttpFaults([storm])
    clock = SimulatedClock(T0)
    emulator = make_emulator(data_dir, clock, faults=faults)
    with serving(emulator) as server:
        # Automatic HALT recovery, chosen explicitly: a live venue defaults to "confirm".
        settings = live_settings(tmp_path / "s", venue_config(server.url),
                                 breaker={"halt_recovery": "auto"})
        run_live_until(settings, clock, T0 + minutes(170))
    states = [to for _, to, _ in journal(tmp_path / "s")["breaker"]]
    halt = states.index("HALT")
    assert states.index("ALERT") < states.index("THROTTLE") < halt
    assert "HALF_OPEN" in states[halt:] and states[-1] == "CLOSED"
    assert len(faults.fired) == 5
    assert emulator.orders()  # after the storm the venue took orders again


def test_a_live_halt_waits_for_the_operator_by_default(tmp_path: Path, data_dir: Path) -> None:
    storm = FaultRule(kind="server_error", method="POST", path="/api/v3/order", times=5)
    clock = SimulatedClock(T0)
    emulator = make_emulator(data_dir, clock, faults=HttpFaults([storm]))
    with serving(emulator) as server:
        settings = live_settings(tmp_path / "s", venue_config(server.url))
        runtime, _, _ = run_live_until(settings, clock, T0 + minutes(170))
    states = [to for _, to, _ in journal(tmp_path / "s")["breaker"]]
    assert "HALT" in states and states[-1] == "HALT"  # hours healthy, still no recovery
    assert runtime.session.breaker.awaiting_confirmation


def test_wrong_keys_shut_the_session_down_before_any_bar(tmp_path: Path, data_dir: Path) -> None:
    clock = SimulatedClock(T0)
    with serving(make_emulator(data_dir, clock)) as server:
        venue = venue_config(server.url, api_secret="not-the-secret")
        settings = live_settings(tmp_path / "s", venue)
        runtime, _, end = run_live_until(settings, clock, HOUR_END)
    assert runtime.session.breaker.state.value == "SHUTDOWN"
    assert end.stopped_by_breaker and end.last_bar is None
    issues = journal(tmp_path / "s")["issues"]
    assert any(t == "SECURITY_BREACH" and "credentials" in d for t, d in issues)


def test_keys_revoked_mid_session_shut_it_down(tmp_path: Path, data_dir: Path) -> None:
    clock = SimulatedClock(T0)
    emulator = make_emulator(data_dir, clock)

    def revoke_after_20_minutes(_event: object) -> None:
        if clock.now() >= T0 + minutes(20):
            emulator.set_credentials("someOtherKey", "someOtherSecret")

    with serving(emulator) as server:
        settings = live_settings(tmp_path / "s", venue_config(server.url))
        runtime, _, end = run_live_until(settings, clock, HOUR_END,
                                         listeners=[revoke_after_20_minutes])
    assert runtime.session.breaker.state.value == "SHUTDOWN"
    assert end.stopped_by_breaker
    assert end.last_bar is not None and T0 + minutes(20) <= end.last_bar < T0 + minutes(30)
    events = journal(tmp_path / "s")["breaker"]
    assert events[-1][1:] == ("SHUTDOWN", "critical_error")  # not 10 failures later


def test_an_order_nobody_journaled_halts_the_session_at_start(
    tmp_path: Path, data_dir: Path
) -> None:
    from tests.integration.venue_support import exchange_for

    clock = SimulatedClock(T0)
    emulator = make_emulator(data_dir, clock)
    with serving(emulator) as server:
        venue = venue_config(server.url)
        # Someone else (a manual order, a second bot) rests an order on the same account.
        exchange_for(venue).create_order(SYMBOL, "limit", "buy", 0.01, 30_000.0,
                                         {"newClientOrderId": "manual-1"})
        settings = live_settings(tmp_path / "s", venue)
        run_live_until(settings, clock, T0 + minutes(5))
    events = journal(tmp_path / "s")
    assert events["breaker"][0] == ("CLOSED", "HALT", "critical_error")
    assert any("manual-1" in details for _, details in events["issues"])
    assert all(o.client_order_id == "manual-1" for o in emulator.orders())  # nothing opened


def test_operator_halt_reaches_a_running_live_session(tmp_path: Path, data_dir: Path) -> None:
    from tradeguard import services

    clock = SimulatedClock(T0)
    receipts: list[object] = []
    with serving(make_emulator(data_dir, clock)) as server:
        settings = live_settings(tmp_path / "s", venue_config(server.url))

        def operator_halts_at_20_10(_event: object) -> None:
            if clock.now() >= T0 + minutes(10) and not receipts:
                app = bootstrap(settings)
                receipts.append(services.operator_command(app, "halt", "drill", "ops"))

        runtime, _, end = run_live_until(settings, clock, T0 + minutes(30),
                                         listeners=[operator_halts_at_20_10])
    assert receipts and not receipts[0].applied_directly  # type: ignore[attr-defined]
    assert runtime.session.breaker.state.value == "HALT"
    assert ("CLOSED", "HALT", "manual_override") in journal(tmp_path / "s")["breaker"]
    assert not end.stopped_by_breaker  # HALT blocks new exposure; the session keeps watching
