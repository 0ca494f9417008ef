"""SqliteStore on real files: every table round-trips, commits are atomic and idempotent."""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from engine.clock import SimulatedClock
from engine.errors import SerializationError, StateError
from engine.events import (
    BarSkipped,
    BreakerTransitioned,
    DailyStateReset,
    IssueReported,
    OperatorActed,
    OrderDenied,
    SignalRecorded,
)
from engine.model import Fill, OrderIntent, OrderRequest, OrderStatus, Side
from engine.ports import Batch, EngineStore, EquityPoint, InMemoryStore, PositionRecord
from tradeguard.store import schema
from tradeguard.store.sqlite_store import SqliteStore

T0 = datetime(2026, 1, 4, 16, 52, tzinfo=UTC)


def request(cid: str, at: datetime = T0, quantity: float = 0.5) -> OrderRequest:
    return OrderRequest(cid, "BTC", Side.BUY, quantity, 97000.0, at, limit_price=96990.0)


def intent(cid: str, status: OrderStatus, at: datetime = T0, **kw: object) -> OrderIntent:
    return OrderIntent(request(cid, at), status, at, **kw)  # type: ignore[arg-type]


def fill(fid: str, cid: str = "c1", quantity: float = 0.5) -> Fill:
    return Fill(fid, cid, "BTC", Side.BUY, quantity, 97010.0, 0.05, T0 + timedelta(minutes=1))


def full_batch() -> Batch:
    return Batch(
        signals=[SignalRecorded(T0, "BTC", Side.BUY, 0.8, T0, (10, 30), "ordered", "", "c1")],
        intents=[intent("c1", OrderStatus.SUBMITTED, broker_order_id="b1")],
        fills=[fill("f1")],
        positions=[PositionRecord("BTC", 0.5, 97010.0, 0.0, T0)],
        transitions=[BreakerTransitioned(T0, "CLOSED", "THROTTLED", "latency", 900.0, 500.0)],
        issues=[IssueReported(T0, "latency", {"ms": 900.0, "at": pd.Timestamp(T0)})],
        denials=[OrderDenied(T0, "c0", "BTC", Side.SELL, 1.0, "risk", "daily loss")],
        skipped_bars=[BarSkipped(T0, "BTC", None, "gap")],
        equity=[EquityPoint(T0, 10000.0, 5000.0, -12.5)],
        operator_actions=[OperatorActed(T0, "halt", "maintenance", "alice")],
        daily_resets=[DailyStateReset(T0, "2026-01-04", -12.5, 3, "operator", True)],
        state={
            "breaker": {"state": "THROTTLED", "since": T0.isoformat()},
            "risk": {"daily_pnl": -12.5, "daily_trades": 3},
            "last_signals": {"BTC:10:30": "BUY", "ETH:5:15": "SELL"},
        },
    )


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(T0 + timedelta(hours=1))


@pytest.fixture
def store(tmp_path: Path, clock: SimulatedClock) -> Iterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "state", clock=clock)
    yield opened
    opened.close()


def test_sqlite_store_satisfies_the_engine_store_protocol(store: SqliteStore) -> None:
    engine_store: EngineStore = store
    assert engine_store.load().state == {}


def test_every_table_round_trips_through_commit_and_reopen(tmp_path: Path) -> None:
    first = SqliteStore(tmp_path / "state")
    first.commit(full_batch())
    first.close()

    reopened = SqliteStore(tmp_path / "state")
    recovered = reopened.load()

    assert recovered.state == {
        "breaker": {"state": "THROTTLED", "since": T0.isoformat()},
        "risk": {"daily_pnl": -12.5, "daily_trades": 3},
        "last_signals": {"BTC:10:30": "BUY", "ETH:5:15": "SELL"},
    }
    assert recovered.open_intents == [intent("c1", OrderStatus.SUBMITTED, broker_order_id="b1")]
    assert recovered.positions == [PositionRecord("BTC", 0.5, 97010.0, 0.0, T0)]
    assert reopened.fills_for("c1") == [fill("f1")]
    assert reopened.recent_transitions(5) == [
        BreakerTransitioned(T0, "CLOSED", "THROTTLED", "latency", 900.0, 500.0)
    ]
    assert reopened.operator_actions_between(T0, T0) == [
        OperatorActed(T0, "halt", "maintenance", "alice")
    ]
    assert reopened.equity_between(T0, T0) == [EquityPoint(T0, 10000.0, 5000.0, -12.5)]
    assert reopened.signal_outcomes() == {"ordered": 1}
    counts = reopened.table_counts()
    for table in ("signals", "trades", "breaker_events", "issues", "denials", "skipped_bars"):
        assert counts[table] == 1, table
    assert counts["equity"] == counts["operator_actions"] == counts["daily_resets"] == 1
    assert "last_signals" not in counts  # the section is the one copy (schema v5)
    assert reopened.load().state["last_signals"] == {"BTC:10:30": "BUY", "ETH:5:15": "SELL"}
    reopened.close()


def test_sqlite_store_matches_in_memory_reference_semantics(store: SqliteStore) -> None:
    reference = InMemoryStore()
    batches = [
        full_batch(),
        Batch(
            intents=[
                intent("c1", OrderStatus.FILLED, T0 + timedelta(minutes=1)),
                intent("c2", OrderStatus.PENDING_SUBMIT),
            ],
            fills=[fill("f1"), fill("f2", "c2")],
            positions=[PositionRecord("BTC", 0.0, 0.0, 5.0, T0 + timedelta(minutes=2))],
            state={"risk": {"daily_pnl": 5.0, "daily_trades": 4}},
        ),
    ]
    for batch in batches:
        store.commit(batch)
        reference.commit(batch)

    ours, theirs = store.load(), reference.load()

    assert ours.state == theirs.state
    assert ours.open_intents == theirs.open_intents
    assert ours.positions == theirs.positions
    assert [store.fill_recorded(f) for f in ("f1", "f2", "f3")] == [True, True, False]


def test_intent_update_keeps_created_at_and_broker_id(store: SqliteStore) -> None:
    store.commit(Batch(intents=[intent("c1", OrderStatus.SUBMITTED, broker_order_id="b1")]))
    later = T0 + timedelta(minutes=3)
    update = OrderIntent(request("c1"), OrderStatus.UNKNOWN, later, None, "timeout")
    store.commit(Batch(intents=[update]))

    (recovered,) = store.load().open_intents

    assert recovered.status is OrderStatus.UNKNOWN
    assert recovered.request.created_at == T0
    assert recovered.updated_at == later
    assert recovered.broker_order_id == "b1"
    assert recovered.reason == "timeout"


def test_final_intents_are_not_returned_by_load(store: SqliteStore) -> None:
    statuses = list(OrderStatus)
    store.commit(Batch(intents=[intent(f"c-{s.value}", s) for s in statuses]))

    open_ids = {i.client_order_id for i in store.load().open_intents}

    assert open_ids == {f"c-{s.value}" for s in statuses if not s.is_final}


def test_load_reads_open_intents_through_the_partial_status_index(store: SqliteStore) -> None:
    plan = store._fetch(
        f"EXPLAIN QUERY PLAN SELECT client_order_id FROM order_intents "
        f"WHERE {schema.OPEN_STATUS_SQL}"
    )
    assert any("order_intents_open" in str(row[-1]) for row in plan)


def test_fill_committed_twice_is_stored_once(store: SqliteStore) -> None:
    store.commit(Batch(fills=[fill("f1")]))
    store.commit(Batch(fills=[fill("f1"), fill("f1")]))

    assert store.trade_count() == 1
    assert store.fill_recorded("f1")


def test_failing_batch_rolls_back_every_table(store: SqliteStore) -> None:
    store.commit(Batch(state={"risk": {"daily_trades": 1}}))
    broken_fill = Fill(None, "c9", "BTC", Side.BUY, 1.0, 1.0, 0.0, T0)  # type: ignore[arg-type]
    batch = full_batch()
    batch.fills.append(broken_fill)  # NOT NULL violation after other rows were written

    with pytest.raises(StateError, match="rolled back") as info:
        store.commit(batch)

    assert isinstance(info.value.__cause__, sqlite3.IntegrityError)
    assert store.load().state == {"risk": {"daily_trades": 1}}
    counts = store.table_counts()
    assert sum(counts.values()) - counts["store_meta"] - counts["key_state"] == 0


def test_serializer_error_in_a_section_writes_nothing(store: SqliteStore) -> None:
    batch = full_batch()
    batch.state["portfolio"] = {"opened": datetime(2026, 1, 4, 16, 52)}

    with pytest.raises(SerializationError, match=r"state\.portfolio\.opened: naive datetime"):
        store.commit(batch)

    assert store.trade_count() == 0
    assert store.load().state == {}


def test_naive_time_in_an_event_is_refused_naming_the_field(store: SqliteStore) -> None:
    bad = OperatorActed(datetime(2026, 1, 4), "halt", "x", "bob")
    batch = Batch(operator_actions=[OperatorActed(T0, "halt", "x", "bob"), bad])

    with pytest.raises(SerializationError, match=r"operator_actions\[1\]\.at: naive datetime"):
        store.commit(batch)


def test_last_signals_section_replaces_the_stored_one(store: SqliteStore) -> None:
    store.commit(full_batch())
    store.commit(Batch(state={"last_signals": {"BTC:10:30": "SELL"}}))

    assert store.load().state["last_signals"] == {"BTC:10:30": "SELL"}


def test_malformed_last_signals_key_is_refused(store: SqliteStore) -> None:
    with pytest.raises(SerializationError, match="not 'SYMBOL:fast:slow'"):
        store.commit(Batch(state={"last_signals": {"BTC-10-30": "BUY"}}))
    with pytest.raises(SerializationError, match="not BUY or SELL"):
        store.commit(Batch(state={"last_signals": {"BTC:10:30": "HOLD"}}))


def test_a_last_signals_key_is_checked_as_written_not_as_its_str_shows_it(
    store: SqliteStore,
) -> None:
    class Disguised(str):
        def __str__(self) -> str:
            return "BTC:10:30"

    # The encoder writes a str subclass's own characters ("garbage"); a check of str(key)
    # would pass a key the store then holds and every later load trips over.
    with pytest.raises(SerializationError, match="not 'SYMBOL:fast:slow'"):
        store.commit(Batch(state={"last_signals": {Disguised("garbage"): "BUY"}}))
    assert "last_signals" not in store.load().state


def test_commands_are_pending_until_marked_done(store: SqliteStore, clock: SimulatedClock) -> None:
    first = store.enqueue_command("halt", "maintenance", "alice", T0)
    second = store.enqueue_command("resume", "done", "alice", T0 + timedelta(minutes=5))

    assert [c.command_id for c in store.pending_commands()] == [first, second]
    store.commit(Batch(commands_done=[first]))

    (left,) = store.pending_commands()
    assert (left.command_id, left.action, left.requested_at) == (
        second,
        "resume",
        T0 + timedelta(minutes=5),
    )
    done_at = store._fetch("SELECT done_at FROM commands WHERE id = ?", (first,))[0][0]
    assert done_at == clock.now().isoformat(timespec="microseconds")


def test_time_window_queries_include_both_ends(store: SqliteStore) -> None:
    times = [T0 + timedelta(minutes=m) for m in range(5)]
    store.commit(
        Batch(
            transitions=[BreakerTransitioned(t, "A", "B", "x") for t in times],
            intents=[intent(f"c{i}", OrderStatus.FILLED, t) for i, t in enumerate(times)],
        )
    )

    window = store.transitions_between(times[1], times[3])

    assert [e.at for e in window] == times[1:4]
    assert [i.client_order_id for i in store.intents_between(times[1], times[3])] == [
        "c1",
        "c2",
        "c3",
    ]
    assert [e.at for e in store.recent_transitions(2)] == times[3:]


def test_duplicate_client_order_ids_reports_double_orders_and_overfills(
    store: SqliteStore,
) -> None:
    def ordered(cid: str, minute: int) -> SignalRecorded:
        bar = T0 + timedelta(minutes=minute)
        return SignalRecorded(bar, "BTC", Side.BUY, 1.0, bar, (10, 30), "ordered", "", cid)

    store.commit(
        Batch(
            signals=[ordered("same", 1), ordered("same", 2), ordered("retry-a", 3)],
            intents=[intent("over", OrderStatus.FILLED), intent("fine", OrderStatus.FILLED)],
            fills=[fill("f1", "over"), fill("f2", "over"), fill("f3", "fine")],
        )
    )
    store.commit(Batch(signals=[ordered("retry-b", 3), ordered("single", 4)]))

    assert store.duplicate_client_order_ids() == ["over", "retry-a", "retry-b", "same"]


def test_no_duplicates_reported_for_a_clean_journal(store: SqliteStore) -> None:
    store.commit(full_batch())
    assert store.duplicate_client_order_ids() == []


@pytest.mark.parametrize(("durability", "synchronous"), [("kill9", 1), ("power", 2)])
def test_durability_mode_sets_the_synchronous_pragma(
    tmp_path: Path, durability: str, synchronous: int
) -> None:
    store = SqliteStore(tmp_path / "s", durability)  # type: ignore[arg-type]
    settings = store.pragmas()
    store.close()

    assert settings["synchronous"] == synchronous
    assert settings["journal_mode"] == "wal"
    assert settings["foreign_keys"] == 1
    assert settings["busy_timeout"] > 0


def test_unknown_durability_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="durability"):
        SqliteStore(tmp_path / "s", "fast")  # type: ignore[arg-type]


def test_store_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    import os

    old = os.umask(0o000)
    try:
        store = SqliteStore(tmp_path / "state")
        store.commit(full_batch())
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "state").iterdir()}
        dir_mode = stat.S_IMODE((tmp_path / "state").stat().st_mode)
        store.close()
    finally:
        os.umask(old)

    assert dir_mode == 0o700
    assert {"state.db", "state.db-wal", "state.db-shm"} <= set(modes)
    assert set(modes.values()) == {0o600}


def test_empty_database_is_migrated_from_version_zero_to_current(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.execute("DROP TABLE t")
    conn.commit()
    conn.close()

    store = SqliteStore(path)
    version = schema.schema_version(store._conn)  # type: ignore[arg-type]
    present = {row[0] for row in store._fetch("SELECT name FROM sqlite_master")}
    store.close()

    assert version == schema.CURRENT_VERSION
    assert set(schema.tables()) <= present


def test_migrations_apply_in_order_one_version_at_a_time(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    applied: list[int] = []

    def second(c: sqlite3.Connection) -> None:
        applied.append(schema.schema_version(c))
        c.execute("CREATE TABLE extra (x)")

    current = len(schema.MIGRATIONS)
    assert schema.migrate(conn, schema.MIGRATIONS) == current
    assert schema.migrate(conn, (*schema.MIGRATIONS, second)) == current + 1
    assert schema.migrate(conn, (*schema.MIGRATIONS, second)) == current + 1
    conn.close()
    assert applied == [current]


def test_store_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "s").close()
    conn = sqlite3.connect(tmp_path / "s" / "state.db")
    conn.execute("UPDATE store_meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()

    with pytest.raises(StateError, match="schema version 99, newer than this tradeguard"):
        SqliteStore(tmp_path / "s")


def test_foreign_database_is_refused_rather_than_adopted(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "other.db")
    conn.execute("CREATE TABLE customers (id)")
    conn.commit()
    conn.close()

    with pytest.raises(StateError, match="not a tradeguard state store"):
        SqliteStore(tmp_path / "other.db")


def test_commit_after_close_raises_state_error(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s")
    store.close()
    store.close()

    with pytest.raises(StateError, match="closed"):
        store.commit(Batch(state={"a": {"n": 1}}))


def test_unclean_shutdown_triggers_full_check_on_next_open(tmp_path: Path) -> None:
    crashed = SqliteStore(tmp_path / "s")
    crashed.commit(full_batch())  # never closed: the session marker stays "open"

    after_crash = SqliteStore(tmp_path / "s")
    after_crash.close()
    after_clean = SqliteStore(tmp_path / "s")
    after_clean.close()
    crashed._conn.close()  # type: ignore[union-attr]

    assert after_crash.verified == "full"
    assert after_clean.verified == "recovery"


def test_reader_store_does_not_touch_the_session_marker(tmp_path: Path) -> None:
    session = SqliteStore(tmp_path / "s")
    reader = SqliteStore(tmp_path / "s", session=False, verify="recovery")
    reader.close()  # must not mark the running session's store as cleanly closed

    probe = SqliteStore(tmp_path / "s", session=False)
    probe.close()
    session.close()

    assert probe.verified == "full"


def test_a_lone_intent_commits_without_an_open_transaction_and_fails_cleanly(
    store: SqliteStore,
) -> None:
    writes: list[str] = []
    store._conn.set_trace_callback(writes.append)  # type: ignore[union-attr]
    store.commit(Batch(intents=[intent("c1", OrderStatus.PENDING_SUBMIT)]))
    # One row is its own transaction: no BEGIN/COMMIT round trips around it.
    assert [w.split()[0] for w in writes] == ["INSERT"]
    assert [i.client_order_id for i in store.load().open_intents] == ["c1"]

    # Another writer holds the lock: the lone statement fails as a commit does, leaves no
    # transaction open, and the store commits again once the lock is gone.
    store._conn.set_trace_callback(None)  # type: ignore[union-attr]
    store._conn.execute("PRAGMA busy_timeout=0")  # type: ignore[union-attr]
    other = sqlite3.connect(store.path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StateError, match="failed and was rolled back"):
            store.commit(Batch(intents=[intent("c2", OrderStatus.PENDING_SUBMIT)]))
        other.execute("ROLLBACK")
    finally:
        other.close()
    assert not store._conn.in_transaction  # type: ignore[union-attr]
    store.commit(Batch(intents=[intent("c3", OrderStatus.PENDING_SUBMIT)]))
    assert [i.client_order_id for i in store.load().open_intents] == ["c1", "c3"]


def test_a_lone_intent_on_a_connection_left_in_a_transaction_fails_closed(
    store: SqliteStore,
) -> None:
    # Whatever left the connection inside a transaction, a lone statement would join it and
    # report success with nothing durable before the broker call; BEGIN refuses instead.
    conn = store._conn
    assert conn is not None
    conn.execute("BEGIN")
    with pytest.raises(StateError, match="failed and was rolled back"):
        store.commit(Batch(intents=[intent("c1", OrderStatus.PENDING_SUBMIT)]))
    assert not conn.in_transaction
    other = sqlite3.connect(store.path)
    try:
        assert other.execute("SELECT COUNT(*) FROM order_intents").fetchone() == (0,)
    finally:
        other.close()
    store.commit(Batch(intents=[intent("c2", OrderStatus.PENDING_SUBMIT)]))
    assert [i.client_order_id for i in store.load().open_intents] == ["c2"]


def test_a_lone_row_with_alerts_to_derive_still_takes_a_transaction(store: SqliteStore) -> None:
    written: list[str] = []

    class Hook:
        def writes_for(self, batch: Batch) -> bool:
            return bool(batch.transitions)

        def __call__(self, conn: sqlite3.Connection, batch: Batch, now: str) -> None:
            written.append(now)
            assert conn.in_transaction  # the alert rows join the event's transaction

    store.alert_hook = Hook()
    store.commit(Batch(intents=[intent("c1", OrderStatus.PENDING_SUBMIT)]))
    assert written == []
    event = BreakerTransitioned(T0, "CLOSED", "ALERT", "latency", 900.0, 500.0)
    store.commit(Batch(transitions=[event]))
    assert len(written) == 1
