"""Breaker sample windows as journal rows: one row per sample, in ring slot seq % window size.

The breaker's journaled section records how many samples each window has seen (sample_seq);
the samples themselves are rows, written once each instead of re-encoding whole windows at
every commit. A store puts the windows back into the section it loads (with_windows).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.errors import StateSectionError

SAMPLE_KINDS = ("latency", "slippage")
_WINDOW_KEYS = {"latency": "latency_samples", "slippage": "slippage_samples"}


@dataclass(frozen=True, slots=True)
class SampleRecord:
    """The seq-th sample of a breaker window (kind "latency" or "slippage"), kept in slot."""

    kind: str
    seq: int
    slot: int
    value: float


def with_windows(
    section: Mapping[str, Any], rows: Iterable[tuple[str, int, float]]
) -> dict[str, Any]:
    """Return a journaled breaker section with its sample windows rebuilt from sample rows.

    rows are (kind, seq, value); each window is the unbroken run of seqs ending just before
    the section's sample_seq (a ring slot left from a larger window size is not part of it).
    A section of an older store carries its windows itself and is returned unchanged. A row
    of another type, or two values for one sample, raises StateSectionError (an edit).
    """
    out = dict(section)
    seqs = section.get("sample_seq")
    if not isinstance(seqs, Mapping) or "latency_samples" in section:
        return out
    values: dict[str, dict[int, float]] = {kind: {} for kind in SAMPLE_KINDS}
    for kind, seq, value in rows:
        if kind in values:
            number, sample = _checked(kind, seq, value)
            if values[kind].setdefault(number, sample) != sample:
                # Every sample is written once, to one slot: two values are an edit.
                what = f"two rows for the {kind} sample {number}"
                raise _refused(what)
    for kind, key in _WINDOW_KEYS.items():
        got, window = values[kind], []
        last = seqs.get(kind)
        seq = last - 1 if isinstance(last, int) else -1
        while seq in got:
            window.append(got[seq])
            seq -= 1
        window.reverse()
        out[key] = window
    return out


def _checked(kind: str, seq: Any, value: Any) -> tuple[int, float]:
    """Return (seq, value) of a sample row; any other SQLite type means the row was altered."""
    if type(seq) is int and seq >= 0 and type(value) in (float, int):
        return seq, float(value)
    what = f"the {kind} sample {seq!r} = {value!r}"
    raise _refused(what)


def _refused(what: str) -> StateSectionError:
    message = (
        f"breaker_samples holds {what}, not what tradeguard writes; the store was altered: "
        "restore a backup with `tradeguard state restore`"
    )
    return StateSectionError(message)
