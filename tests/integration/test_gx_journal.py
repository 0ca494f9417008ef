"""Journal and breaker-event suites on a real store from a short replay, and on broken copies."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from checks.audit import audit
from checks.journal_suite import JournalParams
from checks.market_data import BarSource
from checks.report import CheckReport
from tradeguard import bootstrap, services
from tradeguard.requests import DataSpec, ReplayRequest
from tradeguard.settings import load_settings

FTX = "btc-perp_ftx_1m.csv.gz"
LIMIT = 1000
Edit = Callable[[sqlite3.Connection], None]


@pytest.fixture(scope="module")
def real_store(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """Replay 3 hours of the 2022-01-21 sell-off with a 10-minute reject storm (breaker moves)."""
    base = tmp_path_factory.mktemp("journal")
    plan = base / "faults.toml"
    plan.write_text('[[fault]]\nstart = "2022-01-21T09:13:00Z"\nend = "2022-01-21T09:23:00Z"\n'
                    "reject_rate = 1.0\n")
    settings = load_settings(
        store={"state_dir": base / "state"},
        strategy={"pairs": [(2, 5), (3, 7), (4, 9), (5, 11)], "confidence_scale_pct": 0.0001},
        risk={"max_daily_trades": LIMIT},
    )
    request = ReplayRequest(
        data=(DataSpec(data_dir / FTX, "BTC-PERP"),),
        start=datetime(2022, 1, 21, 8, tzinfo=UTC), end=datetime(2022, 1, 21, 11, tzinfo=UTC),
        faults=plan, seed=11,
    )
    services.run_session(bootstrap.bootstrap(settings), request)
    return bootstrap.store_path(base / "state")


@pytest.fixture(scope="module")
def bars(data_dir: Path) -> tuple[BarSource, ...]:
    return (BarSource(data_dir / FTX, "BTC-PERP"),)


def copy_store(source: Path, target: Path) -> Path:
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()
    return target


def run_audit(store: Path, bars: tuple[BarSource, ...], limit: int = LIMIT) -> CheckReport:
    return audit(store, JournalParams(price_collar_pct=5.0, max_daily_trades=limit), bars)


def test_real_store_passes_every_expectation_and_has_breaker_moves(
    real_store: Path, bars: tuple[BarSource, ...]
) -> None:
    with sqlite3.connect(real_store) as conn:
        moves = conn.execute("SELECT from_state, to_state, trigger FROM breaker_events").fetchall()
        fills = conn.execute("SELECT COUNT(*) FROM trades").fetchone()[0]
        rejected = conn.execute(
            "SELECT COUNT(*) FROM order_intents WHERE status = 'REJECTED'").fetchone()[0]
    conn.close()
    assert ("HALT", "HALF_OPEN", "cooldown") in moves and fills > 10 and rejected > 0

    report = run_audit(real_store, bars)

    assert report.success, report.text_lines()
    assert len(report.outcomes) == len(BROKEN)


def test_the_day_limit_in_force_is_the_one_judged(
    real_store: Path, bars: tuple[BarSource, ...]
) -> None:
    with sqlite3.connect(real_store) as conn:
        fills = conn.execute("SELECT COUNT(*) FROM trades").fetchone()[0]
    conn.close()

    exact = run_audit(real_store, bars, limit=fills)
    below = run_audit(real_store, bars, limit=fills - 1)

    assert exact.success, exact.text_lines()
    assert below.failed_names() == {"daily_trades_within_limit"}
    (outcome,) = below.failures
    assert outcome.sample[0]["trading_day"] == "2022-01-21"
    assert outcome.sample[0]["trades"] == str(fills)


# ----------------------------------------------------------------- edits of a copy of the store
def unconstrain(conn: sqlite3.Connection, table: str) -> None:
    """Recreate table without its keys and CHECKs, so that a broken row can be written."""
    conn.execute(f"CREATE TABLE loose AS SELECT * FROM {table}")
    conn.execute(f"DROP TABLE {table}")
    conn.execute(f"ALTER TABLE loose RENAME TO {table}")


def one(conn: sqlite3.Connection, sql: str) -> str:
    row = conn.execute(sql).fetchone()
    assert row is not None, sql
    return str(row[0])


def rejected_id(conn: sqlite3.Connection) -> str:
    return one(conn, "SELECT client_order_id FROM order_intents WHERE status = 'REJECTED'")


def filled_id(conn: sqlite3.Connection) -> str:
    return one(conn, "SELECT client_order_id FROM trades ORDER BY id LIMIT 1")


def update(sql: str, *, loose: str | None = None, key: Callable[[sqlite3.Connection], str]
           | None = None) -> Edit:
    def edit(conn: sqlite3.Connection) -> None:
        if loose is not None:
            unconstrain(conn, loose)
        args = (key(conn),) if key is not None else ()
        assert conn.execute(sql, args).rowcount >= 1, sql
    return edit


TRADE_COLUMNS = "fill_id, client_order_id, symbol, side, quantity, price, fee, ts"


def duplicate_fill(conn: sqlite3.Connection) -> None:
    """The same fill recorded a second time under a new fill_id."""
    conn.execute(f"INSERT INTO trades ({TRADE_COLUMNS}) SELECT fill_id || '-again', "
                 "client_order_id, symbol, side, quantity, price, fee, ts FROM trades "
                 "ORDER BY id LIMIT 1")


def fill_without_intent(conn: sqlite3.Connection) -> None:
    conn.execute(f"INSERT INTO trades ({TRADE_COLUMNS}) SELECT 'ghost-1', 'ghost', symbol, "
                 "side, quantity, price, fee, ts FROM trades ORDER BY id LIMIT 1")


def fill_for_rejected_intent(conn: sqlite3.Connection) -> None:
    rejected = rejected_id(conn)
    conn.execute(
        f"INSERT INTO trades ({TRADE_COLUMNS}) SELECT i.client_order_id || '-1', "
        "i.client_order_id, i.symbol, i.side, i.quantity, t.price, t.fee, t.ts "
        "FROM order_intents i, (SELECT * FROM trades ORDER BY id LIMIT 1) t "
        "WHERE i.client_order_id = ?", (rejected,))


def duplicate_intent(conn: sqlite3.Connection) -> None:
    unconstrain(conn, "order_intents")
    conn.execute("INSERT INTO order_intents SELECT * FROM order_intents WHERE status = 'REJECTED' "
                 "LIMIT 1")


def duplicate_fill_id(conn: sqlite3.Connection) -> None:
    unconstrain(conn, "trades")
    conn.execute("INSERT INTO trades SELECT id + 100000, fill_id, client_order_id, symbol, side, "
                 "quantity, price * 1.0001, fee, ts FROM trades ORDER BY id LIMIT 1")


def ordered_signal_without_intent(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT INTO signals (at, symbol, side, confidence, bar_time, fast, slow, outcome,"
                 " reason, client_order_id) SELECT at, symbol, side, confidence, bar_time, fast,"
                 " slow, outcome, reason, 'ghost' FROM signals WHERE outcome = 'ordered' LIMIT 1")


def ordered_signal_twice(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT INTO signals (at, symbol, side, confidence, bar_time, fast, slow, outcome,"
                 " reason, client_order_id) SELECT at, symbol, side, confidence, bar_time, fast,"
                 " slow, outcome, reason, client_order_id FROM signals WHERE outcome = 'ordered'"
                 " LIMIT 1")


def halt_straight_to_closed(conn: sqlite3.Connection) -> None:
    """The illegal move: HALT -> CLOSED by cooldown skips HALF_OPEN (chain kept intact)."""
    step = int(one(conn, "SELECT id FROM breaker_events WHERE from_state = 'HALT'"))
    conn.execute("DELETE FROM breaker_events WHERE id = ?", (step + 1,))
    conn.execute("UPDATE breaker_events SET to_state = 'CLOSED' WHERE id = ?", (step,))


def shutdown_left_by_cooldown(conn: sqlite3.Connection) -> None:
    last = conn.execute("SELECT MAX(id), MAX(at) FROM breaker_events").fetchone()
    conn.executemany(
        "INSERT INTO breaker_events (id, at, from_state, to_state, trigger, reason) "
        "VALUES (?, ?, ?, ?, ?, 'planted')",
        [(last[0] + 1, last[1], "CLOSED", "SHUTDOWN", "critical_error"),
         (last[0] + 2, last[1], "SHUTDOWN", "CLOSED", "cooldown")])


def time_goes_back(conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE breaker_events SET at = '2022-01-21T00:00:00.000000+00:00' "
                 "WHERE id = (SELECT MAX(id) FROM breaker_events)")


def chain_broken(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM breaker_events WHERE from_state = 'HALT'")


FIRST_EVENT = "(SELECT MIN(id) FROM breaker_events)"
LAST_EVENT = "(SELECT MAX(id) FROM breaker_events)"
# expectation -> (edit of a copy of the real store, other expectations it may also break)
BROKEN: dict[str, tuple[Edit, frozenset[str]]] = {
    "intent_client_order_id_unique": (duplicate_intent, frozenset()),
    "intent_side_valid": (update(
        "UPDATE order_intents SET side = 'HOLD' WHERE client_order_id = ?",
        loose="order_intents", key=rejected_id), frozenset()),
    "intent_status_valid": (update(
        "UPDATE order_intents SET status = 'LOST' WHERE client_order_id = ?", key=rejected_id,
        loose="order_intents"), frozenset()),
    "intent_quantity_positive": (update(
        "UPDATE order_intents SET quantity = 0 WHERE client_order_id = ?", key=rejected_id),
        frozenset()),
    "filled_intent_has_fill": (update(
        "DELETE FROM trades WHERE client_order_id = ?", key=filled_id), frozenset()),
    "fill_id_unique": (duplicate_fill_id, frozenset({"fills_within_intent_quantity"})),
    "fill_not_duplicated": (duplicate_fill, frozenset({"fills_within_intent_quantity"})),
    "fill_side_valid": (update(
        "UPDATE trades SET side = 'HOLD' WHERE id = (SELECT MIN(id) FROM trades)",
        loose="trades"), frozenset({"fill_side_matches_intent"})),
    "fill_quantity_positive": (update(
        "UPDATE trades SET quantity = 0 WHERE id = (SELECT MIN(id) FROM trades)"), frozenset()),
    "fill_price_positive": (update(
        "UPDATE trades SET price = 0 WHERE id = (SELECT MIN(id) FROM trades)"),
        frozenset({"fill_price_within_collar"})),
    "fill_fee_non_negative": (update(
        "UPDATE trades SET fee = -1 WHERE id = (SELECT MIN(id) FROM trades)"), frozenset()),
    "fill_has_intent": (fill_without_intent, frozenset()),
    "fill_not_for_rejected_intent": (fill_for_rejected_intent, frozenset()),
    "fill_intent_filled": (update(
        "UPDATE order_intents SET status = 'SUBMITTED' WHERE client_order_id = ?", key=filled_id),
        frozenset()),
    "fill_side_matches_intent": (update(
        "UPDATE trades SET side = CASE side WHEN 'BUY' THEN 'SELL' ELSE 'BUY' END "
        "WHERE id = (SELECT MIN(id) FROM trades)"), frozenset()),
    "fills_within_intent_quantity": (update(
        "UPDATE trades SET quantity = quantity * 2 WHERE id = (SELECT MIN(id) FROM trades)"),
        frozenset()),
    "fill_price_within_collar": (update(
        "UPDATE trades SET price = price * 1.2 WHERE id = (SELECT MIN(id) FROM trades)"),
        frozenset()),
    "ordered_signal_has_intent": (ordered_signal_without_intent, frozenset()),
    "ordered_client_order_id_unique": (ordered_signal_twice, frozenset()),
    "daily_trades_within_limit": (update(
        f"INSERT INTO trades ({TRADE_COLUMNS}) SELECT fill_id || '-x', client_order_id, symbol,"
        " side, quantity, price, fee, ts FROM trades"),
        frozenset({"fill_not_duplicated", "fills_within_intent_quantity"})),
    "breaker_from_state_valid": (update(
        f"UPDATE breaker_events SET from_state = 'OPEN' WHERE id = {FIRST_EVENT}"), frozenset()),
    "breaker_to_state_valid": (update(
        f"UPDATE breaker_events SET to_state = 'OPEN' WHERE id = {LAST_EVENT}"), frozenset()),
    "breaker_escalation_legal": (update(
        f"UPDATE breaker_events SET trigger = 'cooldown' WHERE id = {FIRST_EVENT}"), frozenset()),
    "breaker_deescalation_one_level": (halt_straight_to_closed, frozenset()),
    "breaker_shutdown_left_by_reset_only": (shutdown_left_by_cooldown, frozenset()),
    "breaker_times_non_decreasing": (time_goes_back, frozenset()),
    "breaker_chain_unbroken": (chain_broken, frozenset()),
}


@pytest.mark.parametrize("expectation", sorted(BROKEN))
def test_broken_copy_of_a_real_store_fails_the_expectation_that_guards_it(
    real_store: Path, bars: tuple[BarSource, ...], tmp_path: Path, expectation: str
) -> None:
    store = copy_store(real_store, tmp_path / "state.db")
    edit, also = BROKEN[expectation]
    with sqlite3.connect(store) as conn:
        edit(conn)
    conn.close()
    limit = 2 * LIMIT if expectation != "daily_trades_within_limit" else 60

    report = run_audit(store, bars, limit)

    failed = report.failed_names()
    assert expectation in failed, report.text_lines()
    assert failed <= {expectation, *also}, report.text_lines()
    (outcome,) = [o for o in report.failures if o.name == expectation]
    assert outcome.sample, "a failure shows the rows at fault"
