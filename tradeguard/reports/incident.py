"""Incident report: one HALT/SHUTDOWN episode from its first escalation to its recovery."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from engine.breaker_config import CircuitState
from tradeguard.reports import charts
from tradeguard.reports.document import Chart, Report, Section, Table, text
from tradeguard.reports.journal import JournalView, Row, Window
from tradeguard.reports.prices import equity_series, load_candles

MIN_PAD = timedelta(minutes=15)


@dataclass(frozen=True)
class Episode:
    """One row of the `incidents` view: a breaker episode that reached HALT or SHUTDOWN."""

    bot: str
    episode: int
    start_at: datetime
    halt_at: datetime
    end_at: datetime | None
    until_at: datetime
    seconds: float
    first_state: str
    first_trigger: str
    worst_state: str
    trigger: str
    observed: float | None
    threshold: float | None
    reason: str
    halts: int
    transitions: int
    orders_blocked: int
    orders_failed: int
    fills: int
    pnl_during: float

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Episode:
        """Build an episode from an `incidents` row."""
        return cls(**{f.name: row[f.name] for f in fields(cls)})

    @property
    def slug(self) -> str:
        """Return the episode's stable name: one report directory per episode."""
        return f"incident-{self.bot}-{self.start_at:%Y%m%dT%H%M%SZ}"

    @property
    def window(self) -> Window:
        """Return the episode window: first escalation to recovery (or the last journal row)."""
        return Window(self.start_at, self.until_at)


def load_episodes(view: JournalView, bot: str | None = None) -> list[Episode]:
    """Return every incident episode (optionally of one bot), oldest first."""
    rows = view.rows(
        "SELECT * FROM incidents WHERE $bot IS NULL OR bot = $bot ORDER BY halt_at, bot",
        {"bot": bot},
    )
    return [Episode.from_row(r) for r in rows]


def select_episodes(
    episodes: Sequence[Episode],
    since: datetime | None = None,
    until: datetime | None = None,
    last: bool = False,
) -> list[Episode]:
    """Return the last episode, or those overlapping [since, until] (all when both are None)."""
    if last or (since is None and until is None):
        return list(episodes[-1:]) if last else list(episodes)
    return [
        e for e in episodes
        if (since is None or e.until_at >= since) and (until is None or e.start_at <= until)
    ]


def _severity(state: str) -> int:
    try:
        return CircuitState(state).severity
    except ValueError:
        return 0


def _measure(row: Mapping[str, Any]) -> str:
    observed, threshold = row.get("observed"), row.get("threshold")
    if observed is None:
        return ""
    return f"observed {observed:.6g} vs threshold {text(threshold)}"


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


@dataclass(frozen=True)
class _Data:
    episode: Episode
    transitions: list[Row]
    denials: list[Row]
    failed: list[Row]
    fills: list[Row]
    actions: list[Row]
    alerts: list[Row] | None
    before: dict[str, float]
    after: dict[str, float]


def _collect(view: JournalView, episode: Episode) -> _Data:
    w, bot = episode.window, episode.bot
    return _Data(
        episode,
        view.transitions(w, bot),
        view.denials(w, bot),
        view.failed_orders(w, bot),
        view.fills(w, bot),
        view.operator_actions(w, bot),
        view.alerts(w, bot),
        view.positions_at(episode.start_at - timedelta(microseconds=1), bot),
        view.positions_at(episode.until_at, bot),
    )


def _timeline(d: _Data) -> Table:
    events: list[tuple[datetime, int, str, str]] = []
    for t in d.transitions:
        detail = f"{t['from_state']} -> {t['to_state']} ({t['trigger']}) {_measure(t)}".strip()
        events.append((t["at"], 0, "breaker", detail))
    for f in d.failed:
        events.append((f["created_at"], 1, "order failed",
                       f"{f['side']} {f['quantity']:g} {f['symbol']} {f['status']}: {f['reason']}"))
    for n in d.denials:
        events.append((n["at"], 2, "order blocked",
                       f"{n['side']} {n['quantity']:g} {n['symbol']} by {n['check_name']}"))
    for f in d.fills:
        closed = " (closes position)" if f["closed_quantity"] else ""
        events.append((f["ts"], 3, "fill",
                       f"{f['side']} {f['quantity']:g} {f['symbol']} @ {f['price']:.2f}{closed}"))
    for a in d.actions:
        events.append((a["at"], 4, "operator", f"{a['action']} by {a['who']}: {a['reason']}"))
    events.sort(key=lambda e: (e[0], e[1]))
    rows = [{"time (UTC)": at, "kind": kind, "event": detail} for at, _, kind, detail in events]
    return Table.of("", rows, ("time (UTC)", "kind", "event"))


def _positions(held: dict[str, float]) -> str:
    return ", ".join(f"{s} {q:g}" for s, q in held.items()) or "flat"


def _summary(d: _Data, equity: Sequence[tuple[datetime, float]]) -> list[str]:
    e = d.episode
    ended = (f"recovered to CLOSED at {text(e.end_at)}" if e.end_at is not None
             else f"still open at the last journal row ({text(e.until_at)})")
    lines = [
        f"The breaker first escalated at {text(e.start_at)} to {e.first_state} "
        f"({e.first_trigger}) and reached {e.worst_state} at {text(e.halt_at)} on "
        f"{e.trigger}: {e.reason}. The episode {ended}, after {_duration(e.seconds)}.",
        f"Impact: realized P&L {e.pnl_during:+.2f} during the episode over {e.fills} fills; "
        f"{e.orders_blocked} orders blocked by the breaker, {e.orders_failed} failed at the venue.",
    ]
    if equity:
        lines.append(f"Equity {equity[0][1]:.2f} at {text(equity[0][0])}, "
                     f"{equity[-1][1]:.2f} at {text(equity[-1][0])} "
                     f"({equity[-1][1] - equity[0][1]:+.2f}).")
    lines.append(f"Positions: {_positions(d.before)} before, {_positions(d.after)} at the end.")
    return lines


def _metrics(view: JournalView, e: Episode) -> Table:
    span = max(e.until_at - e.start_at, MIN_PAD)
    windows = {
        "before": Window(e.start_at - span, e.start_at - timedelta(microseconds=1)),
        "during": e.window,
        "after": Window(e.until_at + timedelta(microseconds=1), e.until_at + span),
    }
    rows = []
    for name, w in windows.items():
        m = view.metrics(w, e.bot)
        rate = m["failed"] / m["orders"] if m["orders"] else None
        rows.append({"window": name, "from": w.start, "to": w.end, **m, "failure_rate": rate})
    return Table.of("", rows, note=f"Windows of equal length ({_duration(span.total_seconds())}).")


def _charts(view: JournalView, e: Episode, price_files: Mapping[str, Path]) -> tuple[
    list[Chart], list[tuple[datetime, float]]
]:
    pad = max((e.until_at - e.start_at) * 0.3, MIN_PAD)
    w = Window(e.start_at - pad, e.until_at + pad)
    spans = [charts.StateSpan(s["state"], s["start_at"], s["end_at"])
             for s in view.state_spans(w, e.bot)]
    transitions = view.transitions(w, e.bot)
    marks = [charts.TransitionMark(t["at"], t["to_state"], f"{t['to_state']} ({t['trigger']})")
             for t in transitions]
    fills = view.fills(w, e.bot)
    fill_marks = [charts.FillMark(f["ts"], f["price"], f["side"]) for f in fills]
    symbols = sorted({f["symbol"] for f in fills}) or view.symbols(e.bot)
    candles = {s: load_candles(price_files[s], s, w) for s in symbols if s in price_files}
    out: list[Chart] = []
    for symbol in symbols[:3]:
        series = candles.get(symbol, [])
        source = "bars from the data file" if series else "prices seen in the journal"
        png = charts.price_chart(
            f"{symbol} ({source}) with breaker states, transitions and fills",
            series, [] if series else view.journal_prices(w, e.bot, symbol), spans, marks,
            [m for m, f in zip(fill_marks, fills, strict=True) if f["symbol"] == symbol],
        )
        out.append(Chart(f"price-{symbol.lower()}.png", f"{symbol} price, {source}", png))
    equity, caption = equity_series(view, e.bot, w, candles)
    out.append(Chart("equity.png", caption,
                     charts.equity_chart(f"Equity, {e.bot}", equity, spans, marks)))
    return out, equity


def build_incident_report(
    view: JournalView, episode: Episode, price_files: Mapping[str, Path]
) -> Report:
    """Build the incident report of one episode (charts use bars when a data file is given)."""
    d = _collect(view, episode)
    chart_list, equity = _charts(view, episode, price_files)
    inside = [p for p in equity if episode.start_at <= p[0] <= episode.until_at]
    summary = _summary(d, inside)
    escalations = [t for t in d.transitions
                   if _severity(t["to_state"]) > _severity(t["from_state"])]
    e = episode
    facts = (
        ("Bot", e.bot),
        ("What", f"{e.worst_state} on {e.trigger} ({_measure(vars(e))})"),
        ("First escalation", f"{text(e.start_at)} ({e.first_state}, {e.first_trigger})"),
        ("HALT/SHUTDOWN at", text(e.halt_at)),
        ("Ended", text(e.end_at) if e.end_at else f"open at {text(e.until_at)}"),
        ("Duration", _duration(e.seconds)),
        ("Realized P&L during", f"{e.pnl_during:+.2f}"),
        ("Orders blocked / failed / filled", f"{e.orders_blocked} / {e.orders_failed} / {e.fills}"),
    )
    alert_note = ("The journal keeps no alert table: alert delivery is in the notifier's log."
                  if d.alerts is None else f"{len(d.alerts)} alerts journaled.")
    sections = (
        Section("Summary", tuple(summary)),
        Section("Charts", charts=tuple(chart_list)),
        Section("Triggers", ("Every escalation of the episode with what was measured.",),
                (Table.of("", escalations, ("at", "from_state", "to_state", "trigger",
                                            "observed", "threshold", "reason")),)),
        Section("Timeline from the first escalation", (
            f"From {text(e.start_at)} to {text(e.until_at)}: breaker transitions, failed and "
            "blocked orders, fills and operator actions in time order.",), (_timeline(d),)),
        Section("State transitions", tables=(Table.of("", d.transitions),)),
        Section("Orders", tables=(
            Table.of("Blocked or denied", d.denials),
            Table.of("Failed at the venue", d.failed),
            Table.of("Filled (closed_quantity > 0 closes a position)", d.fills),
        )),
        Section("Operator actions", tables=(Table.of("", d.actions),)),
        Section("Alerts", (alert_note,), (Table.of("", d.alerts or []),)),
        Section("Metrics before, during and after", tables=(_metrics(view, e),)),
    )
    meta = {"episode": e.slug, "bot": e.bot, "start_at": e.start_at, "halt_at": e.halt_at,
            "end_at": e.end_at, "closed": e.end_at is not None, "trigger": e.trigger,
            "observed": e.observed, "threshold": e.threshold,
            "blocked_orders": [n["client_order_id"] for n in d.denials]}
    title = f"Incident: {e.worst_state} at {text(e.halt_at)} ({e.trigger}), {e.bot}"
    return Report("incident", e.slug, title, facts, sections, meta)
