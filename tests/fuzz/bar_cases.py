"""Seeded generator of malformed bar files (CSV, CSV.gz, Parquet) built from real FTX rows.

Each case knows which rows it touched: every touched row is invalid on purpose (non-finite,
absurd, inconsistent, out of time or out of order), so a fill may only happen on a bar whose
time and open are those of an untouched real row. Cases aimed at one row target, most of the
time, a bar a clean replay of the same window filled on: an order is then pending when the bad
bar arrives, which is when a bad bar can do harm.
"""

from __future__ import annotations

import gzip
import io
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

HEADER = "ts,open,high,low,close,volume"
COLUMNS = tuple(HEADER.split(","))
SYMBOL = "BTC-PERP"

Fields = list[str]


@dataclass(frozen=True)
class Window:
    """Consecutive real rows of the source file and the rows a clean replay filled on."""

    rows: tuple[tuple[str, ...], ...]
    fill_rows: tuple[int, ...] = ()


@dataclass(frozen=True)
class BarCase:
    """One generated bar file and what a replay of it may do."""

    family: str
    name: str
    suffix: str
    payload: bytes
    valid: dict[datetime, float] = field(default_factory=dict)  # untouched row: ts -> open
    max_bad: int | None = None  # most bad bars the touched rows may cause (None: not judged)
    must_refuse: bool = False  # the file is unusable: only a TradeguardError is right

    def write(self, directory: Path, number: int) -> Path:
        """Write the payload as btc-perp_<family>-<number><suffix> and return its path."""
        path = directory / f"btc-perp_{self.family}-{number:04d}{self.suffix}"
        path.write_bytes(self.payload)
        return path


def parse_ts(text: str) -> datetime | None:
    """Return an aware UTC time for text, or None when it has no zone or does not parse."""
    try:
        ts = datetime.fromisoformat(text)
        return ts.astimezone(UTC) if ts.tzinfo is not None else None
    except (ValueError, OverflowError):
        return None


def valid_map(rows: list[Fields], touched: set[int]) -> dict[datetime, float]:
    """Return ts -> open of the rows not touched."""
    out: dict[datetime, float] = {}
    for index, row in enumerate(rows):
        ts = parse_ts(row[0])
        if index not in touched and ts is not None:
            out[ts] = float(row[1])
    return out


def csv_bytes(rows: list[Fields], header: str = HEADER, newline: str = "\n") -> bytes:
    """Render rows under header as CSV text (UTF-8)."""
    lines = [header, *(",".join(row) for row in rows)]
    return (newline.join(lines) + newline).encode()


def parquet_bytes(rows: list[Fields]) -> bytes:
    """Render rows as Parquet: aware timestamps when every ts allows, else text; floats or null."""
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    stamps = [parse_ts(row[0]) if len(row) == len(COLUMNS) else None for row in rows]
    if all(s is not None for s in stamps):
        ts_column = pa.array(stamps, pa.timestamp("us", tz="UTC"))
    else:
        ts_column = pa.array([row[0] if row else "" for row in rows], pa.string())
    columns = {"ts": ts_column}
    for position, name in enumerate(COLUMNS[1:], start=1):
        columns[name] = pa.array([_number(row, position) for row in rows], pa.float64())
    sink = io.BytesIO()
    pq.write_table(pa.table(columns), sink)
    return sink.getvalue()


def _number(row: Fields, position: int) -> float | None:
    try:
        return float(row[position])
    except (ValueError, IndexError):
        return None


def encode(rows: list[Fields], suffix: str) -> bytes:
    """Render rows in the format the suffix names."""
    if suffix == ".parquet":
        return parquet_bytes(rows)
    data = csv_bytes(rows)
    return gzip.compress(data, mtime=0) if suffix == ".csv.gz" else data


# -- row mutations: each returns the indexes it touched ---------------------------------------

BAD_NUMBERS = (
    "nan", "NaN", "inf", "-inf", "Infinity", "1e309", "-1", "0", "-0.0", "", "abc",
    "0x10", "--5", "1e299e1", "None", "null",
)
ABSURD_NUMBERS = ("1e299", "1.7e308", "1e-300", "5e-324")
BAD_VOLUMES = ("nan", "inf", "-1", "-1e-9", "", "abc", "1e309")
FAR_TIMES = (
    "2099-01-01T00:00:00Z", "9999-12-31T23:59:00Z", "9999-12-31T23:59:59-05:00",
    "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+05:00", "1970-01-01T00:00:00Z",
    "2262-04-12T00:00:00Z", "1677-09-21T00:00:00Z", "2999-12-31T23:59:00+14:00",
)
BAD_TIMES = (
    "", "yesterday", "1640991660", "2022-13-45T00:00:00Z", "2022-01-01T25:00:00Z",
    "2022-01-01 00:00:00 UTC", "2022-01-01T00:00:00+99:00", "T", "2022-01-01T00:00:00ZZ",
)
SPIKES = (25.0, 1 / 25, 1000.0, 1e-6, 3.0, 0.3)
Mutation = Callable[[random.Random, list[Fields], int], set[int]]


def bad_price(rng: random.Random, rows: list[Fields], k: int) -> set[int]:
    """One OHLC field becomes non-finite, absurd, non-positive or text."""
    rows[k][rng.randint(1, 4)] = rng.choice(BAD_NUMBERS)
    return {k}


def absurd_bar(rng: random.Random, rows: list[Fields], k: int) -> set[int]:
    """Every price becomes one absurd value: a consistent bar of 1e299 (or 1e-300)."""
    rows[k][1:5] = [rng.choice(ABSURD_NUMBERS)] * 4
    return {k}


def absurd_field(rng: random.Random, rows: list[Fields], k: int) -> set[int]:
    """One price or the volume becomes absurd (a high of 1e299 keeps OHLC consistent).

    A tiny positive volume is a quiet minute, not a bad bar: volumes only get huge values.
    """
    column = rng.randint(1, 5)
    rows[k][column] = rng.choice(ABSURD_NUMBERS if column < 5 else ABSURD_NUMBERS[:2])
    return {k}


def bad_volume(rng: random.Random, rows: list[Fields], k: int) -> set[int]:
    """The volume becomes negative, non-finite or text."""
    rows[k][5] = rng.choice(BAD_VOLUMES)
    return {k}


def high_below_low(rng: random.Random, rows: list[Fields], k: int) -> set[int]:
    """High and low swap (and move apart so the swap is never a no-op)."""
    high, low = float(rows[k][2]), float(rows[k][3])
    rows[k][2], rows[k][3] = repr(low * 0.99), repr(high * 1.01)
    return {k}


def spike(rng: random.Random, rows: list[Fields], k: int) -> set[int]:
    """A consistent bar at a multiple of the real prices (25x open: the FTX incident)."""
    factor = rng.choice(SPIKES)
    rows[k][1:5] = [repr(float(v) * factor) for v in rows[k][1:5]]
    return {k}


def spike_run(rng: random.Random, rows: list[Fields], k: int) -> set[int]:
    """Several consecutive consistent bars at a multiple of the real prices."""
    factor = rng.choice(SPIKES)
    touched = set(range(k, min(k + rng.randint(2, 5), len(rows))))
    for i in touched:
        rows[i][1:5] = [repr(float(v) * factor) for v in rows[i][1:5]]
    return touched


def far_time(rng: random.Random, rows: list[Fields], k: int) -> set[int]:
    """The bar time jumps far into the future or the past."""
    rows[k][0] = rng.choice(FAR_TIMES)
    return {k}


def bad_time(rng: random.Random, rows: list[Fields], k: int) -> set[int]:
    """The bar time does not parse."""
    rows[k][0] = rng.choice(BAD_TIMES)
    return {k}


def naive_time(rng: random.Random, rows: list[Fields], k: int) -> set[int]:
    """The bar time loses its zone."""
    rows[k][0] = rows[k][0].removesuffix("Z")
    return {k}


def duplicate_time(rng: random.Random, rows: list[Fields], k: int) -> set[int]:
    """The next row repeats this row's time with other (spiked or real) prices."""
    if k + 1 >= len(rows):
        k -= 1
    rows[k + 1][0] = rows[k][0]
    if rng.random() < 0.5:
        rows[k + 1][1:5] = [repr(float(v) * 25) for v in rows[k + 1][1:5]]
    return {k + 1}


def out_of_order(rng: random.Random, rows: list[Fields], k: int) -> set[int]:
    """An older real row appears again later (its values are real, its place is not)."""
    source = max(0, k - rng.randint(1, 30))
    copy = list(rows[source])
    if rng.random() < 0.5:
        copy[1:5] = [repr(float(v) * 25) for v in copy[1:5]]
    rows.insert(k, copy)
    return {k}


def wrong_shape(rng: random.Random, rows: list[Fields], k: int) -> set[int]:
    """The row has a field too many or too few, or a stray quote."""
    choice = rng.randrange(4)
    if choice == 0:
        rows[k] = rows[k][:-1]
    elif choice == 1:
        rows[k] = [*rows[k], "7"]
    elif choice == 2:
        rows[k] = [rows[k][0], f'"{rows[k][1]}', *rows[k][2:]]
    else:
        rows[k] = [",".join(rows[k][:2]) + ",", *rows[k][2:]]
    return {k}


ROW_FAMILIES: dict[str, tuple[Mutation, ...]] = {
    "price-invalid": (bad_price, bad_volume, high_below_low),
    "price-absurd": (absurd_bar, absurd_field),
    "price-spike": (spike, spike_run),
    "time-far": (far_time,),
    "time-invalid": (bad_time, naive_time),
    "time-order": (duplicate_time, out_of_order),
    "row-shape": (wrong_shape,),
}


# a row of the wrong width has no Parquet form: its extra field would simply be dropped
SUFFIXES = {"row-shape": (".csv", ".csv.gz")}


def row_cases(
    family: str, rng: random.Random, windows: list[Window], count: int
) -> Iterator[BarCase]:
    """Yield count cases of one row family, in a random format, with 1 to 3 mutations."""
    mutations = ROW_FAMILIES[family]
    for number in range(count):
        window = rng.choice(windows)
        rows = [list(row) for row in window.rows]
        touched: set[int] = set()
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            k = target_row(rng, window, len(rows), touched)
            # an inserted row shifts the rows after it: keep earlier touches on their rows
            before = len(rows)
            touched_now = rng.choice(mutations)(rng, rows, k)
            if len(rows) != before:
                touched = {i + 1 if i >= k else i for i in touched}
            touched |= touched_now
        suffix = rng.choice(SUFFIXES.get(family, (".csv", ".csv", ".csv.gz", ".parquet")))
        names = "+".join(sorted({m.__name__ for m in mutations}))
        yield BarCase(
            family, f"{family}#{number} {names} rows={sorted(touched)}", suffix,
            encode(rows, suffix), valid_map(rows, touched), max_bad=len(touched),
        )


def target_row(rng: random.Random, window: Window, size: int, touched: set[int]) -> int:
    """Return an untouched row a clean replay filled on (mostly), else any untouched row.

    Two mutations of one row could undo each other (a field dropped, then one added).
    """
    fills = [i for i in window.fill_rows if 0 < i < size - 1 and i not in touched]
    if fills and rng.random() < 0.8:
        return rng.choice(fills)
    free = [i for i in range(1, size - 1) if i not in touched]
    return rng.choice(free)
