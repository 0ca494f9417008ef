"""The store's commit hook: alerts derived from a batch join the batch's own transaction."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from datetime import timedelta

from engine.errors import TradeguardError
from engine.ports import Batch
from tradeguard.alerting import outbox
from tradeguard.alerting.policy import AlertPolicy

log = logging.getLogger(__name__)


class OutboxWriter:
    """Called by SqliteStore.commit inside its transaction: derive, dedup, record."""

    def __init__(
        self, policy: AlertPolicy, routes: Sequence[outbox.Route], window: timedelta
    ) -> None:
        self._policy = policy
        self._routes = tuple(routes)
        self._window = window
        self.failures = 0

    def writes_for(self, batch: Batch) -> bool:
        """Return True when batch carries events alerts derive from (transitions, issues)."""
        return bool(batch.transitions or batch.issues)

    def __call__(self, conn: sqlite3.Connection, batch: Batch, now: str) -> None:
        """Record the batch's alerts; a failure here loses the alert rows, never the batch."""
        if not self.writes_for(batch):
            return
        alerts = self._policy.derive(batch)
        if not alerts:
            return
        conn.execute("SAVEPOINT alert_outbox")
        try:
            for facts in alerts:
                outbox.record(conn, facts, now, self._routes, self._window)
            conn.execute("RELEASE alert_outbox")
        except (sqlite3.Error, ValueError, TypeError, TradeguardError) as e:
            # Trading state matters more than its alert: keep the engine event, log loudly.
            conn.execute("ROLLBACK TO alert_outbox")
            conn.execute("RELEASE alert_outbox")
            self.failures += 1
            log.error("alert_outbox_write_failed alerts=%d error=%s", len(alerts), e)  # noqa: TRY400
