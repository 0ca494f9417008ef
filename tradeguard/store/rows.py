"""Conversions between engine values and state-store rows (no I/O here)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.breaker_samples import SAMPLE_KINDS, SampleRecord
from engine.errors import SerializationError, StateSectionError
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
from engine.ports import EquityPoint, OperatorCommand, PositionRecord
from tradeguard.store.serialize import format_utc, from_json, parse_utc, to_json, utc_text

Row = tuple[Any, ...]


def _num(value: Any, path: str, name: str) -> float:
    """Return a finite float; NaN/inf in a journal row would poison every later sum.

    The error path (path.name) is only built when the value is refused: rows are converted
    on every commit.
    """
    if type(value) is float and math.isfinite(value):
        return value
    number = float(value.item() if type(value).__module__ == "numpy" else value)
    if not math.isfinite(number):
        message = f"{path}.{name}: non-finite number {value!r}"
        raise SerializationError(message)
    return number


def _opt_num(value: Any, path: str, name: str) -> float | None:
    return None if value is None else _num(value, path, name)


def _time(value: datetime, path: str, name: str) -> str:
    """Return format_utc(value); a plain UTC datetime (the engine's own) takes the short way."""
    if type(value) is datetime and value.tzinfo is UTC:
        return utc_text(value)
    return format_utc(value, f"{path}.{name}")


def _opt_time(value: datetime | None, path: str, name: str) -> str | None:
    return None if value is None else _time(value, path, name)


def _side(value: Any) -> str:
    """Return a side's text; anything but BUY/SELL raises ValueError (refused by the store)."""
    return value.value if type(value) is Side else Side(value).value


def _status(value: Any) -> str:
    return value.value if type(value) is OrderStatus else OrderStatus(value).value


def intent_row(intent: OrderIntent, path: str) -> Row:
    """Return the order_intents row (created_at from the request, updated_at from the intent)."""
    req = intent.request
    return (
        req.client_order_id,
        req.symbol,
        _side(req.side),
        _num(req.quantity, path, "request.quantity"),
        _num(req.reference_price, path, "request.reference_price"),
        _opt_num(req.limit_price, path, "request.limit_price"),
        int(bool(req.reduce_only)),
        _num(req.confidence, path, "request.confidence"),
        _status(intent.status),
        intent.broker_order_id,
        intent.reason,
        _time(req.created_at, path, "request.created_at"),
        _time(intent.updated_at, path, "updated_at"),
    )


def intent_from_row(row: Sequence[Any]) -> OrderIntent:
    """Rebuild an OrderIntent from the columns selected by INTENT_COLUMNS."""
    request = OrderRequest(
        client_order_id=row[0],
        symbol=row[1],
        side=Side(row[2]),
        quantity=row[3],
        reference_price=row[4],
        created_at=parse_utc(row[11]),
        reduce_only=bool(row[6]),
        limit_price=row[5],
        confidence=row[7],
    )
    return OrderIntent(
        request=request,
        status=OrderStatus(row[8]),
        updated_at=parse_utc(row[12]),
        broker_order_id=row[9],
        reason=row[10],
    )


INTENT_COLUMNS = (
    "client_order_id, symbol, side, quantity, reference_price, limit_price, reduce_only, "
    "confidence, status, broker_order_id, reason, created_at, updated_at"
)


def fill_row(fill: Fill, path: str) -> Row:
    """Return the trades row for a fill."""
    return (
        fill.fill_id,
        fill.client_order_id,
        fill.symbol,
        _side(fill.side),
        _num(fill.quantity, path, "quantity"),
        _num(fill.price, path, "price"),
        _num(fill.fee, path, "fee"),
        _time(fill.ts, path, "ts"),
    )


def position_row(position: PositionRecord, path: str) -> Row:
    """Return the positions row."""
    return (
        position.symbol,
        _num(position.quantity, path, "quantity"),
        _num(position.average_price, path, "average_price"),
        _num(position.realized_pnl, path, "realized_pnl"),
        _time(position.updated_at, path, "updated_at"),
    )


def position_from_row(row: Sequence[Any]) -> PositionRecord:
    """Rebuild a PositionRecord."""
    return PositionRecord(row[0], row[1], row[2], row[3], parse_utc(row[4]))


def signal_row(signal: SignalRecorded, path: str) -> Row:
    """Return the signals row (periods split into fast and slow)."""
    fast, slow = signal.periods
    return (
        _time(signal.at, path, "at"),
        signal.symbol,
        _side(signal.side),
        _num(signal.confidence, path, "confidence"),
        _time(signal.bar_time, path, "bar_time"),
        int(fast),
        int(slow),
        signal.outcome,
        signal.reason,
        signal.client_order_id,
    )


def denial_row(denial: OrderDenied, path: str) -> Row:
    """Return the denials row."""
    return (
        _time(denial.at, path, "at"),
        denial.client_order_id,
        denial.symbol,
        _side(denial.side),
        _num(denial.quantity, path, "quantity"),
        denial.check,
        denial.reason,
    )


def transition_row(event: BreakerTransitioned, path: str) -> Row:
    """Return the breaker_events row."""
    return (
        _time(event.at, path, "at"),
        event.from_state,
        event.to_state,
        event.trigger,
        _opt_num(event.observed, path, "observed"),
        _opt_num(event.threshold, path, "threshold"),
        event.reason,
    )


def transition_from_row(row: Sequence[Any]) -> BreakerTransitioned:
    """Rebuild a BreakerTransitioned event."""
    return BreakerTransitioned(parse_utc(row[0]), row[1], row[2], row[3], row[4], row[5], row[6])


def issue_row(issue: IssueReported, path: str) -> Row:
    """Return the issues row; details are stored as JSON."""
    return (
        _time(issue.at, path, "at"),
        issue.issue_type,
        to_json(issue.details, f"{path}.details"),
    )


def skipped_row(skipped: BarSkipped, path: str) -> Row:
    """Return the skipped_bars row."""
    return (
        _time(skipped.at, path, "at"),
        skipped.symbol,
        _opt_time(skipped.bar_time, path, "bar_time"),
        skipped.reason,
        skipped.row,
    )


def equity_row(point: EquityPoint, path: str) -> Row:
    """Return the equity row."""
    return (
        _time(point.at, path, "at"),
        _num(point.equity, path, "equity"),
        _num(point.cash, path, "cash"),
        _num(point.daily_pnl, path, "daily_pnl"),
    )


def operator_row(action: OperatorActed, path: str) -> Row:
    """Return the operator_actions row."""
    return (_time(action.at, path, "at"), action.action, action.reason, action.who)


def operator_from_row(row: Sequence[Any]) -> OperatorActed:
    """Rebuild an OperatorActed event."""
    return OperatorActed(parse_utc(row[0]), row[1], row[2], row[3])


def reset_row(reset: DailyStateReset, path: str) -> Row:
    """Return the daily_resets row."""
    return (
        _time(reset.at, path, "at"),
        reset.trading_day,
        _num(reset.previous_pnl, path, "previous_pnl"),
        int(reset.previous_trades),
        reset.source,
        int(bool(reset.applied)),
    )


def sample_row(sample: SampleRecord) -> Row:
    """Return the breaker_samples row (id = slot * 2 + kind code, seq, value) of a sample."""
    return (sample.slot * 2 + SAMPLE_KINDS.index(sample.kind), sample.seq,
            _num(sample.value, f"samples[{sample.kind}:{sample.seq}]", "value"))


def samples_from_rows(rows: Iterable[Sequence[Any]]) -> list[tuple[str, int, float]]:
    """Return (kind, seq, value) of breaker_samples rows."""
    return [(SAMPLE_KINDS[row[0] % 2], row[1], row[2]) for row in rows]


def command_from_row(row: Sequence[Any]) -> OperatorCommand:
    """Rebuild an OperatorCommand."""
    return OperatorCommand(row[0], row[1], row[2], row[3], parse_utc(row[4]))


def split_signal_key(key: str, path: str) -> tuple[str, int, int]:
    """Return (symbol, fast, slow) from a "SYM:fast:slow" last_signals key."""
    parts = key.rsplit(":", 2)
    try:
        symbol, fast, slow = parts[0], int(parts[1]), int(parts[2])
    except (IndexError, ValueError) as e:
        message = f"{path}: last_signals key {key!r} is not 'SYMBOL:fast:slow'"
        raise SerializationError(message) from e
    if not symbol:
        message = f"{path}: last_signals key {key!r} has an empty symbol"
        raise SerializationError(message)
    return symbol, fast, slow


def section(store: Path, key: str, text: object) -> dict[str, Any]:
    """Return one stored snapshot section; every section tradeguard writes is an object."""
    try:
        value = from_json(str(text))
    except SerializationError as e:
        message = f"state store {store}: section {key!r} is not valid JSON ({e})"
        raise StateSectionError(message) from e
    if not isinstance(value, dict):
        message = (
            f"state store {store}: section {key!r} holds a {type(value).__name__}, "
            "not the object tradeguard writes; the store was altered: restore a backup "
            "with `tradeguard state restore`"
        )
        raise StateSectionError(message)
    return value
