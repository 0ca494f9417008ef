"""Bar file readers: CSV, CSV.gz and Parquet into the engine's FeedItem stream.

* `read_bars(path, symbol)` checks the file and its header at once (a missing file or a
  missing/extra column raises `DataError`) and then yields one `FeedItem` per data row, lazily.
  A row that cannot be parsed is not fatal: it comes out with `bar=None` and `reason` set, so
  the session can record it as a skipped bar and go on. `row` counts data rows from 1 (in a CSV
  file that is line `row + 1`, after the header).
* Judging parsed bars (`BarValidator`) and merging streams (`merge_sources`) stay in
  engine/feed.py: the engine takes any iterable of FeedItems and does no I/O.

Timestamps are ISO-8601 with a zone (`2022-01-21T21:52:00Z`) and come out as aware UTC.
"""

from __future__ import annotations

import csv
import gzip
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from engine.errors import DataError
from engine.feed import COLUMNS, FeedItem, parse_bar_time
from engine.model import Bar

DATA_HOWTO = (
    "see docs/data.md (the repository's shared/data folder beside the clone, "
    "or the upstream sources with sha256 checksums)"
)
_VALUE_COLUMNS = COLUMNS[1:]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NO_TIME = datetime.min.replace(tzinfo=UTC)
_PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})
_BATCH_ROWS = 65_536
_READ_ERRORS = (OSError, EOFError, zlib.error, csv.Error, UnicodeDecodeError)
_NATURAL_INDEX = {name: position for position, name in enumerate(COLUMNS)}

def _not_found(path: Path) -> DataError:
    return DataError(f"market data file not found: {path}; {DATA_HOWTO}")


def _check_header(path: Path, header: list[str]) -> dict[str, int]:
    names = [name.strip().lower() for name in header]
    expected = ",".join(COLUMNS)
    for column in COLUMNS:
        if column not in names:
            message = f"{path}: missing column '{column}' (header must be {expected})"
            raise DataError(message)
    seen: set[str] = set()
    for name in names:
        if name not in COLUMNS or name in seen:
            kind = "duplicate" if name in seen else "unexpected"
            message = f"{path}: {kind} column '{name}' (header must be {expected})"
            raise DataError(message)
        seen.add(name)
    return {name: names.index(name) for name in COLUMNS}



def _row_problem(fields: list[Any], index: dict[str, int]) -> str:
    """Explain why a row failed the fast parse (slow path, only for bad rows)."""
    width = len(COLUMNS)
    if len(fields) != width:
        return f"expected {width} fields, got {len(fields)}"
    raw_ts = fields[index["ts"]]
    if raw_ts is None or raw_ts == "":
        return "empty ts"
    if isinstance(raw_ts, str):
        try:
            parse_bar_time(raw_ts)
        except ValueError as e:
            return str(e) if "time zone" in str(e) else f"unparseable ts {raw_ts!r}"
    for name in _VALUE_COLUMNS:
        value = fields[index[name]]
        if value is None or value == "":
            return f"empty {name}"
        try:
            float(value)
        except (TypeError, ValueError):
            return f"unparseable {name} {value!r}"
    return "unparseable row"


def _rows_csv(path: Path, symbol: str) -> Iterator[FeedItem]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        handle = opener(path, "rt", encoding="utf-8-sig", newline="")
    except FileNotFoundError as e:
        raise _not_found(path) from e
    except OSError as e:
        message = f"cannot open market data file {path}: {e}"
        raise DataError(message) from e
    try:
        first = handle.readline()
    except _READ_ERRORS as e:
        handle.close()
        message = f"cannot read market data file {path}: {e}"
        raise DataError(message) from e
    if not first.strip():
        handle.close()
        message = f"{path}: empty file (expected header {','.join(COLUMNS)})"
        raise DataError(message)
    try:
        index = _check_header(path, next(csv.reader([first])))
    except DataError:
        handle.close()
        raise
    return _csv_items(path, symbol, handle, index)


def _csv_items(path: Path, symbol: str, handle: Any, index: dict[str, int]) -> Iterator[FeedItem]:
    i_ts, i_o, i_h, i_l, i_c, i_v = (index[name] for name in COLUMNS)
    width = len(COLUMNS)
    fromiso = datetime.fromisoformat
    # tuple.__new__ skips the NamedTuple's Python-level __new__: ~0.25 us per row saved
    new = tuple.__new__
    last_ts = _NO_TIME
    row = 0
    with handle:
        try:
            for line in handle:
                # str.split is twice as fast as csv.reader; quoted lines take the slow path
                fields = line.rstrip("\r\n").split(",")
                if len(fields) != width and not line.strip():
                    continue  # blank line
                row += 1
                bar = None
                if len(fields) == width:
                    try:
                        ts = fromiso(fields[i_ts])
                        if ts.tzinfo is not UTC:
                            ts = parse_bar_time(fields[i_ts])
                        bar = new(Bar, (
                            symbol, ts, float(fields[i_o]), float(fields[i_h]),
                            float(fields[i_l]), float(fields[i_c]), float(fields[i_v]),
                        ))
                    except ValueError:
                        bar = None
                if bar is None:
                    item = _slow_csv_row(symbol, row, last_ts, line, index)
                    if item.bar is not None:
                        last_ts = item.ts
                    yield item
                    continue
                last_ts = ts
                yield new(FeedItem, (symbol, row, ts, bar, None))
        except _READ_ERRORS as e:
            message = f"cannot read market data file {path} after data row {row}: {e}"
            raise DataError(message) from e


def _slow_csv_row(
    symbol: str, row: int, last_ts: datetime, line: str, index: dict[str, int]
) -> FeedItem:
    """Parse a line the fast path refused: with full CSV quoting rules, else explain it."""
    fields = next(csv.reader([line]), [])
    if len(fields) == len(COLUMNS):
        try:
            ts = parse_bar_time(fields[index["ts"]])
            values = [float(fields[index[name]]) for name in _VALUE_COLUMNS]
            return FeedItem(symbol, row, ts, Bar(symbol, ts, *values), None)
        except ValueError:
            pass
    return FeedItem(symbol, row, last_ts, None, _row_problem(fields, index))


def _rows_parquet(path: Path, symbol: str) -> Iterator[FeedItem]:
    # imported here: pyarrow costs ~0.2 s to import and CSV replays never need it
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    if not path.exists():
        raise _not_found(path)
    try:
        parquet = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as e:
        message = f"cannot read market data file {path}: {e}"
        raise DataError(message) from e
    _check_header(path, list(parquet.schema_arrow.names))
    _check_parquet_types(path, parquet.schema_arrow)
    return _parquet_items(parquet, symbol)


def _check_parquet_types(path: Path, schema: Any) -> None:
    """Refuse a schema whose column types cannot hold bars, naming the file and the column."""
    import pyarrow as pa

    ts_type = schema.field("ts").type
    if pa.types.is_timestamp(ts_type) and ts_type.tz is None:
        message = f"{path}: column 'ts' is a timestamp without time zone (store it as UTC)"
        raise DataError(message)
    if not (pa.types.is_timestamp(ts_type) or pa.types.is_string(ts_type)
            or pa.types.is_large_string(ts_type)):
        message = (f"{path}: column 'ts' has type {ts_type}; expected a timestamp with time "
                   "zone or ISO-8601 text")
        raise DataError(message)
    for name in _VALUE_COLUMNS:
        kind = schema.field(name).type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)
                or pa.types.is_decimal(kind)):
            message = f"{path}: column '{name}' has type {kind}; expected numbers"
            raise DataError(message)


def _parquet_items(parquet: Any, symbol: str) -> Iterator[FeedItem]:
    last_ts = _NO_TIME
    row = 0
    for batch in parquet.iter_batches(batch_size=_BATCH_ROWS, columns=list(COLUMNS)):
        stamps = _parquet_stamps(batch.column("ts"))
        values = [batch.column(name).to_pylist() for name in _VALUE_COLUMNS]
        for stamp, o, h, low, c, v in zip(stamps, *values, strict=True):
            row += 1
            bar = _parquet_bar(symbol, stamp, o, h, low, c, v)
            if bar is None:
                reason = _row_problem([stamp, o, h, low, c, v], _NATURAL_INDEX)
                yield FeedItem(symbol, row, last_ts, None, reason)
                continue
            last_ts = bar.ts
            yield FeedItem(symbol, row, bar.ts, bar, None)


def _parquet_stamps(ts_column: Any) -> list[Any]:
    import pyarrow as pa
    import pyarrow.compute as pc  # type: ignore[import-untyped]

    if not pa.types.is_timestamp(ts_column.type):
        stamps: list[Any] = ts_column.to_pylist()
        return stamps
    micros = pc.cast(ts_column, pa.timestamp("us", tz="UTC"), safe=False)
    return [
        None if m is None else _EPOCH + timedelta(microseconds=m)
        for m in micros.cast(pa.int64()).to_pylist()
    ]


def _parquet_bar(symbol: str, stamp: Any, *values: Any) -> Bar | None:
    """Return the row's bar, or None when a field does not parse (the caller explains why)."""
    try:
        ts = parse_bar_time(stamp) if isinstance(stamp, str) else stamp
        if not isinstance(ts, datetime):
            return None
        o, h, low, c, v = (float(value) for value in values)
    except (ValueError, TypeError):
        return None
    return Bar(symbol, ts, o, h, low, c, v)


def read_bars(
    path: Path | str,
    symbol: str,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Iterator[FeedItem]:
    """Open a bar file (checked now) and yield its rows lazily, keeping start <= ts < end."""
    file = Path(path)
    if file.suffix.lower() in _PARQUET_SUFFIXES:
        items = _rows_parquet(file, symbol)
    else:
        items = _rows_csv(file, symbol)
    if start is None and end is None:
        return items
    low = start if start is not None else _NO_TIME
    high = end if end is not None else datetime.max.replace(tzinfo=UTC)
    return (item for item in items if low <= item.ts < high)


def load_bars(
    path: Path | str,
    symbol: str,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[FeedItem]:
    """Read a whole bar file into memory; see read_bars."""
    return list(read_bars(path, symbol, start, end))

