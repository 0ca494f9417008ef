"""Pure argument handling of the console command and of operator input."""

from __future__ import annotations

import pytest

from entrypoints.cli_support import hoist_global_options
from tradeguard.audit import OperatorInputError, audit_text


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["status", "--state-dir", "D"], ["--state-dir", "D", "status"]),
        (["--state-dir", "D", "status"], ["--state-dir", "D", "status"]),
        (["state", "restore", "--force", "--from", "B"],
         ["--force", "state", "restore", "--from", "B"]),
        (["replay", "--log-level=INFO", "--data", "F"],
         ["--log-level=INFO", "replay", "--data", "F"]),
        (["replay", "--data", "F", "--", "--config", "x"],
         ["replay", "--data", "F", "--", "--config", "x"]),
    ],
)
def test_global_options_after_the_command_move_in_front(
    args: list[str], expected: list[str]
) -> None:
    assert hoist_global_options(args) == expected


@pytest.mark.parametrize(
    "text", ["a\nb", "a\rb", "tab\there", "esc\x1b[2J", "sep\u2028x", "zero\u200bwidth", " "]
)
def test_audit_text_refuses_blanks_and_control_characters(text: str) -> None:
    with pytest.raises(OperatorInputError):
        audit_text("reason", text)


def test_audit_text_keeps_printable_text_in_any_script() -> None:
    assert audit_text("reason", "  maintenance: rééquilibrage 東京 ") == (
        "maintenance: rééquilibrage 東京"
    )
