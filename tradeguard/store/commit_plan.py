"""One batch converted to the rows its transaction writes, before the transaction starts.

Every value is converted (and refused with a SerializationError naming its path) here, so a
batch that cannot be written faithfully writes nothing. Unchanged snapshot sections cost no
write: the plan compares against what the store last committed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from sqlite3 import Connection

from engine.errors import SerializationError
from engine.model import Side
from engine.ports import Batch
from tradeguard.store import rows as r
from tradeguard.store import statements as sql
from tradeguard.store.serialize import to_json_snapshot


@dataclass
class CommitPlan:
    """Rows of one batch, fully converted before the transaction starts."""

    statements: list[tuple[str, list[r.Row]]] = field(default_factory=list)
    # Intents past PENDING_SUBMIT as (UPDATE parameters, full row): an existing row takes the
    # plain UPDATE (cheaper than an upsert that hits its conflict), a missing one the upsert.
    intent_updates: list[tuple[r.Row, r.Row]] = field(default_factory=list)
    key_texts: dict[str, str] = field(default_factory=dict)  # sections written, as stored

    def lone_row(self) -> tuple[str, r.Row] | None:
        """Return (statement, row) when the plan writes exactly one row, else None."""
        if self.intent_updates or len(self.statements) != 1:
            return None
        statement, rows = self.statements[0]
        return (statement, rows[0]) if len(rows) == 1 else None

    def execute(self, conn: Connection) -> None:
        """Run every statement of the plan on conn (inside the caller's transaction)."""
        for params, row in self.intent_updates:
            if conn.execute(sql.UPDATE_INTENT, params).rowcount == 0:
                conn.execute(sql.UPSERT_INTENT, row)
        for statement, rows in self.statements:
            if len(rows) == 1:
                conn.execute(statement, rows[0])
            else:
                conn.executemany(statement, rows)


def plan_batch(
    batch: Batch, now: Callable[[], str], committed: Mapping[str, str]
) -> CommitPlan:
    """Convert the batch to rows; any value that cannot be written faithfully raises here.

    now returns the commit's time as stored; it is asked only by rows that record it (a
    section written, a command done), so an intent's commit does not read the clock.
    committed holds the section texts last written (a section equal to its text is skipped).
    """
    plan = CommitPlan()
    try:
        _plan_intents(batch, plan)
        for name, statement, convert in sql.PER_ROW:
            items = getattr(batch, name)
            if items:
                rows = [convert(item, f"{name}[{i}]") for i, item in enumerate(items)]
                plan.statements.append((statement, rows))
        for name, (statement, convert) in sql.APPENDS.items():
            items = getattr(batch, name)
            if items:
                rows = [convert(item, f"{name}[{i}]") for i, item in enumerate(items)]
                plan.statements.append((statement, rows))
        if batch.samples:
            _plan_samples(batch, plan)
        if batch.commands_done:
            stamp = now()
            done = [(stamp, int(command_id)) for command_id in batch.commands_done]
            plan.statements.append((sql.DONE_COMMAND, done))
        _plan_state(batch, now, plan, committed)
    except SerializationError:
        raise
    except (TypeError, ValueError, AttributeError) as e:
        message = f"batch cannot be written: {e}"
        raise SerializationError(message) from e
    return plan


def _plan_intents(batch: Batch, plan: CommitPlan) -> None:
    new: list[r.Row] = []
    for i, intent in enumerate(batch.intents):
        row = r.intent_row(intent, f"intents[{i}]")
        if row[8] == "PENDING_SUBMIT":  # a new intent: its first write
            new.append(row)
        else:  # status, broker_order_id, reason, updated_at WHERE client_order_id
            plan.intent_updates.append(((row[8], row[9], row[10], row[12], row[0]), row))
    if new:
        plan.statements.append((sql.UPSERT_INTENT, new))


def _plan_samples(batch: Batch, plan: CommitPlan) -> None:
    """Breaker samples as multi-row statements (a commit usually carries one or two)."""
    rows = [r.sample_row(s) for s in batch.samples]
    step = sql.SAMPLE_ROWS_PER_STATEMENT
    for start in range(0, len(rows), step):
        plan.statements.append(_one_statement(sql.UPSERT_SAMPLE, rows[start:start + step]))


def _one_statement(statement: str, rows: list[r.Row]) -> tuple[str, list[r.Row]]:
    """Return statement for all rows at once and its one flattened parameter row."""
    flat = tuple(value for row in rows for value in row)
    return sql.multi_row(statement, len(rows)), [flat]


def _plan_state(
    batch: Batch, now: Callable[[], str], plan: CommitPlan, committed: Mapping[str, str]
) -> None:
    key_rows: list[r.Row] = []
    stamp = ""
    for key, section in batch.state.items():
        if not isinstance(key, str):
            message = f"state: section name {key!r} is not a string"
            raise SerializationError(message)
        if not isinstance(section, dict):
            message = f"state.{key}: a section must be an object, got {type(section).__name__}"
            raise SerializationError(message)
        if key == "last_signals":
            _check_last_signals(section)
        text = to_json_snapshot(section, f"state.{key}")
        if committed.get(key) != text:  # unchanged sections cost no write
            stamp = stamp or now()
            key_rows.append((key, text, stamp))
            plan.key_texts[key] = text
    if key_rows:
        plan.statements.append(_one_statement(sql.UPSERT_KEY, key_rows))


def _check_last_signals(section: dict[object, object]) -> None:
    """Refuse a last_signals section that is not "SYM:fast:slow" -> BUY/SELL."""
    for key, side in section.items():
        # What the encoder writes: a str subclass's own characters, not what its str() shows.
        name = str.__str__(key) if isinstance(key, str) else str(key)
        r.split_signal_key(name, f"state.last_signals.{name}")
        if side not in _SIDES:
            message = f"state.last_signals.{key}: side {side!r} is not BUY or SELL"
            raise SerializationError(message)


_SIDES = frozenset({*Side, *(side.value for side in Side)})
