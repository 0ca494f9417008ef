"""Real-time validation: a paper session paced at 1x for N hours, restarted, then judged.

The replayed calm-control data is released bar by bar at wall-clock speed (as a live feed
would), the session is stopped and resumed from its store `restarts` times along the way, and
the run is judged on uptime, restarts survived, state persisted for every event, and no false
escalation. Time is injected: the tests drive it with a SimulatedClock whose `advance` is the
sleep.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from engine.circuit_breaker import CircuitState
from engine.events import BreakerTransitioned
from engine.feed import FeedItem
from tradeguard import bootstrap
from tradeguard.scenarios.verdict import Verdict
from tradeguard.validation import default_request

if TYPE_CHECKING:
    from tradeguard.app import App
    from tradeguard.requests import ReplayRequest

log = logging.getLogger(__name__)

Sleep = Callable[[float], None]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FAR = datetime(9999, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class RealtimeVerdict:
    """The real-time run's verdicts and where its state lives."""

    hours: float
    state_dir: str
    started_at: datetime
    ended_at: datetime
    verdicts: tuple[Verdict, ...]

    @property
    def passed(self) -> bool:
        """Return True when every verdict held."""
        return all(v.passed for v in self.verdicts)

    def to_json(self) -> dict[str, Any]:
        """Return the JSON object `validate --realtime --json` prints."""
        return {
            "passed": self.passed,
            "hours": self.hours,
            "state_dir": self.state_dir,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat(),
            "verdicts": [
                {"name": v.name, "expected": v.expected, "observed": v.observed,
                 "passed": v.passed}
                for v in self.verdicts
            ],
        }


@dataclass
class _Tally:
    released: set[datetime]
    transitions_seen: int = 0
    bars_after_restart: int = 0

    def listener(self, event: Any) -> None:
        if isinstance(event, BreakerTransitioned):
            self.transitions_seen += 1


def _paced(items: Iterator[FeedItem], app: App, sleep: Sleep, tally: _Tally) -> Iterator[FeedItem]:
    for item in bootstrap.paced(items, app.settings.feed.bar_seconds, app.clock.now, sleep):
        tally.released.add(item.ts)
        yield item


def _segment(app: App, request: ReplayRequest, sleep: Sleep, tally: _Tally) -> int:
    """Run one stretch of the session (resuming its store); return its cumulative bar count."""
    items = bootstrap.feed_items(app.settings, request)
    first, items = bootstrap.first_bar_time(items)
    runtime = bootstrap.build_runtime(
        app.settings, seed=request.seed, faults=None, first_bar=first, realtime=False,
        listeners=[tally.listener], app=app,
    )
    try:
        runtime.session.recover(runtime.recovered.open_intents, rerun=True)
        runtime.session.run(_paced(items, app, sleep, tally))
        bars = int(runtime.session.snapshot()["session"]["bars"])
    finally:
        runtime.close()
    return bars


def realtime_validation(
    app: App, hours: float, restarts: int = 2, sleep: Sleep = time.sleep
) -> RealtimeVerdict:
    """Keep a paced paper session running for `hours`, restarting it `restarts` times."""
    base = default_request(app.settings)
    start = base.start or _EPOCH
    end = start + timedelta(hours=hours)
    stamp = app.clock.now().astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    run_app = app.on(app.workspace.child(f"validation/realtime-{stamp}"))
    run_settings = run_app.settings.model_copy(update={
        "store": run_app.settings.store.model_copy(update={"state_dir": run_app.workspace.location})
    })
    run_app = replace(run_app, settings=run_settings)
    started_at = app.clock.now()
    tally = _Tally(released=set())
    step = (end - start) / (restarts + 1)
    counts: list[int] = []
    for index in range(restarts + 1):
        # Each stretch starts where the last one ended, as a restarted process would.
        request = replace(base, start=start + step * index, end=start + step * (index + 1))
        counts.append(_segment(run_app, request, sleep, tally))
        log.info("realtime_segment index=%d bars=%d", index, counts[-1])
    ended_at = app.clock.now()
    verdicts = _judge(run_app, tally, counts, start, end, started_at, ended_at, hours)
    return RealtimeVerdict(hours, str(run_app.workspace.location), started_at, ended_at,
                           tuple(verdicts))


def _judge(
    app: App, tally: _Tally, counts: list[int], start: datetime, end: datetime,
    started_at: datetime, ended_at: datetime, hours: float,
) -> list[Verdict]:
    bar = timedelta(seconds=app.settings.feed.bar_seconds)
    journal = app.workspace.open_journal()
    try:
        transitions = journal.transitions_between(_EPOCH, _FAR)
    finally:
        journal.close()
    ran_for = (ended_at - started_at).total_seconds() / 3600
    available = len(tally.released)
    expected_bars = math.ceil((end - start) / bar)
    uptime = available / expected_bars if expected_bars else 0.0
    above = [t for t in transitions
             if CircuitState(t.to_state).severity > CircuitState.ALERT.severity]
    resumed = counts == sorted(counts) and counts[-1] == available
    return [
        Verdict("wall_clock_hours", f">= {hours:g} h", f"{ran_for:.3f} h",
                ran_for * 3600 >= hours * 3600 - bar.total_seconds()),
        Verdict("uptime", ">= 99% of the bars of the window handled",
                f"{available}/{expected_bars} bars ({uptime:.1%})", uptime >= 0.99),
        Verdict("restarts_survived", f"{len(counts) - 1} restarts resume where they stopped",
                f"bar counts after each stretch {counts}, {available} bars released", resumed),
        Verdict("state_persisted_every_event", "every breaker event journaled",
                f"{tally.transitions_seen} seen, {len(transitions)} journaled",
                tally.transitions_seen == len(transitions)),
        Verdict("no_false_escalation", "nothing above ALERT on calm data",
                "none" if not above else f"{len(above)} (first {above[0].to_state} at "
                f"{above[0].at.isoformat()})", not above),
    ]


def realtime_lines(verdict: RealtimeVerdict) -> list[str]:
    """Return one line per verdict and a total line."""
    lines = [
        f"{'PASS' if v.passed else 'FAIL'}  {v.name:<28}  {v.observed} (expected {v.expected})"
        for v in verdict.verdicts
    ]
    word = "PASSED" if verdict.passed else "FAILED"
    lines.append(f"real-time validation {word} over {verdict.hours:g} h; state {verdict.state_dir}")
    return lines
