"""Charts as PNG bytes with matplotlib's Agg canvas (no pyplot, no global figure state)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

# Figures are drawn on an explicit Agg canvas (FigureCanvasAgg), never through pyplot, so no
# display backend or global figure state is involved.

STATE_COLORS = {
    "ALERT": "#f2c94c",
    "THROTTLE": "#f2994a",
    "HALF_OPEN": "#6fa8dc",
    "HALT": "#eb5757",
    "SHUTDOWN": "#8e44ad",
}
STATE_ORDER = ("CLOSED", "ALERT", "THROTTLE", "HALF_OPEN", "HALT", "SHUTDOWN")
MAX_CANDLES = 400
_UP, _DOWN = "#27ae60", "#c0392b"


@dataclass(frozen=True)
class Candle:
    """One OHLC bar (ts is the bar start, UTC)."""

    ts: datetime
    open: float
    high: float
    low: float
    close: float


@dataclass(frozen=True)
class StateSpan:
    """The breaker in one state from start to end."""

    state: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class TransitionMark:
    """A breaker transition to draw as a labelled vertical line."""

    at: datetime
    to_state: str
    label: str


@dataclass(frozen=True)
class FillMark:
    """A fill to draw as a triangle at its price."""

    at: datetime
    price: float
    side: str


def num(ts: datetime) -> float:
    """Return a time as a matplotlib date number (days since the epoch)."""
    return float(mdates.date2num(ts))  # type: ignore[no-untyped-call]


def nums(times: Sequence[datetime]) -> list[float]:
    """Return times as matplotlib date numbers (one vectorized conversion)."""
    if not times:
        return []
    return [float(x) for x in mdates.date2num(list(times))]  # type: ignore[no-untyped-call]


def thin(
    points: Sequence[tuple[datetime, float]], limit: int = 3000
) -> list[tuple[datetime, float]]:
    """Keep at most about limit points: per bucket the first, lowest and highest, in order."""
    if len(points) <= limit:
        return list(points)
    size = -(-len(points) // (limit // 3))
    out: list[tuple[datetime, float]] = []
    for start in range(0, len(points), size):
        bucket = points[start:start + size]
        keep = {0, min(range(len(bucket)), key=lambda i: bucket[i][1]),
                max(range(len(bucket)), key=lambda i: bucket[i][1])}
        out.extend(bucket[i] for i in sorted(keep))
    return out


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _shade(ax: Axes, spans: Sequence[StateSpan]) -> list[Patch]:
    ranges: dict[str, list[tuple[float, float]]] = {}
    for span in spans:
        if span.state in STATE_COLORS and span.end > span.start:
            width = (span.end - span.start) / timedelta(days=1)
            ranges.setdefault(span.state, []).append((num(span.start), width))
    legend = []
    for state in STATE_ORDER:
        if state in ranges:  # one collection per state: thousands of spans stay fast
            ax.broken_barh(ranges[state], (0, 1), transform=ax.get_xaxis_transform(),
                           facecolors=STATE_COLORS[state], alpha=0.18, lw=0)
            legend.append(Patch(color=STATE_COLORS[state], alpha=0.35, label=state))
    return legend


def _transitions(ax: Axes, marks: Sequence[TransitionMark]) -> None:
    top = ax.get_ylim()[1]
    for i, mark in enumerate(marks):
        color = STATE_COLORS.get(mark.to_state, "#2d9c5b")
        ax.axvline(num(mark.at), color=color, lw=1.2, ls="--")
        ax.annotate(
            mark.label, xy=(num(mark.at), top), xytext=(2, -10 - 11 * (i % 4)),
            textcoords="offset points", fontsize=7, color="#333", rotation=0,
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": color, "alpha": 0.85},
        )


def _time_axis(ax: Axes) -> None:
    locator = mdates.AutoDateLocator(minticks=4, maxticks=10)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(
        mdates.ConciseDateFormatter(locator)  # type: ignore[no-untyped-call]
    )
    ax.grid(alpha=0.25)


def _candles(ax: Axes, candles: Sequence[Candle]) -> None:
    width = (candles[1].ts - candles[0].ts if len(candles) > 1 else timedelta(minutes=1)) * 0.7
    for c in candles:
        color = _UP if c.close >= c.open else _DOWN
        mid = c.ts + width / 1.4 / 2
        ax.vlines(num(mid), c.low, c.high, color=color, lw=0.8)
        bottom, height = min(c.open, c.close), abs(c.close - c.open) or 1e-9
        ax.add_patch(
            Rectangle(
                (num(mid - width / 2), bottom), width / timedelta(days=1), height,
                facecolor=color, edgecolor=color, lw=0.5,
            )
        )
    ax.set_xlim(num(candles[0].ts), num(candles[-1].ts + width))
    lows = [c.low for c in candles]
    highs = [c.high for c in candles]
    pad = (max(highs) - min(lows)) * 0.05 or 1.0
    ax.set_ylim(min(lows) - pad, max(highs) + pad)


def price_chart(
    title: str,
    candles: Sequence[Candle],
    points: Sequence[tuple[datetime, float]],
    spans: Sequence[StateSpan],
    marks: Sequence[TransitionMark],
    fills: Sequence[FillMark],
) -> bytes:
    """Draw price (candles when few enough, else closes; else journal prices) with marks."""
    fig = Figure(figsize=(11, 4.6))
    ax = fig.add_subplot()
    if candles and len(candles) <= MAX_CANDLES:
        _candles(ax, candles)
    elif candles:
        ax.plot(nums([c.ts for c in candles]), [c.close for c in candles], color="#34495e", lw=1)
    elif points:
        ax.plot(nums([p[0] for p in points]), [p[1] for p in points], color="#34495e", lw=1,
                marker=".", ms=3, label="journal prices")
    legend = _shade(ax, spans)
    buys = [f for f in fills if f.side == "BUY"]
    sells = [f for f in fills if f.side != "BUY"]
    for group, marker, color, label in (
        (buys, "^", "#1e8449", "buy fills"),
        (sells, "v", "#c0392b", "sell fills"),
    ):
        if group:
            ax.scatter(nums([f.at for f in group]), [f.price for f in group], marker=marker,
                       s=46, color=color, edgecolor="black", lw=0.5, zorder=5,
                       label=f"{label} ({len(group)})")
    _transitions(ax, marks)
    handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles=[*handles, *legend], loc="lower left", fontsize=8, ncol=4, framealpha=0.9)
    ax.set_title(title, fontsize=11)
    ax.set_ylabel("price")
    _time_axis(ax)
    fig.tight_layout()
    return _png(fig)


def equity_chart(
    title: str,
    points: Sequence[tuple[datetime, float]],
    spans: Sequence[StateSpan],
    marks: Sequence[TransitionMark],
) -> bytes:
    """Draw equity with its running peak and the drawdown below, breaker states shaded."""
    points = thin(points)
    fig = Figure(figsize=(11, 4.6))
    ax, dd_ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    times = nums([p[0] for p in points])
    values = [p[1] for p in points]
    peaks: list[float] = []
    for v in values:
        peaks.append(max(v, peaks[-1]) if peaks else v)
    ax.plot(times, values, color="#2c3e50", lw=1.3, label="equity")
    ax.plot(times, peaks, color="#7f8c8d", lw=0.8, ls=":", label="running peak")
    drawdown = [(v - p) / p * 100 if p else 0.0 for v, p in zip(values, peaks, strict=True)]
    dd_ax.fill_between(times, drawdown, 0, color="#c0392b", alpha=0.4)
    dd_ax.set_ylabel("drawdown %")
    legend = _shade(ax, spans)
    _shade(dd_ax, spans)
    if values:
        _transitions(ax, marks)
    handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles=[*handles, *legend], loc="lower left", fontsize=8, ncol=4, framealpha=0.9)
    ax.set_title(title, fontsize=11)
    ax.set_ylabel("equity")
    _time_axis(ax)
    _time_axis(dd_ax)
    fig.tight_layout()
    return _png(fig)


def breaker_timeline_chart(title: str, spans: Sequence[StateSpan]) -> bytes:
    """Draw the breaker state over time as coloured bands, one row per state."""
    fig = Figure(figsize=(11, 2.6))
    ax = fig.add_subplot()
    ranges: dict[str, list[tuple[float, float]]] = {}
    for span in spans:
        if span.end > span.start:
            width = (span.end - span.start) / timedelta(days=1)
            ranges.setdefault(span.state, []).append((num(span.start), width))
    for row, state in enumerate(STATE_ORDER):
        if state in ranges:
            ax.broken_barh(ranges[state], (row - 0.4, 0.8),
                           facecolors=STATE_COLORS.get(state, "#27ae60"))
    ax.set_yticks(range(len(STATE_ORDER)), list(STATE_ORDER), fontsize=8)
    ax.set_ylim(-0.6, len(STATE_ORDER) - 0.4)
    ax.set_title(title, fontsize=11)
    ax.xaxis_date()
    _time_axis(ax)
    fig.tight_layout()
    return _png(fig)


def daily_pnl_chart(title: str, days: Sequence[datetime], pnl: Sequence[float]) -> bytes:
    """Draw realized P&L per day as green and red bars."""
    fig = Figure(figsize=(11, 3.2))
    ax = fig.add_subplot()
    colors = [_UP if v >= 0 else _DOWN for v in pnl]
    ax.bar(nums(days), pnl, color=colors, width=0.8)
    ax.axhline(0, color="#333", lw=0.8)
    ax.set_title(title, fontsize=11)
    ax.set_ylabel("realized P&L")
    _time_axis(ax)
    fig.tight_layout()
    return _png(fig)
