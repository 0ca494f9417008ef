"""Breaker-events suite: valid states, legal transitions, non-decreasing times.

The legal transitions are those engine/circuit_breaker.py can make:

* escalation: to a more severe state than the source, by a trigger that is not one of the
  de-escalation triggers below, never into HALF_OPEN and never out of SHUTDOWN;
* de-escalation one level at a time: `cooldown` THROTTLE -> ALERT -> CLOSED and
  HALT -> HALF_OPEN, `override_disabled` HALT -> HALF_OPEN, `half_open_success`
  HALF_OPEN -> CLOSED, and the operator's `force_recovery` / `reset` from any level to CLOSED;
* SHUTDOWN is left only by `reset` (to CLOSED).

Each event also starts where the previous one ended (the chain is unbroken).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from engine.breaker_config import CircuitState

SUITE = "breaker_events"
TABLE = "breaker_events"
LEVELS_TABLE = "audit_breaker_levels"
STEPS_TABLE = "audit_breaker_steps"
STATES = tuple(state.value for state in CircuitState)

_C, _A, _T, _O, _H, _S = (
    CircuitState.CLOSED, CircuitState.ALERT, CircuitState.THROTTLE,
    CircuitState.HALF_OPEN, CircuitState.HALT, CircuitState.SHUTDOWN,
)
# (from, to, trigger) of every legal de-escalation below SHUTDOWN (see the module docstring).
DE_ESCALATIONS: tuple[tuple[CircuitState, CircuitState, str], ...] = (
    (_T, _A, "cooldown"),
    (_A, _C, "cooldown"),
    (_H, _O, "cooldown"),
    (_H, _O, "override_disabled"),
    (_O, _C, "half_open_success"),
    *((level, _C, trigger) for level in (_A, _T, _O, _H)
      for trigger in ("force_recovery", "reset")),
)
DE_ESCALATION_TRIGGERS = tuple(sorted({trigger for _, _, trigger in DE_ESCALATIONS}))


def install_tables(conn: sqlite3.Connection) -> None:
    """Write the state ranks and legal de-escalations into the audit snapshot."""
    conn.execute(f"CREATE TABLE {LEVELS_TABLE} (state TEXT PRIMARY KEY, severity INTEGER)")
    conn.executemany(f"INSERT INTO {LEVELS_TABLE} VALUES (?, ?)",
                     [(s.value, s.severity) for s in CircuitState])
    conn.execute(f"CREATE TABLE {STEPS_TABLE} (from_state TEXT, to_state TEXT, trigger TEXT)")
    conn.executemany(f"INSERT INTO {STEPS_TABLE} VALUES (?, ?, ?)",
                     [(a.value, b.value, t) for a, b, t in DE_ESCALATIONS])


def _ranked(where: str) -> str:
    return (
        "SELECT e.* FROM {batch} e "
        f"LEFT JOIN {LEVELS_TABLE} f ON f.state = e.from_state "
        f"LEFT JOIN {LEVELS_TABLE} t ON t.state = e.to_state "
        f"WHERE f.state IS NOT NULL AND t.state IS NOT NULL AND ({where})"
    )


def _chained(where: str) -> str:
    return (
        # No JOIN: GX aliases {batch} itself, so the query must not.
        "SELECT * FROM (SELECT *, LAG(to_state) OVER (ORDER BY id) AS previous_to_state, "
        "LAG(at) OVER (ORDER BY id) AS previous_at FROM {batch}) "
        f"WHERE {where}"
    )


def _triggers() -> str:
    return ", ".join(f"'{t}'" for t in DE_ESCALATION_TRIGGERS)


def expectations(gxe: Any) -> list[Any]:
    """Build the breaker-event expectations; meta.name is the stable name reports use."""

    def rule(name: str, text: str, query: str) -> Any:
        return gxe.UnexpectedRowsExpectation(
            unexpected_rows_query=query, description=f"{name}: {text}",
            meta={"name": name, "rule": text})

    items: list[Any] = [
        gxe.ExpectColumnValuesToBeInSet(
            column=column, value_set=list(STATES),
            meta={"name": f"breaker_{column}_valid", "rule": f"{column} is a breaker state"})
        for column in ("from_state", "to_state")
    ]
    items += [
        rule("breaker_escalation_legal",
             "an escalation goes to a more severe state by a non-recovery trigger, "
             "never into HALF_OPEN",
             _ranked("t.severity >= f.severity AND f.state != 'SHUTDOWN' AND "
                     f"(t.state = f.state OR e.to_state = 'HALF_OPEN' OR "
                     f"e.trigger IN ({_triggers()}))")),
        rule("breaker_deescalation_one_level",
             "a de-escalation below SHUTDOWN is one of the legal steps (no level skipped)",
             _ranked("t.severity < f.severity AND f.state != 'SHUTDOWN' AND NOT EXISTS "
                     f"(SELECT 1 FROM {STEPS_TABLE} s WHERE s.from_state = e.from_state "
                     "AND s.to_state = e.to_state AND s.trigger = e.trigger)")),
        rule("breaker_shutdown_left_by_reset_only",
             "SHUTDOWN is left only by an operator reset to CLOSED",
             "SELECT * FROM {batch} WHERE from_state = 'SHUTDOWN' "
             "AND NOT (to_state = 'CLOSED' AND trigger = 'reset')"),
        rule("breaker_times_non_decreasing",
             "every event is at or after the previous one",
             _chained("previous_at IS NOT NULL AND julianday(at) < julianday(previous_at)")),
        rule("breaker_chain_unbroken",
             "every event starts in the state the previous one ended in",
             _chained("previous_to_state IS NOT NULL AND from_state != previous_to_state")),
    ]
    return items
