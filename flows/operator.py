"""Operator flows: halt, resume and recover, each one audited services call."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows._common import ALERT_HOOKS, build_app, run_creator
from tasks.maintenance import operator_command_task
from tasks.reports import OPERATOR_KEY, publish_markdown_task
from tradeguard.render import markdown_table


def _command(
    action: str, reason: str, who: str, state_dir: str | None, config_file: str | None
) -> dict[str, Any]:
    app = build_app(config_file, state_dir)
    receipt = operator_command_task(app, action, reason, who)
    row = {
        "action": receipt.action,
        "applied_directly": receipt.applied_directly,
        "command_id": receipt.command_id,
        "reason": reason,
        "who": who,
        **receipt.detail,
    }
    publish_markdown_task(
        OPERATOR_KEY, f"# Operator command: {action}\n\n" + markdown_table([row]), action
    )
    return row


@flow(name="halt", **ALERT_HOOKS)
def halt(
    reason: str,
    who: str | None = None,
    state_dir: str | None = None,
    config_file: str | None = None,
) -> dict[str, Any]:
    """Halt trading now (queued for a live session, applied directly otherwise).

    Args:
        reason: Why (written to the audit trail).
        who: Who acts; none = the creator of the flow run as Prefect knows it.
        state_dir: State directory of the bot (default: store.state_dir of the settings).
        config_file: TOML settings file (default: $TRADEGUARD_CONFIG or none).
    """
    return _command("halt", reason, who or run_creator(), state_dir, config_file)


@flow(name="resume", **ALERT_HOOKS)
def resume(
    reason: str,
    who: str | None = None,
    state_dir: str | None = None,
    config_file: str | None = None,
) -> dict[str, Any]:
    """Resume trading after a halt.

    Args:
        reason: Why (written to the audit trail).
        who: Who acts; none = the creator of the flow run as Prefect knows it.
        state_dir: State directory of the bot (default: store.state_dir of the settings).
        config_file: TOML settings file (default: $TRADEGUARD_CONFIG or none).
    """
    return _command("resume", reason, who or run_creator(), state_dir, config_file)


@flow(name="recover", **ALERT_HOOKS)
def recover(
    reason: str,
    who: str | None = None,
    state_dir: str | None = None,
    config_file: str | None = None,
) -> dict[str, Any]:
    """Start recovery from HALT/SHUTDOWN through the breaker's recovery path.

    Args:
        reason: Why (written to the audit trail).
        who: Who acts; none = the creator of the flow run as Prefect knows it.
        state_dir: State directory of the bot (default: store.state_dir of the settings).
        config_file: TOML settings file (default: $TRADEGUARD_CONFIG or none).
    """
    return _command("recover", reason, who or run_creator(), state_dir, config_file)
