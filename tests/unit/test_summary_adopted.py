"""The session summary's order counts: the JSON and the rendered lines say the same thing."""

from __future__ import annotations

from tradeguard.contracts import SessionSummary
from tradeguard.render import summary_lines


def _summary(adopted: int) -> SessionSummary:
    return SessionSummary(
        bars=10, bad_bars=0, bad_bar_reasons={}, gaps=0, signals=4, signals_suppressed=0,
        orders_submitted=3, orders_filled=3 + adopted - 1, orders_failed=0, orders_denied=1,
        orders_denied_by_reason={"max_position": 1}, trades_executed=2 + adopted, pnl=0.0,
        fees=0.0, positions={}, daily_pnl=0.0, daily_trades=0, transitions=(),
        final_state="CLOSED", stopped_by_breaker=False, stop_reason="", last_bar=None,
        orders_open=1, orders_adopted=adopted,
    )


def test_adopted_orders_are_in_the_json_and_the_rendered_counts() -> None:
    summary = _summary(adopted=5)
    data = summary.to_json()
    lines = summary_lines(summary)

    assert data["orders_adopted"] == 5
    assert data["orders_submitted"] + data["orders_adopted"] == (
        data["orders_filled"] + data["orders_failed"] + data["orders_open"])
    assert "orders: submitted=3 adopted=5 filled=7 failed=0 open=1 denied=1" in lines
    assert any(line.strip().startswith("adopted: 5 orders") for line in lines)
    # Adopted orders came from no signal of this run: the signal line counts submitted only.
    assert "signals: 4; 3 produced an order, 1 did not (denied by max_position=1)" in lines


def test_no_adoption_note_without_adopted_orders() -> None:
    lines = summary_lines(_summary(adopted=0))
    assert "orders: submitted=3 adopted=0 filled=2 failed=0 open=1 denied=1" in lines
    assert not any(line.strip().startswith("adopted:") for line in lines)
