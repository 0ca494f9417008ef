"""Views of the analytics database: the derived relations named queries and reports build on.

Every view is documented in docs/analytics.md; they are recreated on each refresh, so a user
opening the DuckDB file in another tool sees them too.
"""

from __future__ import annotations

import duckdb

from engine.breaker_config import CircuitState

FAILED_STATUSES = ("REJECTED", "UNKNOWN", "CANCELLED")
SERIOUS_STATES = ("HALT", "SHUTDOWN")

_SEVERITY_ROWS = ", ".join(f"('{s.value}', {s.severity})" for s in CircuitState)
_FAILED = ", ".join(f"'{s}'" for s in FAILED_STATUSES)
_SERIOUS = ", ".join(f"'{s}'" for s in SERIOUS_STATES)
_HOUR = "CAST(floor(epoch({col}) / 3600) AS BIGINT)"

VIEWS: dict[str, str] = {
    "breaker_states": f"SELECT * FROM (VALUES {_SEVERITY_ROWS}) AS v(state, severity)",
    "journal_span": """
        SELECT bot, min(first_at) AS first_at, max(last_at) AS last_at FROM (
            SELECT bot, min("at") AS first_at, max("at") AS last_at FROM signals GROUP BY bot
            UNION ALL SELECT bot, min("at"), max("at") FROM equity GROUP BY bot
            UNION ALL SELECT bot, min("at"), max("at") FROM breaker_events GROUP BY bot
            UNION ALL SELECT bot, min(ts), max(ts) FROM trades GROUP BY bot
            UNION ALL SELECT bot, min("at"), max("at") FROM denials GROUP BY bot
            UNION ALL SELECT bot, min("at"), max("at") FROM skipped_bars GROUP BY bot
        ) GROUP BY bot""",
    "fills": """
        SELECT t.*, i.reference_price, i.status AS order_status, i.created_at AS ordered_at,
               CASE WHEN i.reference_price > 0 THEN
                   (t.price - i.reference_price) / i.reference_price * 100
                   * CASE WHEN t.side = 'BUY' THEN 1 ELSE -1 END END AS slippage_pct
          FROM trades t
          LEFT JOIN order_intents i USING (bot, client_order_id)""",
    "order_outcomes": f"""
        SELECT *, status IN ({_FAILED}) AS failed FROM order_intents""",
    "breaker_intervals": """
        WITH span AS MATERIALIZED (SELECT * FROM journal_span),
        ordered AS (
            SELECT bot, id, "at", from_state, to_state,
                   lead("at") OVER (PARTITION BY bot ORDER BY id) AS next_at,
                   row_number() OVER (PARTITION BY bot ORDER BY id) AS n
              FROM breaker_events)
        SELECT o.bot, o.from_state AS state, s.first_at AS start_at, o."at" AS end_at
          FROM ordered o JOIN span s USING (bot)
         WHERE o.n = 1 AND s.first_at < o."at"
        UNION ALL
        SELECT o.bot, o.to_state, o."at", greatest(coalesce(o.next_at, s.last_at), o."at")
          FROM ordered o JOIN span s USING (bot)
        UNION ALL
        SELECT s.bot, 'CLOSED', s.first_at, s.last_at
          FROM span s
         WHERE NOT EXISTS (SELECT 1 FROM breaker_events b WHERE b.bot = s.bot)""",
    "breaker_time_daily": """
        SELECT i.bot, CAST(d.day AS DATE) AS day, i.state,
               sum(epoch(least(i.end_at, d.day + INTERVAL 1 DAY) - greatest(i.start_at, d.day)))
                   AS seconds
          FROM breaker_intervals i,
               LATERAL (SELECT unnest(generate_series(date_trunc('day', i.start_at), i.end_at,
                                                      INTERVAL 1 DAY)) AS day) d
         WHERE least(i.end_at, d.day + INTERVAL 1 DAY) > greatest(i.start_at, d.day)
         GROUP BY ALL""",
    "breaker_episodes": f"""
        WITH marked AS (
            SELECT b.*, s.severity,
                   CAST(sum(CASE WHEN b.from_state = 'CLOSED' THEN 1 ELSE 0 END)
                       OVER (PARTITION BY b.bot ORDER BY b.id ROWS UNBOUNDED PRECEDING)
                       AS BIGINT) AS episode
              FROM breaker_events b JOIN breaker_states s ON s.state = b.to_state)
        SELECT bot, episode,
               min("at") AS start_at,
               min_by(to_state, id) AS first_state,
               min_by(trigger, id) AS first_trigger,
               max("at") FILTER (WHERE to_state = 'CLOSED') AS end_at,
               arg_max(to_state, severity) AS worst_state,
               min("at") FILTER (WHERE to_state IN ({_SERIOUS})) AS halt_at,
               min_by(trigger, id) FILTER (WHERE to_state IN ({_SERIOUS})) AS trigger,
               min_by(observed, id) FILTER (WHERE to_state IN ({_SERIOUS})) AS observed,
               min_by(threshold, id) FILTER (WHERE to_state IN ({_SERIOUS})) AS threshold,
               min_by(reason, id) FILTER (WHERE to_state IN ({_SERIOUS})) AS reason,
               count(*) FILTER (WHERE to_state IN ({_SERIOUS})) AS halts,
               count(*) AS transitions
          FROM marked GROUP BY bot, episode""",
    "incidents": f"""
        WITH e AS MATERIALIZED (
            SELECT e.*, coalesce(e.end_at, s.last_at) AS until_at
              FROM breaker_episodes e JOIN journal_span s USING (bot)
             WHERE e.halt_at IS NOT NULL),
        -- A range join of millions of rows against the episodes is slow (tens of seconds at
        -- 10M trades); an equi-join on the UTC hour, then the range test, takes about 1 s.
        eh AS MATERIALIZED (
            SELECT bot, episode, start_at, until_at,
                   unnest(range({_HOUR.format(col="start_at")},
                                {_HOUR.format(col="until_at")} + 1)) AS hour
              FROM e),
        blocked AS (
            SELECT eh.bot, eh.episode, count(*) AS n
              FROM denials d JOIN eh ON d.bot = eh.bot AND {_HOUR.format(col='d."at"')} = eh.hour
             WHERE d."at" BETWEEN eh.start_at AND eh.until_at AND d.check_name = 'breaker'
             GROUP BY ALL),
        failed AS (
            SELECT eh.bot, eh.episode, count(*) AS n
              FROM order_intents i JOIN eh
                ON i.bot = eh.bot AND {_HOUR.format(col="i.created_at")} = eh.hour
             WHERE i.created_at BETWEEN eh.start_at AND eh.until_at
               AND i.status IN ({_FAILED}) GROUP BY ALL),
        filled AS (
            SELECT eh.bot, eh.episode, count(*) AS n, sum(t.realized_pnl) AS pnl
              FROM trades t JOIN eh ON t.bot = eh.bot AND {_HOUR.format(col="t.ts")} = eh.hour
             WHERE t.ts BETWEEN eh.start_at AND eh.until_at GROUP BY ALL)
        SELECT e.bot, e.episode, e.start_at, e.halt_at, e.end_at, e.until_at,
               epoch(e.until_at - e.start_at) AS seconds, e.first_state, e.first_trigger,
               e.worst_state, e.trigger, e.observed, e.threshold, e.reason, e.halts,
               e.transitions, coalesce(blocked.n, 0) AS orders_blocked,
               coalesce(failed.n, 0) AS orders_failed, coalesce(filled.n, 0) AS fills,
               coalesce(filled.pnl, 0.0) AS pnl_during
          FROM e
          LEFT JOIN blocked USING (bot, episode)
          LEFT JOIN failed USING (bot, episode)
          LEFT JOIN filled USING (bot, episode)""",
}


def create_views(conn: duckdb.DuckDBPyConnection) -> None:
    """Create or replace every analytics view (tables must exist)."""
    for name, sql in VIEWS.items():
        conn.execute(f"CREATE OR REPLACE VIEW {name} AS {sql}")
