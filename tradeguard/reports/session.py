"""Session report: P&L and equity, breaker timeline, orders, signals and incidents of a bot."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time
from pathlib import Path

from tradeguard.analytics.queries import OVERVIEW_SQL
from tradeguard.reports import charts
from tradeguard.reports.document import Chart, Report, Section, Table, text
from tradeguard.reports.journal import JournalView, Row, Window, run_named
from tradeguard.reports.prices import equity_series, load_candles


def journal_window(view: JournalView, bot: str, window: Window | None) -> Window:
    """Return the window asked for, or the bot's whole journal span."""
    if window is not None:
        return window
    rows = view.rows("SELECT first_at, last_at FROM journal_span WHERE bot = $bot", {"bot": bot})
    if not rows or rows[0]["first_at"] is None:
        now = datetime.now(UTC)
        return Window(now, now)
    return Window(rows[0]["first_at"], rows[0]["last_at"])


def bots(view: JournalView) -> list[str]:
    """Return the bots in the analytics file."""
    return [str(r["bot"]) for r in view.rows("SELECT bot FROM bots ORDER BY bot")]


def _noon(day: date) -> datetime:
    return datetime.combine(day, time(12), tzinfo=UTC)  # the bar sits in the middle of its day


def _only(rows: Sequence[Row], bot: str, drop: Sequence[str] = ("bot",)) -> list[Row]:
    return [{k: v for k, v in r.items() if k not in drop} for r in rows if r.get("bot") == bot]


def session_sections(
    view: JournalView, bot: str, w: Window, price_files: Mapping[str, Path]
) -> tuple[
    tuple[tuple[str, str], ...], tuple[Section, ...]
]:
    """Return the facts and sections every journal report shares (session, validation)."""
    over = _only(view.rows(OVERVIEW_SQL, {"since": w.start, "until": w.end}), bot)
    o = over[0] if over else {}
    daily = _only(run_named(view, "daily-pnl", w), bot)
    perf = _only(run_named(view, "performance", w), bot)
    failures = [r for r in _only(run_named(view, "failures", w), bot)
                if r["dimension"] == "reason"]
    signals = _only(run_named(view, "signals", w), bot)
    incidents = _only(run_named(view, "incidents", w), bot)
    spans = [charts.StateSpan(s["state"], s["start_at"], s["end_at"])
             for s in view.state_spans(w, bot)]
    time_in_state: dict[str, float] = {}
    for s in spans:
        time_in_state[s.state] = time_in_state.get(s.state, 0.0) + (
            s.end - s.start).total_seconds()
    observed = sum(time_in_state.values()) or 1.0
    candles = {s: load_candles(price_files[s], s, w) for s in view.symbols(bot)
               if s in price_files}
    equity, caption = equity_series(view, bot, w, candles)
    chart_list = [
        Chart("equity.png", f"{caption}, breaker states shaded",
              charts.equity_chart(f"Equity, {bot}", equity, spans, [])),
        Chart("breaker-timeline.png", "Breaker state over time",
              charts.breaker_timeline_chart(f"Breaker timeline, {bot}", spans)),
    ]
    if daily:
        days = sorted({r["day"] for r in daily})
        pnl = [sum(r["pnl"] for r in daily if r["day"] == d) for d in days]
        chart_list.append(Chart("daily-pnl.png", "Realized P&L per UTC day (net of fees)",
                                charts.daily_pnl_chart(f"Daily P&L, {bot}",
                                                       [_noon(d) for d in days], pnl)))
    facts = (
        ("Bot", bot),
        ("Window", f"{text(w.start)} to {text(w.end)} UTC"),
        ("Realized P&L (net of fees)", text(o.get("realized_pnl"))),
        ("Fees", text(o.get("fees"))),
        ("Last equity", text(o.get("last_equity"))),
        ("Fills / orders / failed", f"{o.get('fills', 0)} / {o.get('orders', 0)} / "
                                    f"{text(o.get('failed'))}"),
        ("Signals (ordered / denied)", f"{o.get('signals', 0)} ({text(o.get('ordered'))} / "
                                       f"{text(o.get('denied'))})"),
        ("Breaker", f"{text(o.get('breaker_state')) or 'CLOSED'}, {o.get('transitions', 0)} "
                    f"transitions, {o.get('incidents', 0)} incidents"),
    )
    sections = (
        Section("Charts", charts=tuple(chart_list)),
        Section("Performance", tables=(Table.of("", perf),)),
        Section("Daily P&L", tables=(Table.of("", daily),)),
        Section("Breaker", tables=(
            Table.of("Time in state", [{"state": k, "seconds": v, "share": v / observed}
                                       for k, v in time_in_state.items()]),
            Table.of("Incidents", incidents, ("start_at", "halt_at", "end_at", "trigger",
                                              "observed", "threshold", "orders_blocked",
                                              "pnl_during")),
        )),
        Section("Orders", tables=(Table.of("Failures by reason", failures),)),
        Section("Signals", tables=(Table.of("", signals),)),
    )
    return facts, sections


def build_session_report(
    view: JournalView, bot: str, window: Window | None = None,
    price_files: Mapping[str, Path] | None = None,
) -> Report:
    """Build the session report of one bot over a window (default: its whole journal)."""
    w = journal_window(view, bot, window)
    facts, sections = session_sections(view, bot, w, price_files or {})
    slug = f"session-{bot}-{w.start:%Y%m%dT%H%M%SZ}-{w.end:%Y%m%dT%H%M%SZ}"
    return Report("session", slug, f"Session report: {bot}", facts, sections,
                  {"bot": bot, "start": w.start, "end": w.end})
