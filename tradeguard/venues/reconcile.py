"""Account-wide reconciliation at start: is anyone else trading this account?

The engine settles its own intents by client order id, and the venue sync books this bot's
trades the journal lacks. What neither may take over is an open order or a fill on the account
whose client id is not this bot's (a manual order, a second bot, a leaked key): `account_drift`
lists them; a live session HALTs on any (fails closed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from engine.breaker_config import IssueType
from engine.circuit_breaker import CircuitBreaker
from engine.errors import BrokerError
from tradeguard.venues.account import VenueAccount

__all__ = ["AccountDrift", "account_drift", "check_account", "halt_on_drift"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AccountDrift:
    """Venue activity the journal does not explain."""

    foreign_open_orders: tuple[str, ...]
    foreign_fills: tuple[str, ...]

    @property
    def clean(self) -> bool:
        """Return True when every open order and recent fill belongs to a journaled intent."""
        return not self.foreign_open_orders and not self.foreign_fills


def account_drift(
    account: VenueAccount, ours: Callable[[str], bool], since: datetime | None
) -> AccountDrift:
    """Return open orders and fills since `since` whose client id is not this bot's."""
    orders = tuple(sorted(o.client_order_id for o in account.open_orders()
                          if not ours(o.client_order_id)))
    fills: tuple[str, ...] = ()
    if since is not None:
        fills = tuple(sorted(f.fill_id for f in account.fills_since(since)
                             if not ours(f.client_order_id)))
    return AccountDrift(orders, fills)


def check_account(
    account: VenueAccount, ours: Callable[[str], bool], since: datetime | None,
    breaker: CircuitBreaker,
) -> AccountDrift | None:
    """Reconcile the account and HALT on drift; an account that cannot be read also HALTs."""
    try:
        drift = account_drift(account, ours, since)
    except BrokerError as e:
        log.warning("venue_account_unchecked error=%s", e)
        breaker.report_critical_error(
            IssueType.MANUAL,
            {"kind": "account_unchecked", "error": str(e)[:300],
             "action": "the account could not be reconciled at start; check the venue"},
        )
        return None
    halt_on_drift(drift, breaker)
    return drift


def halt_on_drift(drift: AccountDrift, breaker: CircuitBreaker) -> None:
    """HALT the breaker when the account shows activity tradeguard did not cause."""
    if drift.clean:
        return
    log.error("venue_account_drift foreign_open_orders=%s foreign_fills=%s",
              list(drift.foreign_open_orders), list(drift.foreign_fills))
    breaker.report_critical_error(
        IssueType.MANUAL,
        {"kind": "account_drift", "foreign_open_orders": list(drift.foreign_open_orders),
         "foreign_fills": list(drift.foreign_fills),
         "action": "check who else trades this account, cancel or adopt, then `recover`"},
    )
