"""Named analytics queries over the DuckDB file, each filtered to a time window [since, until]."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped]

from engine.errors import ConfigurationError
from tradeguard.analytics.db import connect

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FAR = datetime(9999, 1, 1, tzinfo=UTC)
_WHEN = "BETWEEN $since AND $until"
# A reason with its numbers taken out, so "50 trades today, limit 50" groups with "49 ...".
_REASON_GROUP = (
    "trim(regexp_replace(regexp_replace(reason, '\\(.*\\)', '', 'g'), "
    "'[0-9]+(\\.[0-9]+)?', 'N', 'g'))"
)


@dataclass(frozen=True)
class NamedQuery:
    """One documented query: its CLI name, what it answers and its SQL ($since, $until)."""

    name: str
    summary: str
    sql: str


QUERIES: dict[str, NamedQuery] = {
    q.name: q
    for q in (
        NamedQuery(
            "daily-pnl",
            "One row per UTC trading day and symbol: fills, fees, gross and net realized P&L.",
            # Grouped on the UTC day number: a per-row time-zone cast costs 3x the whole query.
            f"""
            SELECT bot, DATE '1970-01-01' + CAST(day_number AS INTEGER) AS day, symbol, trades,
                   quantity, notional, fees, gross_pnl, pnl
              FROM (SELECT bot, CAST(floor(epoch(ts) / 86400) AS BIGINT) AS day_number, symbol,
                           count(*) AS trades, sum(quantity) AS quantity,
                           sum(quantity * price) AS notional, sum(fee) AS fees,
                           sum(gross_pnl) AS gross_pnl, sum(realized_pnl) AS pnl
                      FROM trades WHERE ts {_WHEN} GROUP BY ALL)
             ORDER BY bot, day, symbol""",
        ),
        NamedQuery(
            "performance",
            "Win rate, average win and loss, profit factor (closing fills), max drawdown (equity).",
            f"""
            WITH closing AS (
                SELECT bot, realized_pnl AS pnl FROM trades
                 WHERE closed_quantity > 0 AND ts {_WHEN}),
            stats AS (
                SELECT bot, count(*) AS closed_trades,
                       count(*) FILTER (WHERE pnl > 0) AS wins,
                       count(*) FILTER (WHERE pnl <= 0) AS losses,
                       avg(pnl) FILTER (WHERE pnl > 0) AS avg_win,
                       avg(pnl) FILTER (WHERE pnl <= 0) AS avg_loss,
                       coalesce(sum(pnl) FILTER (WHERE pnl > 0), 0) AS gross_profit,
                       coalesce(-sum(pnl) FILTER (WHERE pnl <= 0), 0) AS gross_loss
                  FROM closing GROUP BY bot),
            totals AS (
                SELECT bot, count(*) AS fills, sum(realized_pnl) AS net_pnl, sum(fee) AS fees
                  FROM trades WHERE ts {_WHEN} GROUP BY bot),
            peaks AS (
                SELECT bot, equity, max(equity) OVER (
                           PARTITION BY bot ORDER BY "at", id ROWS UNBOUNDED PRECEDING) AS peak
                  FROM equity WHERE "at" {_WHEN}),
            dd AS (
                SELECT bot, max(peak - equity) AS max_drawdown,
                       max((peak - equity) / peak) * 100 AS max_drawdown_pct
                  FROM peaks GROUP BY bot)
            SELECT bot, totals.fills, stats.closed_trades, stats.wins, stats.losses,
                   stats.wins / nullif(stats.closed_trades, 0) AS win_rate,
                   stats.avg_win, stats.avg_loss,
                   stats.gross_profit / nullif(stats.gross_loss, 0) AS profit_factor,
                   totals.net_pnl, totals.fees, dd.max_drawdown, dd.max_drawdown_pct
              FROM totals
              FULL JOIN stats USING (bot)
              FULL JOIN dd USING (bot)
             ORDER BY bot""",
        ),
        NamedQuery(
            "slippage",
            "Fill price vs the order's reference price: distribution per symbol and side (%).",
            f"""
            SELECT bot, symbol, side, count(*) AS fills,
                   avg(slippage_pct) AS mean_pct,
                   quantile_cont(slippage_pct, 0.5) AS p50_pct,
                   quantile_cont(slippage_pct, 0.9) AS p90_pct,
                   quantile_cont(slippage_pct, 0.99) AS p99_pct,
                   max(slippage_pct) AS worst_pct,
                   sum(slippage_pct / 100 * reference_price * quantity) AS cost
              FROM fills WHERE ts {_WHEN} AND slippage_pct IS NOT NULL
             GROUP BY ALL ORDER BY bot, symbol, side""",
        ),
        NamedQuery(
            "failures",
            "Order failure rate (REJECTED, UNKNOWN, CANCELLED) by UTC hour of day and by reason.",
            # Grouped on plain columns first; hours from epoch seconds (no per-row zone cast).
            f"""
            WITH o AS (
                SELECT bot, CAST(floor(epoch(created_at) / 3600) AS BIGINT) % 24 AS hour,
                       status, reason, failed, count(*) AS n
                  FROM order_outcomes WHERE created_at {_WHEN} GROUP BY ALL),
            total AS (SELECT bot, sum(n) AS n FROM o GROUP BY bot)
            SELECT bot, 'hour' AS dimension, lpad(CAST(hour AS VARCHAR), 2, '0') || ':00'
                       AS bucket,
                   CAST(sum(n) AS BIGINT) AS orders,
                   CAST(coalesce(sum(n) FILTER (WHERE failed), 0) AS BIGINT) AS failed,
                   coalesce(sum(n) FILTER (WHERE failed), 0) / sum(n) AS failure_rate
              FROM o GROUP BY bot, hour
            UNION ALL
            SELECT o.bot, 'reason', o.status || coalesce(': ' || nullif(o.reason, ''), ''),
                   CAST(any_value(total.n) AS BIGINT), CAST(sum(o.n) AS BIGINT),
                   sum(o.n) / any_value(total.n)
              FROM o JOIN total USING (bot) WHERE o.failed GROUP BY o.bot, o.status, o.reason
            ORDER BY bot, dimension, bucket""",
        ),
        NamedQuery(
            "signals",
            "Signal -> order conversion: signals per outcome and reason, share, orders filled.",
            # Reasons are normalized after grouping: the regexps run once per distinct reason.
            f"""
            WITH s AS (
                SELECT s.bot, s.outcome, s.reason, count(*) AS n,
                       count(i.client_order_id) AS filled
                  FROM signals s
                  LEFT JOIN (SELECT bot, client_order_id FROM order_intents
                              WHERE status = 'FILLED') i USING (bot, client_order_id)
                 WHERE s."at" {_WHEN} GROUP BY ALL),
            total AS (SELECT bot, sum(n) AS n FROM s GROUP BY bot)
            SELECT s.bot, s.outcome, {_REASON_GROUP.replace("reason", "s.reason")} AS reason,
                   CAST(sum(s.n) AS BIGINT) AS signals, sum(s.n) / any_value(total.n) AS share,
                   CAST(sum(s.filled) AS BIGINT) AS filled
              FROM s JOIN total USING (bot)
             GROUP BY s.bot, s.outcome, 3
             ORDER BY s.bot, signals DESC, s.outcome, reason""",
        ),
        NamedQuery(
            "breaker-time",
            "Seconds in each breaker state per UTC day (share of the observed day), transitions.",
            f"""
            WITH t AS (
                SELECT * FROM breaker_time_daily
                 WHERE day BETWEEN CAST($since AS DATE) AND CAST($until AS DATE)),
            tr AS (
                SELECT bot, CAST("at" AS DATE) AS day, to_state AS state,
                       count(*) AS transitions_into
                  FROM breaker_events WHERE "at" {_WHEN} GROUP BY ALL)
            SELECT bot, day, state, t.seconds,
                   t.seconds / sum(t.seconds) OVER (PARTITION BY bot, day) AS share,
                   coalesce(tr.transitions_into, 0) AS transitions_into
              FROM t LEFT JOIN tr USING (bot, day, state)
             ORDER BY bot, day, state""",
        ),
        NamedQuery(
            "incidents",
            "HALT/SHUTDOWN episodes: first escalation, HALT, end, trigger, blocked orders, P&L.",
            """
            SELECT * FROM incidents WHERE until_at >= $since AND start_at <= $until
             ORDER BY bot, start_at""",
        ),
    )
}

OVERVIEW_SQL = f"""
WITH span AS (SELECT * FROM journal_span),
t AS (SELECT bot, count(*) AS fills, sum(fee) AS fees, sum(realized_pnl) AS pnl,
             sum(quantity * price) AS notional
        FROM trades WHERE ts {_WHEN} GROUP BY bot),
o AS (SELECT bot, count(*) AS orders, count(*) FILTER (WHERE failed) AS failed
        FROM order_outcomes WHERE created_at {_WHEN} GROUP BY bot),
s AS (SELECT bot, count(*) AS signals, count(*) FILTER (WHERE outcome = 'ordered') AS ordered,
             count(*) FILTER (WHERE outcome = 'denied') AS denied,
             count(*) FILTER (WHERE outcome NOT IN ('ordered', 'denied')) AS not_ordered
        FROM signals WHERE "at" {_WHEN} GROUP BY bot),
b AS (SELECT bot, max_by(to_state, id) AS breaker_state, count(*) AS transitions
        FROM breaker_events WHERE "at" {_WHEN} GROUP BY bot),
bt AS (SELECT bot, sum(seconds) FILTER (WHERE state <> 'CLOSED') AS seconds_not_closed
         FROM breaker_time_daily
        WHERE day BETWEEN CAST($since AS DATE) AND CAST($until AS DATE) GROUP BY bot),
i AS (SELECT bot, count(*) AS incidents, max(halt_at) AS last_halt,
             CAST(sum(orders_blocked) AS BIGINT) AS blocked
        FROM incidents WHERE until_at >= $since AND start_at <= $until GROUP BY bot),
e AS (SELECT bot, max_by(equity, id) AS last_equity FROM equity WHERE "at" {_WHEN} GROUP BY bot)
SELECT span.bot, span.first_at, span.last_at, coalesce(t.fills, 0) AS fills, t.notional, t.fees,
       t.pnl AS realized_pnl, e.last_equity, coalesce(s.signals, 0) AS signals, s.ordered,
       s.denied, s.not_ordered, coalesce(o.orders, 0) AS orders, o.failed,
       o.failed / nullif(o.orders, 0) AS failure_rate, coalesce(b.transitions, 0) AS transitions,
       b.breaker_state, bt.seconds_not_closed, coalesce(i.incidents, 0) AS incidents,
       i.last_halt, i.blocked AS orders_blocked
  FROM span
  LEFT JOIN t USING (bot) LEFT JOIN o USING (bot) LEFT JOIN s USING (bot)
  LEFT JOIN b USING (bot) LEFT JOIN bt USING (bot) LEFT JOIN i USING (bot)
  LEFT JOIN e USING (bot)
 ORDER BY span.bot
"""


def query_names() -> list[str]:
    """Return the names of the named queries, in documentation order."""
    return list(QUERIES)


def run_sql(
    db_file: Path, sql: str, since: datetime | None = None, until: datetime | None = None
) -> pa.Table:
    """Run SQL with $since/$until bound (defaults: all time) on the analytics file, read-only."""
    conn = connect(db_file, read_only=True)
    try:
        relation = conn.sql(sql, params={"since": since or EPOCH, "until": until or FAR})
        if relation is None:  # a statement without a result: nothing to show
            return pa.table({})
        return relation.to_arrow_table()
    finally:
        conn.close()


def run_query(
    db_file: Path, name: str, since: datetime | None = None, until: datetime | None = None
) -> pa.Table:
    """Run one named query and return its rows as an Arrow table."""
    query = QUERIES.get(name)
    if query is None:
        message = f"unknown query {name!r}; choose one of {', '.join(QUERIES)}"
        raise ConfigurationError(message)
    return run_sql(db_file, query.sql, since, until)


def overview(
    db_file: Path, since: datetime | None = None, until: datetime | None = None
) -> pa.Table:
    """Return the one-screen overview: one row per bot."""
    return run_sql(db_file, OVERVIEW_SQL, since, until)
