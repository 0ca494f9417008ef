"""The venue is the truth for a ccxt venue: book this bot's venue trades the journal lacks.

Before recovery and trading (live start, and `tradeguard reconcile` on a live state) the
account's trades since the store's oldest bar cursor go through `engine.venue_sync`: every
trade of this bot's orders the journal has not booked is booked once, an order the journal
does not know is adopted, and working orders are followed. "This bot's" means a client order
id the journal knows or one carrying the strategy's prefix (`<strategy_id>-`, as every engine
id does); anything else on the account is left to the drift check, which HALTs on it.

Where the read starts: the store's oldest cursor as saved (before the live warm-up moves the
cursors to now), but never earlier than `venue.sync_lookback_hours` ago; an empty store reads
that whole window. A store older than the window cannot be brought up to the venue: the
session HALTs and says so.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from engine.breaker_config import IssueType
from engine.errors import ConfigurationError, StateCorruptedError
from engine.model import BrokerOrder, Fill, OrderIntent
from engine.ports import RecoveredState
from tradeguard.venues.account import VenueAccount
from tradeguard.venues.ids import encoded_prefix

if TYPE_CHECKING:  # status reads the live marker without loading the session
    from engine.session import TradingSession
    from engine.venue_sync import VenueSyncResult

__all__ = [
    "LIVE_MARKER",
    "IntentLister",
    "OwnLedger",
    "SyncPlan",
    "owned_by",
    "pending_sync_from",
    "plan_sync",
    "read_live_marker",
    "require_live_state",
    "require_paper_state",
    "require_same_venue",
    "sync_account",
    "write_live_marker",
]

log = logging.getLogger(__name__)

LIVE_MARKER = "venue.json"  # in the state dir: this state trades a live (ccxt) venue
PAPER_BOOK = "paper_broker.sqlite"  # in the state dir: a paper venue traded this state
_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


class IntentLister(Protocol):
    """The journal's intents by creation time (the SQLite store fits)."""

    def intents_between(self, start: datetime, end: datetime) -> list[OrderIntent]:
        """Return intents created in [start, end]."""
        ...


class Trackable(VenueAccount, Protocol):
    """A venue account that decodes venue client ids to the engine's (CcxtBroker fits)."""

    def track(self, client_order_ids: Iterable[str]) -> None:
        """Learn engine client ids."""
        ...


def owned_by(strategy_id: str) -> Callable[[str], bool]:
    """Return whether a client order id is one this strategy's engine sends (encoded or not)."""
    prefix = encoded_prefix(f"{strategy_id}-")
    return lambda cid: cid.startswith(prefix)


@dataclass(frozen=True, slots=True)
class OwnLedger:
    """The account's records that are this bot's: the VenueLedger engine.venue_sync reads."""

    account: VenueAccount
    ours: Callable[[str], bool]

    def fills_since(self, since: datetime | None) -> list[Fill]:
        """Return this bot's fills at or after since."""
        return [f for f in self.account.fills_since(since) if self.ours(f.client_order_id)]

    def open_orders(self) -> list[BrokerOrder]:
        """Return this bot's orders still working at the venue."""
        return [o for o in self.account.open_orders() if self.ours(o.client_order_id)]


@dataclass(frozen=True, slots=True)
class SyncPlan:
    """Where the venue's record is read from, and whether the store is older than that."""

    since: datetime
    cursor: datetime | None
    history_short: bool


def plan_sync(stored: RecoveredState, now: datetime, lookback_hours: int,
              pending: datetime | None = None) -> SyncPlan:
    """Return the start of the read: the stored oldest cursor, bounded by the lookback.

    pending is where a sync that did not finish started (see write_live_marker): its commits
    already saved the warm-up's cursors, so the stored ones no longer say where to read from.
    """
    floor = now - timedelta(hours=lookback_hours)
    cursors = (stored.state.get("session") or {}).get("cursors") or {}
    if not cursors:
        return SyncPlan(floor, None, history_short=False)
    oldest = min(datetime.fromisoformat(ts) for ts in cursors.values())
    if oldest < floor:
        return SyncPlan(floor, oldest, history_short=True)
    if pending is not None and pending < oldest:
        oldest = max(pending, floor)
    return SyncPlan(oldest, oldest, history_short=False)


def sync_account(
    session: TradingSession,
    account: Trackable,
    journal: IntentLister,
    plan: SyncPlan,
    strategy_id: str,
) -> VenueSyncResult:
    """Book this bot's venue trades since plan.since the journal lacks (before recovery)."""
    # Intents created a day before the read started may still have trades in it.
    known = journal.intents_between(plan.since - timedelta(days=1), _FAR_FUTURE)
    account.track(i.client_order_id for i in known)
    if plan.history_short:
        cursor = plan.cursor.isoformat() if plan.cursor else "none"
        log.error("venue_sync_history_short cursor=%s since=%s", cursor, plan.since.isoformat())
        session.breaker.report_critical_error(
            IssueType.MANUAL,
            {"kind": "venue_history_short", "store_cursor": cursor,
             "read_from": plan.since.isoformat(),
             "action": "the store is older than venue.sync_lookback_hours: trades in between "
                       "are not booked; raise the setting and run `tradeguard reconcile`"},
        )
    result = session.sync_with_venue(OwnLedger(account, owned_by(strategy_id)), plan.since)
    log.info("venue_sync since=%s fills_booked=%d intents_adopted=%d open_orders_adopted=%d "
             "error=%s", plan.since.isoformat(), len(result.fills_booked),
             len(result.intents_adopted), len(result.open_orders_adopted), result.error or "-")
    return result


def write_live_marker(state_dir: Path, exchange: str, symbols: list[str],
                      sync_from: datetime | None = None) -> None:
    """Record that this state trades a live venue (read by `tradeguard reconcile`).

    sync_from is set while a venue sync runs and cleared once it is done: a sync killed
    halfway is read again from there (pending_sync_from).
    """
    path = state_dir / LIVE_MARKER
    data: dict[str, Any] = {"exchange": exchange, "symbols": symbols}
    if sync_from is not None:
        data["sync_from"] = sync_from.isoformat()
    text = json.dumps(data, sort_keys=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        tmp = path.with_name(f"{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.chmod(0o600)  # every file of the state directory is 0600 (docs/state.md)
        tmp.replace(path)


def pending_sync_from(state_dir: Path) -> datetime | None:
    """Return where an unfinished venue sync started, or None."""
    value = (read_live_marker(state_dir) or {}).get("sync_from")
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def read_live_marker(state_dir: Path) -> dict[str, Any] | None:
    """Return the live venue this state trades, or None for a replay/paper state.

    The marker decides which venue `reconcile` talks to and where an unfinished sync
    restarts, so a damaged one is refused (fail closed), never read as "no venue".
    """
    path = state_dir / LIVE_MARKER
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        message = _marker_damaged(path, f"unreadable ({type(e).__name__}: {e})")
        raise StateCorruptedError(message) from e
    problem = _marker_problem(data)
    if problem is not None:
        raise StateCorruptedError(_marker_damaged(path, problem))
    return dict(data)


def _marker_problem(data: Any) -> str | None:
    """Say what is wrong with a parsed venue.json, or None when it is well formed."""
    if not isinstance(data, dict):
        return "not a JSON object"
    if not isinstance(data.get("exchange"), str) or not data["exchange"]:
        return "no exchange"
    symbols = data.get("symbols")
    if not isinstance(symbols, list) or not all(isinstance(x, str) and x for x in symbols):
        return "symbols is not a list of names"
    since = data.get("sync_from")
    if since is not None:
        try:
            parsed = datetime.fromisoformat(since) if isinstance(since, str) else None
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            return "sync_from is not an ISO time with a UTC offset"
    return None


def _marker_damaged(path: Path, problem: str) -> str:
    return (
        f"live venue marker {path} is damaged: {problem}. It records which live venue this "
        f'state trades; write it back as {{"exchange": "<id>", "symbols": ["BTC/USDT"]}} with '
        "this session's venue settings, or run `tradeguard state restore`"
    )


def require_same_venue(marker: dict[str, Any], exchange: str, symbols: list[str]) -> None:
    """Refuse venue settings other than the ones this live state traded with.

    Another exchange is another account; a symbol left out would have its trades missed by
    the venue sync.
    """
    if marker.get("exchange") != exchange:
        message = (f"this state trades {marker.get('exchange')!r} but venue.exchange is "
                   f"{exchange!r}: use the venue settings of that session, or another --state-dir")
        raise ConfigurationError(message)
    missing = sorted(set(marker.get("symbols", [])) - set(symbols))
    if missing:
        message = (
            f"this state traded {', '.join(missing)} on {exchange}, which venue.symbols "
            f"({', '.join(symbols)}) leaves out: the venue sync would miss their trades; add "
            "them to venue.symbols"
        )
        raise ConfigurationError(message)


def require_paper_state(state_dir: Path, what: str) -> None:
    """Refuse a paper venue (a replay, `venue run --paper`) on a state that trades a live venue.

    Its paper fills would be booked into the live journal, and the engine's cash and positions
    would no longer be the venue's (the venue sync adds what is missing, it removes nothing).
    """
    if (state_dir / LIVE_MARKER).exists():
        message = (
            f"state directory {state_dir} trades a live venue ({LIVE_MARKER}): {what} would "
            "book paper fills into its journal; use another --state-dir"
        )
        raise ConfigurationError(message)


def require_live_state(state_dir: Path) -> None:
    """Refuse a live session on a state a paper venue filled orders on (they are in its ledger)."""
    book = state_dir / PAPER_BOOK
    if (state_dir / LIVE_MARKER).exists() or not book.exists():
        return
    try:
        with contextlib.closing(sqlite3.connect(f"{book.resolve().as_uri()}?mode=ro", uri=True)
                                ) as conn:
            filled = conn.execute("SELECT EXISTS (SELECT 1 FROM fills)").fetchone()[0]
    except sqlite3.Error:
        filled = True  # unreadable: assume the worst
    if filled:
        message = (
            f"state directory {state_dir} holds a paper or replay session with fills "
            f"({PAPER_BOOK}): they would count as the live account's cash and positions; give "
            "the live session its own --state-dir"
        )
        raise ConfigurationError(message)
