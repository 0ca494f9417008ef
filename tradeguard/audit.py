"""Operator input and outcome: audited text is one printable line; resets say what they did."""

from __future__ import annotations

import unicodedata

from engine.errors import ConfigurationError
from engine.events import DailyStateReset

MAX_AUDIT_TEXT = 500


class OperatorInputError(ConfigurationError):
    """An operator command's who/reason is blank or not one printable line: fix the input."""


def _unprintable(char: str) -> bool:
    # Control, format and unassigned characters, and line/paragraph separators: each can end
    # or disguise a log line.
    category = unicodedata.category(char)
    return category.startswith("C") or category in {"Zl", "Zp"}


def audit_text(name: str, value: str) -> str:
    """Return value stripped; refuse blanks and control characters (they forge log lines)."""
    text = value.strip()
    if not text:
        message = f"{name} must not be blank"
        raise OperatorInputError(message)
    bad = sorted({f"U+{ord(c):04X}" for c in text if _unprintable(c)})
    if bad:
        message = f"{name} must be one printable line; it contains control characters {bad}"
        raise OperatorInputError(message)
    if len(text) > MAX_AUDIT_TEXT:
        message = f"{name} is longer than {MAX_AUDIT_TEXT} characters"
        raise OperatorInputError(message)
    return text


def reset_outcome(journal: object, resets: list[DailyStateReset]) -> str:
    """Say which trading day a daily reset cleared, or when that day was already reset."""
    if not resets:
        return "no daily reset was applied"
    event = resets[-1]
    if event.applied:
        return (
            f"reset trading day {event.trading_day}: cleared daily_pnl "
            f"{event.previous_pnl:+.2f} and daily_trades {event.previous_trades}"
        )
    # Only the SQLite journal keeps the reset history; an in-memory one just says "already".
    finder = getattr(journal, "last_daily_reset", None)
    earlier = finder(event.trading_day) if finder is not None else None
    # Resets are stamped in session time (simulated for a replay), like the trades they split.
    when = f" at session time {earlier[0].isoformat()} ({earlier[1]})" if earlier else ""
    return (
        f"nothing to do: trading day {event.trading_day} was already reset{when}; "
        f"daily_pnl {event.previous_pnl:+.2f} and daily_trades {event.previous_trades} kept"
    )
