"""Seeded generator of unusable bar files: headers, empty files, encodings, gzip, Parquet schema.

Every case here (but the `huge` family and the valid controls) names a file nothing can be
traded from: the only right outcome is a TradeguardError with a message (the CLI's exit 2).
"""

from __future__ import annotations

import gzip
import io
import random
from collections.abc import Callable, Iterator
from datetime import date

from tests.fuzz.bar_cases import COLUMNS, HEADER, BarCase, Fields, Window, csv_bytes, valid_map

HEADERS = (
    "", "ts,open,high,low,close", "ts,open,high,low,close,volume,extra",
    "time,open,high,low,close,volume", "ts,open,high,low,close,close",
    "ts;open;high;low;close;volume", "ts open high low close volume",
    "ts,open,high,low,close,volume,volume", "open,high,low,close,volume",
    "ts,opn,high,low,close,volume", "\"ts,open\",high,low,close,volume",
    "ts,,high,low,close,volume", "ts,open,high,low,close,vol", "é,open,high,low,close,volume",
    "ts,open,high,low,close,volume\x00",
)


def _rows(window: Window, rng: random.Random) -> list[Fields]:
    start = rng.randrange(0, len(window.rows) // 2)
    return [list(row) for row in window.rows[start:start + rng.randint(5, 120)]]


def header_case(rng: random.Random, window: Window) -> tuple[str, bytes]:
    """A header with a missing, extra, renamed, duplicated or mangled column, or none at all."""
    rows = _rows(window, rng)
    if rng.random() < 0.25:
        return "no header", csv_bytes(rows[1:], header=",".join(rows[0]))
    if rng.random() < 0.3:
        names = list(COLUMNS)
        position = rng.randrange(len(names))
        names[position] = rng.choice(("", "x", names[position] + "_", names[position][:-1]))
        header = ",".join(names)
    else:
        header = rng.choice(HEADERS)
    return f"header {header!r}", csv_bytes(rows, header=header)


def empty_case(rng: random.Random, window: Window) -> tuple[str, bytes]:
    """An empty file, blanks only, a header only, or a BOM only."""
    payload = rng.choice((
        b"", b"\n", b"\n\n\n", b"   \n\t\n", b"\xef\xbb\xbf", b"\r\n", (HEADER + "\n").encode(),
        (HEADER + "\n\n\n").encode(), HEADER.encode(), b"\x00" * rng.randint(1, 64),
    ))
    return f"empty {payload[:24]!r}", payload


def garbage_case(rng: random.Random, window: Window) -> tuple[str, bytes]:
    """Binary garbage, bad UTF-8 in the header, UTF-16 text, or a NUL-ridden header."""
    choice = rng.randrange(4)
    if choice == 0:
        return "random bytes", rng.randbytes(rng.randint(1, 4096))
    if choice == 1:
        header = b"ts,op\xffen,high,low,close,volume\n"
        return "bad UTF-8 header", header + csv_bytes(_rows(window, rng))
    if choice == 2:
        return "UTF-16 text", csv_bytes(_rows(window, rng)).decode().encode("utf-16")
    return "NUL header", HEADER.replace(",", "\x00").encode() + b"\n"


def bad_utf8_row_case(rng: random.Random, window: Window) -> tuple[str, bytes]:
    """Valid header, then a row with bytes that are not UTF-8 (a reader must not trace back)."""
    data = csv_bytes(_rows(window, rng))
    cut = data.index(b"\n", rng.randrange(len(HEADER) + 1, len(data) - 1)) + 1
    junk = rng.choice((b"\xff\xfe\xfd\n", b"2022-01-01T00:00:00Z,\xc3\x28,1,1,1,1\n", b"\x80" * 40))
    return "bad UTF-8 row", data[:cut] + junk + data[cut:]


def gzip_case(rng: random.Random, window: Window) -> tuple[str, bytes]:
    """A truncated gzip, gzip with garbage appended, plain text named .gz, or gzip twice."""
    data = gzip.compress(csv_bytes(_rows(window, rng)), mtime=0)
    choice = rng.randrange(5)
    if choice == 0:
        return "truncated gzip", data[: rng.randrange(1, len(data) - 1)]
    if choice == 1:
        return "gzip + garbage", data + rng.randbytes(rng.randint(1, 64))
    if choice == 2:
        return "plain text named .gz", csv_bytes(_rows(window, rng))
    if choice == 3:
        return "gzip twice", gzip.compress(data, mtime=0)
    flipped = bytearray(data)
    flipped[rng.randrange(10, len(flipped) - 8)] ^= 0xFF
    return "gzip with a flipped byte", bytes(flipped)


FileMaker = Callable[[random.Random, Window], tuple[str, bytes]]
FILE_FAMILIES: dict[str, tuple[tuple[FileMaker, str], ...]] = {
    "header": ((header_case, ".csv"), (header_case, ".csv.gz")),
    "empty": ((empty_case, ".csv"), (empty_case, ".csv.gz"), (empty_case, ".parquet")),
    "encoding": ((garbage_case, ".csv"), (garbage_case, ".parquet"), (bad_utf8_row_case, ".csv")),
    "gzip": ((gzip_case, ".csv.gz"),),
}


def file_cases(
    family: str, rng: random.Random, windows: list[Window], count: int
) -> Iterator[BarCase]:
    """Yield count unusable files of one family."""
    makers = FILE_FAMILIES[family]
    for number in range(count):
        maker, suffix = rng.choice(makers)
        label, payload = maker(rng, rng.choice(windows))
        # a bad UTF-8 row may come after good rows: those may trade, the rest must not; a
        # header without rows is an empty data set, not a broken file
        header_only = maker is empty_case and payload.strip() == HEADER.encode()
        refuse = maker is not bad_utf8_row_case and not header_only
        if maker is empty_case and suffix == ".csv.gz":
            payload = gzip.compress(payload, mtime=0)
        yield BarCase(family, f"{family}#{number} {label}", suffix, payload, must_refuse=refuse)


def huge_cases(rng: random.Random, windows: list[Window], count: int) -> Iterator[BarCase]:
    """One real row repeated thousands of times (bounded): one bar, then duplicates."""
    for number in range(count):
        row = list(rng.choice(windows).rows[0])
        # bounded: each skipped duplicate costs more than the one before (see the report)
        copies = rng.choice((600, 1_000))
        data = csv_bytes([row] * copies)
        suffix = rng.choice((".csv", ".csv.gz"))
        payload = gzip.compress(data, mtime=0) if suffix == ".csv.gz" else data
        yield BarCase("huge", f"huge#{number} {copies} copies", suffix, payload,
                      valid_map([row], set()), max_bad=copies - 1)


# -- Parquet schemas -------------------------------------------------------------------------


def _parquet(columns: dict[str, object]) -> bytes:
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    sink = io.BytesIO()
    pq.write_table(pa.table(columns), sink)
    return sink.getvalue()


def _typed(rows: list[Fields]) -> dict[str, object]:
    import pyarrow as pa

    from tests.fuzz.bar_cases import parse_ts

    columns: dict[str, object] = {
        "ts": pa.array([parse_ts(r[0]) for r in rows], pa.timestamp("us", tz="UTC"))
    }
    for position, name in enumerate(COLUMNS[1:], start=1):
        columns[name] = pa.array([float(r[position]) for r in rows], pa.float64())
    return columns


def _wrong_ts(rng: random.Random, rows: list[Fields]) -> tuple[str, object]:
    import pyarrow as pa

    from tests.fuzz.bar_cases import parse_ts

    stamps = [parse_ts(r[0]) for r in rows]
    choice = rng.randrange(5)
    if choice == 0:
        return "int64 ts", pa.array([int(s.timestamp()) for s in stamps if s], pa.int64())
    if choice == 1:
        return "date ts", pa.array([s.date() if s else date(2022, 1, 1) for s in stamps])
    if choice == 2:
        naive = [s.replace(tzinfo=None) if s else None for s in stamps]
        return "naive timestamp ts", pa.array(naive, pa.timestamp("us"))
    if choice == 3:
        return "float ts", pa.array([s.timestamp() if s else 0.0 for s in stamps], pa.float64())
    return "bool ts", pa.array([True] * len(rows), pa.bool_())


def parquet_schema_case(rng: random.Random, window: Window) -> tuple[str, bytes, bool]:
    """Parquet whose schema is wrong: (label, payload, must_refuse)."""
    import pyarrow as pa

    rows = _rows(window, rng)
    columns = _typed(rows)
    choice = rng.randrange(6)
    if choice == 0:
        label, columns["ts"] = _wrong_ts(rng, rows)
        return label, _parquet(columns), True
    if choice == 1:
        name = rng.choice(COLUMNS[1:])
        columns[name] = pa.array([rng.random() < 0.5 for _ in rows], pa.bool_())
        return f"bool {name}", _parquet(columns), True
    if choice == 2:
        del columns[rng.choice(COLUMNS)]
        return "missing column", _parquet(columns), True
    if choice == 3:
        columns[rng.choice(("extra", "ts2", "Volume"))] = pa.array([1.0] * len(rows))
        return "extra column", _parquet(columns), True
    if choice == 4:
        payload = _parquet(columns)
        return "truncated parquet", payload[: rng.randrange(4, len(payload) - 1)], True
    name = rng.choice(COLUMNS[1:])
    columns[name] = pa.array([None] * len(rows), pa.float64())
    return f"all-null {name}", _parquet(columns), False


def parquet_cases(rng: random.Random, windows: list[Window], count: int) -> Iterator[BarCase]:
    """Yield count Parquet files with a wrong schema (or all-null values)."""
    for number in range(count):
        label, payload, refuse = parquet_schema_case(rng, rng.choice(windows))
        yield BarCase("parquet-schema", f"parquet-schema#{number} {label}", ".parquet", payload,
                      must_refuse=refuse)


def control_cases(rng: random.Random, windows: list[Window], count: int) -> Iterator[BarCase]:
    """Untouched windows in every format: the oracle must accept them (no false alarm)."""
    from tests.fuzz.bar_cases import encode

    for number in range(count):
        window = windows[number % len(windows)]
        rows = [list(row) for row in window.rows]
        suffix = (".csv", ".csv.gz", ".parquet")[number % 3]
        yield BarCase("control", f"control#{number}", suffix, encode(rows, suffix),
                      valid_map(rows, set()), max_bad=0)
