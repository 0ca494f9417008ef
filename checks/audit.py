"""Post-session audit of the journal and breaker events, on a snapshot of the state store.

`audit(store_file, params, bars)` copies the store with SQLite's online backup (the live file is
opened read-only and never changed), adds the derived tables the suites need, and runs the
journal and breaker suites of checks/journal_suite.py and checks/breaker_suite.py on it with
Great Expectations' SQLite data source.
"""

from __future__ import annotations

import logging
import sqlite3
import tempfile
from collections.abc import Callable, Mapping, Sequence
from datetime import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checks import breaker_suite, journal_suite
from checks.docs_page import inject_verdict
from checks.gx_context import RESULT_FORMAT, build_docs, new_context, suite_results
from checks.journal_suite import BARS_TABLE, WINDOWS_TABLE, JournalParams
from checks.market_data import BarSource, read_frame
from checks.report import SAMPLE_ROWS, CheckReport, ExpectationOutcome, Row, cell_text, outcomes_of
from engine.errors import StateError
from tradeguard.store import union
from tradeguard.store.archive import history_path

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped]

log = logging.getLogger(__name__)

KIND = "journal_audit"
_NOON = time(12, 0)


def audit(
    store_file: Path,
    params: JournalParams,
    bars: Sequence[BarSource] = (),
    docs_dir: Path | None = None,
) -> CheckReport:
    """Audit the journal and breaker events of a state store; report every failure."""
    if not store_file.is_file():
        message = f"journal audit: state store {store_file} does not exist"
        raise StateError(message)
    with tempfile.TemporaryDirectory(prefix="tradeguard-audit-") as scratch:
        snapshot = Path(scratch) / "journal.sqlite"
        _snapshot(store_file, snapshot)
        with sqlite3.connect(snapshot) as conn:
            breaker_suite.install_tables(conn)
            _install_bars(conn, bars)
            _install_windows(conn, params)
        conn.close()
        report = _run(snapshot, params, docs_dir)
    log.info("journal_audited store=%s success=%s failed=%d", store_file, report.success,
             len(report.failures))
    return report


def _snapshot(source: Path, target: Path) -> None:
    """Copy the whole journal (state.db with its history.db folded in) into one file."""
    try:
        src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as e:
        message = f"journal audit: cannot open {source} read-only: {e}"
        raise StateError(message) from e
    try:
        with sqlite3.connect(target) as dst:
            src.backup(dst)  # the hot file first, then its history (see tradeguard.store.union)
            union.materialize(dst, history_path(source))
        dst.close()
    except sqlite3.Error as e:
        message = f"journal audit: cannot snapshot {source}: {e}"
        raise StateError(message) from e
    finally:
        src.close()


def _install_bars(conn: sqlite3.Connection, bars: Sequence[BarSource]) -> None:
    conn.execute(f"CREATE TABLE {BARS_TABLE} (symbol TEXT, ts TEXT, open REAL)")
    symbols = {row[0] for row in conn.execute("SELECT DISTINCT symbol FROM trades")}
    first, last = conn.execute("SELECT MIN(ts), MAX(ts) FROM trades").fetchone()
    for source in bars:
        if source.symbol not in symbols:
            continue  # only the bars a fill can refer to
        frame = _bar_opens(source, first, last)
        conn.executemany(f"INSERT INTO {BARS_TABLE} VALUES (?, ?, ?)",
                         zip([source.symbol] * len(frame), frame["ts"], frame["open"],
                             strict=True))
    conn.execute(f"CREATE INDEX {BARS_TABLE}_key ON {BARS_TABLE} (symbol, ts)")


def _bar_opens(source: BarSource, first: str, last: str) -> pd.DataFrame:
    import pandas as pd

    raw = read_frame(source.path)
    ts = pd.to_datetime(raw["ts"], utc=True, errors="coerce", format="ISO8601")
    frame = pd.DataFrame({"ts": ts, "open": pd.to_numeric(raw["open"], errors="coerce")})
    low, high = pd.Timestamp(first), pd.Timestamp(last)
    frame = frame[(frame["ts"] >= low) & (frame["ts"] <= high)].dropna()
    # The store's text form of a time (tradeguard/store/serialize.py): microseconds, +00:00.
    frame["ts"] = frame["ts"].dt.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    return frame


def trading_days(stamps: pd.Series, params: JournalParams) -> pd.Series:
    """Return the trading day (as ISO date text) of each UTC fill time, as engine/risk.py does."""
    import pandas as pd

    local = pd.to_datetime(stamps, utc=True, format="ISO8601").dt.tz_convert(params.day_timezone)
    hour, minute = (int(part) for part in params.day_boundary.split(":"))
    before = (local.dt.hour * 60 + local.dt.minute) < hour * 60 + minute
    day = local.dt.tz_localize(None).dt.normalize()
    day = day.where(~before, day - pd.Timedelta(days=1))
    if time(hour, minute) >= _NOON:  # a day starting in the afternoon is named for the next
        day = day + pd.Timedelta(days=1)
    return day.dt.strftime("%Y-%m-%d")


def _install_windows(conn: sqlite3.Connection, params: JournalParams) -> None:
    import pandas as pd

    conn.execute(f"CREATE TABLE {WINDOWS_TABLE} (trading_day TEXT, reset_window INTEGER, "
                 "trades INTEGER, first_fill TEXT, last_fill TEXT)")
    fills = pd.read_sql_query("SELECT ts FROM trades ORDER BY ts", conn)
    if fills.empty:
        return
    fills["trading_day"] = trading_days(fills["ts"], params)
    resets = pd.read_sql_query(
        "SELECT at, trading_day FROM daily_resets WHERE applied = 1 AND source LIKE 'operator%'",
        conn,
    )
    fills["reset_window"] = 0
    # An operator reset-daily starts a new count within its trading day.
    for at, day in zip(resets["at"], resets["trading_day"], strict=True):
        fills.loc[(fills["trading_day"] == day) & (fills["ts"] >= at), "reset_window"] += 1
    grouped = fills.groupby(["trading_day", "reset_window"])["ts"].agg(["count", "min", "max"])
    conn.executemany(
        f"INSERT INTO {WINDOWS_TABLE} VALUES (?, ?, ?, ?, ?)",
        [(day, int(window), int(row["count"]), row["min"], row["max"])
         for (day, window), row in grouped.iterrows()],
    )


_BATCHES: tuple[tuple[str, str, str], ...] = (
    # (suite name, table, column identifying a row in samples)
    ("journal_order_intents", "order_intents", "client_order_id"),
    ("journal_trades", "trades", "id"),
    ("journal_signals", "signals", "id"),
    ("journal_daily_trades", WINDOWS_TABLE, "trading_day"),
    (breaker_suite.SUITE, breaker_suite.TABLE, "id"),
)


def _suite_expectations(gxe: Any, params: JournalParams) -> dict[str, list[Any]]:
    return {
        "journal_order_intents": journal_suite.intent_expectations(gxe),
        "journal_trades": journal_suite.fill_expectations(gxe, params),
        "journal_signals": journal_suite.signal_expectations(gxe),
        "journal_daily_trades": journal_suite.window_expectations(gxe),
        breaker_suite.SUITE: breaker_suite.expectations(gxe),
    }


def _run(snapshot: Path, params: JournalParams, docs_dir: Path | None) -> CheckReport:
    import great_expectations as gx
    import great_expectations.expectations as gxe

    context = new_context(docs_dir)
    source = context.data_sources.add_sqlite("journal", connection_string=f"sqlite:///{snapshot}")
    expectations = _suite_expectations(gxe, params)
    definitions = []
    for suite_name, table, _ in _BATCHES:
        batch = source.add_table_asset(table, table_name=table).add_batch_definition_whole_table(
            "whole_table")
        suite = context.suites.add(gx.ExpectationSuite(name=suite_name))
        for expectation in expectations[suite_name]:
            suite.add_expectation(expectation)
        definitions.append(context.validation_definitions.add(
            gx.ValidationDefinition(name=suite_name, data=batch, suite=suite)))
    checkpoint = context.checkpoints.add(gx.Checkpoint(
        name=KIND, validation_definitions=definitions, result_format=RESULT_FORMAT, actions=[]))
    result = checkpoint.run(expectation_parameters={"max_daily_trades": params.max_daily_trades})
    outcomes: list[ExpectationOutcome] = []
    with sqlite3.connect(snapshot) as conn:
        conn.row_factory = sqlite3.Row
        for (suite_name, table, key), suite_result in zip(
            _BATCHES, suite_results(result), strict=True
        ):
            sampler = _sampler(conn, table, key, expectations[suite_name])
            outcomes += outcomes_of(suite_result, suite_name, table, sampler)
    conn.close()
    report = CheckReport(KIND, tuple(outcomes), build_docs(context, docs_dir))
    inject_verdict(report.docs_index, report)
    return report


def _sampler(
    conn: sqlite3.Connection, table: str, key: str, expectations: list[Any]
) -> Callable[[str, Mapping[str, Any]], tuple[Row, ...]]:
    by_name = {e.meta["name"]: e for e in expectations}

    def sample(name: str, body: Mapping[str, Any]) -> tuple[Row, ...]:
        expectation = by_name.get(name)
        if expectation is None:
            return ()
        query = getattr(expectation, "unexpected_rows_query", None)
        if isinstance(query, str):
            sql = f"SELECT * FROM ({query.replace('{batch}', table)}) LIMIT {SAMPLE_ROWS}"
            return _rows(conn, sql, ())
        return _rows_with_values(conn, table, key, expectation, body)

    return sample


def _rows_with_values(
    conn: sqlite3.Connection, table: str, key: str, expectation: Any, body: Mapping[str, Any]
) -> tuple[Row, ...]:
    values = list(body.get("partial_unexpected_list") or [])[:SAMPLE_ROWS]
    column = getattr(expectation, "column", None)
    if column is None or not values:
        return tuple({key: cell_text(v)} for v in values)
    marks = ", ".join("?" for _ in values)
    sql = f"SELECT * FROM {table} WHERE {column} IN ({marks}) ORDER BY {key} LIMIT {SAMPLE_ROWS}"
    return _rows(conn, sql, tuple(values))


def _rows(conn: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> tuple[Row, ...]:
    try:
        rows = conn.execute(sql, args).fetchall()
    except sqlite3.Error as e:  # a sample is a courtesy: the verdict stands without it
        log.warning("audit_sample_failed error=%s", e)
        return ()
    return tuple({k: cell_text(row[k]) for k in row.keys()} for row in rows)  # noqa: SIM118
