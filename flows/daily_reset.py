"""Daily reset flow: clear daily P&L and trade count for the new trading day."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows._common import ALERT_HOOKS, build_app
from tasks.maintenance import reset_daily_task
from tasks.reports import DAILY_RESET_KEY, publish_markdown_task
from tradeguard.render import key_value_rows, markdown_table


@flow(name="daily-reset", **ALERT_HOOKS)
def daily_reset(
    state_dir: str | None = None, config_file: str | None = None, source: str = "schedule"
) -> dict[str, Any]:
    """Reset the daily risk state (idempotent: a second run on the same day changes nothing).

    Args:
        state_dir: State directory of the bot (default: store.state_dir of the settings).
        config_file: TOML settings file (default: $TRADEGUARD_CONFIG or none).
        source: Who asked for the reset, written to the journal (schedule, operator, ...).
    """
    app = build_app(config_file, state_dir)
    result = reset_daily_task(app, source)
    body = "# Daily reset\n\n" + markdown_table(key_value_rows(result))
    publish_markdown_task(DAILY_RESET_KEY, body, "Daily risk state reset")
    return result
