"""The circuit breaker's memory: state, counters, time windows and the instants deadlines use.

`BreakerMemory` is the single source of truth for the breaker's state and everything it must
persist to resume exactly after a restart; times are absolute UTC instants, never durations.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import math
import sys
from array import array
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from engine.breaker_config import SNAPSHOT_VERSION, CircuitConfig, CircuitState
from engine.breaker_samples import SampleRecord
from engine.clock import ensure_utc
from engine.errors import ConfigurationError, StateError


def percentile(values: list[float], q: float) -> float:
    """Return the nearest-rank q-quantile of values, 0.0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _time(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        message = f"{name} must be an ISO-8601 string (got {value!r})"
        raise TypeError(message)
    return ensure_utc(datetime.fromisoformat(value), name)


def _opt_time(value: Any, name: str) -> datetime | None:
    return None if value is None else _time(value, name)


def _times(values: Any, name: str) -> deque[datetime]:
    times = deque(_time(t, name) for t in values)
    if any(a > b for a, b in itertools.pairwise(times)):
        message = f"{name} must be in time order"
        raise ValueError(message)
    return times


def _non_negative(value: Any, name: str, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        message = f"{name} must be a non-negative integer (got {value!r})"
        raise ValueError(message)
    if maximum is not None and value > maximum:
        message = f"{name} must be at most {maximum} (got {value!r})"
        raise ValueError(message)
    return value


# A sample counter beyond this cannot have been reached by appending (2**53 samples) and
# would overflow SQLite's 64-bit INTEGER once written: the section was altered.
_MAX_SEQ = 2**53


_PACKED = "f64:"  # sample windows as base64 of little-endian doubles: exact, compact, fast


def _pack(values: deque[float]) -> str:
    """Return a sample window as one short string (JSON float lists cost most of a commit)."""
    packed = array("d", values)
    if sys.byteorder != "little":  # pragma: no cover - the stored form is little-endian
        packed.byteswap()
    return _PACKED + base64.b64encode(packed.tobytes()).decode("ascii")


def _unpack(text: str, name: str) -> list[float]:
    try:
        raw = base64.b64decode(text[len(_PACKED):], validate=True)
        packed = array("d")
        packed.frombytes(raw)
    except (ValueError, binascii.Error) as e:
        message = f"{name} is not a valid packed sample window ({e})"
        raise ValueError(message) from e
    if sys.byteorder != "little":  # pragma: no cover
        packed.byteswap()
    return packed.tolist()


def _samples(value: Any, name: str, size: int) -> deque[float]:
    # Stores written before the packed form hold a JSON list of numbers: both are read.
    if isinstance(value, str) and value.startswith(_PACKED):
        value = _unpack(value, name)
    elif isinstance(value, str):
        message = f"{name} must be a list of numbers or a packed window"
        raise ValueError(message)
    floats = [float(v) for v in value]
    if not all(math.isfinite(v) and v >= 0.0 for v in floats):
        message = f"{name} must hold finite non-negative numbers"
        raise ValueError(message)
    return deque(floats, maxlen=size)


def _header(data: Mapping[str, Any]) -> tuple[CircuitState, Mapping[str, Any], bool]:
    """Return state, override section and override.active after checking they fit together."""
    if data.get("version") != SNAPSHOT_VERSION:
        message = f"version must be {SNAPSHOT_VERSION} (got {data.get('version')!r})"
        raise ValueError(message)
    override = data["override"]
    state, active = CircuitState(data["state"]), override["active"]
    if not isinstance(active, bool):
        message = f"override.active must be a boolean (got {active!r})"
        raise TypeError(message)
    if active and state not in (CircuitState.HALT, CircuitState.SHUTDOWN):
        message = f"override.active requires state HALT or SHUTDOWN (got {state.value})"
        raise ValueError(message)
    return state, override, active


@dataclass(slots=True)
class BreakerMemory:
    """Everything the breaker must persist to resume exactly; times are absolute UTC."""

    state: CircuitState
    entered_at: datetime
    samples: int
    last_unhealthy_at: datetime | None = None
    reason: str = "initial state"
    trigger: str = "initial"
    consecutive_failures: int = 0
    half_open_successes: int = 0
    failure_window: deque[datetime] = field(default_factory=deque)
    rate_failures: deque[datetime] = field(default_factory=deque)
    rate_successes: deque[datetime] = field(default_factory=deque)
    data_issues: deque[datetime] = field(default_factory=deque)
    latencies: deque[float] = field(default_factory=deque)
    slippages: deque[float] = field(default_factory=deque)
    override_active: bool = False
    override_reason: str = ""
    override_who: str = ""
    override_at: datetime | None = None
    # Samples ever appended to each window (the next sample's seq), and how many of them the
    # journal holds as rows (not persisted: known from how the memory was restored).
    latency_seq: int = 0
    slippage_seq: int = 0
    latency_written: int = 0
    slippage_written: int = 0

    def __post_init__(self) -> None:
        self.latencies = deque(self.latencies, maxlen=self.samples)
        self.slippages = deque(self.slippages, maxlen=self.samples)

    def quiet_since(self) -> datetime:
        """Return when the current quiet stretch began: entering the state or the last issue."""
        last = self.last_unhealthy_at
        return last if last is not None and last > self.entered_at else self.entered_at

    def prune_windows(
        self, now: datetime, failures: timedelta, rate: timedelta, data: timedelta
    ) -> None:
        """Drop stamps older than their window (failure, failure-rate, data-issue) before now."""
        prune(self.failure_window, now - failures)
        prune(self.rate_failures, now - rate)
        prune(self.rate_successes, now - rate)
        prune(self.data_issues, now - data)

    def windows(self) -> tuple[deque[datetime], ...]:
        """Return the time-stamped windows (failures, rate failures/successes, data issues)."""
        return (self.failure_window, self.rate_failures, self.rate_successes, self.data_issues)

    def add_latency(self, value: float) -> None:
        """Append one API latency sample."""
        self.latencies.append(value)
        self.latency_seq += 1

    def add_slippage(self, value: float) -> None:
        """Append one slippage sample."""
        self.slippages.append(value)
        self.slippage_seq += 1

    def pending_samples(self) -> list[SampleRecord]:
        """Return the window samples the journal does not hold yet, oldest first per kind."""
        out: list[SampleRecord] = []
        size = self.samples
        for kind, window, seq, written in (
            ("latency", self.latencies, self.latency_seq, self.latency_written),
            ("slippage", self.slippages, self.slippage_seq, self.slippage_written),
        ):
            first = seq - len(window)  # the seq of window[0]
            for s in range(max(written, first), seq):
                out.append(SampleRecord(kind, s, s % size, window[s - first]))
        return out

    def samples_written(self, samples: Sequence[SampleRecord]) -> None:
        """Note that the journal committed these samples."""
        for sample in samples:
            if sample.kind == "latency":
                self.latency_written = max(self.latency_written, sample.seq + 1)
            else:
                self.slippage_written = max(self.slippage_written, sample.seq + 1)

    def to_json(self, windows: bool = True) -> dict[str, Any]:
        """Return a JSON-ready dict (datetimes as ISO-8601 strings).

        windows=False leaves the sample windows out (the journal keeps them as rows: see
        pending_samples); the section still says how many samples each window has seen.
        """
        data = {
            "version": SNAPSHOT_VERSION,
            "state": self.state.value,
            "entered_at": self.entered_at.isoformat(),
            "last_unhealthy_at": _iso(self.last_unhealthy_at),
            "reason": self.reason,
            "trigger": self.trigger,
            "consecutive_failures": self.consecutive_failures,
            "half_open_successes": self.half_open_successes,
            "failure_window": [t.isoformat() for t in self.failure_window],
            "rate_failures": [t.isoformat() for t in self.rate_failures],
            "rate_successes": [t.isoformat() for t in self.rate_successes],
            "data_issues": [t.isoformat() for t in self.data_issues],
            "sample_seq": {"latency": self.latency_seq, "slippage": self.slippage_seq},
            "override": {
                "active": self.override_active,
                "reason": self.override_reason,
                "who": self.override_who,
                "at": _iso(self.override_at),
            },
        }
        if windows:
            data["latency_samples"] = _pack(self.latencies)
            data["slippage_samples"] = _pack(self.slippages)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any], samples: int) -> BreakerMemory:
        """Rebuild from to_json(); raise StateError naming the unreadable field."""
        try:
            state, override, active = _header(data)
            memory = cls(
                state=state,
                entered_at=_time(data["entered_at"], "entered_at"),
                samples=samples,
                last_unhealthy_at=_opt_time(data["last_unhealthy_at"], "last_unhealthy_at"),
                reason=str(data["reason"]),
                trigger=str(data["trigger"]),
                consecutive_failures=_non_negative(data["consecutive_failures"],
                                                   "consecutive_failures"),
                half_open_successes=_non_negative(data["half_open_successes"],
                                                  "half_open_successes"),
                latencies=_samples(data["latency_samples"], "latency_samples", samples),
                slippages=_samples(data["slippage_samples"], "slippage_samples", samples),
                failure_window=_times(data["failure_window"], "failure_window"),
                rate_failures=_times(data["rate_failures"], "rate_failures"),
                rate_successes=_times(data["rate_successes"], "rate_successes"),
                data_issues=_times(data["data_issues"], "data_issues"),
                override_active=active,
                override_reason=str(override["reason"]),
                override_who=str(override["who"]),
                override_at=_opt_time(override["at"], "override.at"),
            )
            _restore_seqs(memory, data.get("sample_seq"))
        except (KeyError, TypeError, ValueError, ConfigurationError) as e:
            message = (
                f"breaker snapshot cannot be restored: {type(e).__name__}: {e}; restore a "
                "backup with `tradeguard state restore`"
            )
            raise StateError(message) from e
        return memory


def _restore_seqs(memory: BreakerMemory, seqs: Any) -> None:
    """Set the window counters: from the section, or (older sections) none journaled yet."""
    if seqs is None:  # windows packed in the section: every sample still has to become a row
        memory.latency_seq, memory.slippage_seq = len(memory.latencies), len(memory.slippages)
        return
    memory.latency_seq = _non_negative(seqs["latency"], "sample_seq.latency", _MAX_SEQ)
    memory.slippage_seq = _non_negative(seqs["slippage"], "sample_seq.slippage", _MAX_SEQ)
    if memory.latency_seq < len(memory.latencies) or memory.slippage_seq < len(memory.slippages):
        message = "sample_seq is smaller than the sample windows"
        raise ValueError(message)
    # The first commit writes the restored windows again, in the ring slots of this run's
    # window size: written under another size, a slot a new sample takes may hold one of
    # them, and a later restart would find the run broken and recover a shorter window.
    memory.latency_written = memory.latency_seq - len(memory.latencies)
    memory.slippage_written = memory.slippage_seq - len(memory.slippages)


def check_finite(value: float, name: str, minimum: float | None = None,
                  strict: bool = False) -> None:
    """Raise ValueError naming `name` unless value is finite and within the bound."""
    # Called for every loss, latency and slippage report: the passing case returns first.
    if math.isfinite(value) and (
        minimum is None or (value > minimum if strict else value >= minimum)
    ):
        return
    bound = "" if minimum is None else f" {'>' if strict else '>='} {minimum}"
    message = f"{name} must be a finite number{bound} (got {value!r})"
    raise ValueError(message)


def prune(window: deque[datetime], cutoff: datetime) -> None:
    """Drop timestamps older than cutoff from the left of a time-ordered window."""
    while window and window[0] < cutoff:
        window.popleft()


def status_report(
    m: BreakerMemory,
    config: CircuitConfig,
    now: datetime,
    deadline: datetime | None,
    awaiting_confirmation: bool,
) -> dict[str, Any]:
    """Return the breaker's JSON-ready status from its memory at time now."""
    failures, successes = len(m.rate_failures), len(m.rate_successes)
    latencies, slippages = list(m.latencies), list(m.slippages)
    saved = m.to_json()
    return {
        **{key: saved[key] for key in ("state", "reason", "trigger", "entered_at",
                                       "consecutive_failures", "half_open_successes",
                                       "override")},
        "failures_in_window": len(m.failure_window),
        "window_counts": {"failures": failures, "successes": successes,
                          "data_issues": len(m.data_issues)},
        "metrics": {
            "avg_api_latency_ms": sum(latencies) / len(latencies) if latencies else 0.0,
            "p95_api_latency_ms": percentile(latencies, 0.95),
            "avg_slippage_pct": sum(slippages) / len(slippages) if slippages else 0.0,
            "failure_rate": failures / (failures + successes) if failures else 0.0,
            "time_in_state_seconds": (now - m.entered_at).total_seconds(),
        },
        "next_deadline": None if deadline is None else deadline.isoformat(),
        "shadow_mode": config.shadow_mode,
        "halt_recovery": config.halt_recovery,
        "awaiting_confirmation": awaiting_confirmation,
    }
