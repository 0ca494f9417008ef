"""Feed: reading CSV/CSV.gz/Parquet, per-row parse errors, bar validation, gaps, merging."""

from __future__ import annotations

import gzip
import itertools
import math
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from engine.errors import DataError
from engine.feed import BarValidator, FeedConfig, FeedItem, merge_sources
from engine.model import Bar
from tradeguard.marketdata import DATA_HOWTO, load_bars, read_bars

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
HEADER = "ts,open,high,low,close,volume"
T0 = datetime(2022, 1, 21, 10, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
GOOD_ROW = "2022-01-21T10:00:00Z,100.0,101.0,99.0,100.5,3.0"


def write_csv(tmp_path: Path, *rows: str, header: str = HEADER, name: str = "bars.csv") -> Path:
    path = tmp_path / name
    text = "\n".join([header, *rows]) + "\n"
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def good_bar(ts: datetime = T0, symbol: str = "BTC", **fields: float) -> Bar:
    values = {"open": 100.0, "high": 101.0, "low": 99.0, "close": 100.5, "volume": 3.0}
    values.update(fields)
    return Bar(symbol, ts, **values)


def require_data(name: str) -> Path:
    path = DATA / name
    if not path.exists():
        pytest.skip(f"shared data file {path} not present ({DATA_HOWTO})")
    return path


# -- reading ------------------------------------------------------------------------------------


def test_csv_rows_become_aware_utc_bars_with_row_numbers(tmp_path: Path) -> None:
    path = write_csv(tmp_path, GOOD_ROW, "2022-01-21T11:01:00+01:00,1,2,0.5,1.5,0")

    items = load_bars(path, "BTC")

    assert [item.row for item in items] == [1, 2]
    assert items[0].bar == Bar("BTC", T0, 100.0, 101.0, 99.0, 100.5, 3.0)
    second = items[1].bar
    assert second is not None and second.ts == T0 + MINUTE and second.ts.tzinfo is UTC
    assert all(item.reason is None for item in items)


def test_gzip_csv_and_plain_csv_read_the_same_bars(tmp_path: Path) -> None:
    rows = (GOOD_ROW, "2022-01-21T10:01:00Z,100.5,102,100,101,1")
    plain = load_bars(write_csv(tmp_path, *rows), "BTC")
    packed = load_bars(write_csv(tmp_path, *rows, name="bars.csv.gz"), "BTC")

    assert plain == packed and len(plain) == 2


def test_columns_in_another_order_are_mapped_by_name(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path, "3.0,100.5,99.0,101.0,100.0,2022-01-21T10:00:00Z",
        header="volume,close,low,high,open,ts",
    )

    (item,) = load_bars(path, "BTC")

    assert item.bar == good_bar()


def test_quoted_fields_and_blank_lines_are_handled(tmp_path: Path) -> None:
    path = write_csv(tmp_path, '"2022-01-21T10:00:00Z","100.0",101.0,99.0,100.5,3.0', "", "")

    items = load_bars(path, "BTC")

    assert [item.bar for item in items] == [good_bar()]


def test_start_and_end_keep_start_inclusive_end_exclusive(tmp_path: Path) -> None:
    rows = [f"{(T0 + i * MINUTE).isoformat().replace('+00:00', 'Z')},1,1,1,1,1" for i in range(5)]
    path = write_csv(tmp_path, *rows)

    items = load_bars(path, "BTC", start=T0 + MINUTE, end=T0 + 3 * MINUTE)

    assert [item.ts for item in items] == [T0 + MINUTE, T0 + 2 * MINUTE]


def test_missing_file_says_how_to_obtain_the_data(tmp_path: Path) -> None:
    path = tmp_path / "btc-perp_ftx_1m.csv.gz"

    with pytest.raises(DataError) as raised:
        read_bars(path, "BTC")

    message = str(raised.value)
    assert str(path) in message
    assert "see docs/data.md" in message and "sha256" in message


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("ts,open,high,low,volume", "missing column 'close'"),
        ("ts,open,high,low,close,volume,trades", "unexpected column 'trades'"),
        ("ts,open,high,low,close,volume,open", "duplicate column 'open'"),
        ("time,open,high,low,close,volume", "missing column 'ts'"),
    ],
)
def test_wrong_header_is_fatal_naming_file_and_column(
    tmp_path: Path, header: str, expected: str
) -> None:
    path = write_csv(tmp_path, GOOD_ROW, header=header)

    with pytest.raises(DataError) as raised:
        read_bars(path, "BTC")

    assert str(path) in str(raised.value) and expected in str(raised.value)


def test_empty_file_is_fatal(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("", encoding="utf-8")

    with pytest.raises(DataError, match="empty file"):
        read_bars(path, "BTC")


def test_corrupt_gzip_is_a_data_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv.gz"
    path.write_bytes(b"not gzip at all")

    with pytest.raises(DataError, match=r"bars\.csv\.gz"):
        load_bars(path, "BTC")


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("2022-01-21T10:01:00Z,abc,101,99,100,1", "unparseable open 'abc'"),
        ("2022-01-21T10:01:00Z,100,101,99,,1", "empty close"),
        ("2022-01-21T10:01:00Z,100,101,99,100", "expected 6 fields, got 5"),
        ("2022-01-21T10:01:00Z,100,101,99,100,1,7", "expected 6 fields, got 7"),
        ("not-a-time,100,101,99,100,1", "unparseable ts 'not-a-time'"),
        ("2022-01-21T10:01:00,100,101,99,100,1", "has no time zone"),
    ],
)
def test_unparseable_row_becomes_a_bad_item_and_reading_goes_on(
    tmp_path: Path, row: str, reason: str
) -> None:
    path = write_csv(tmp_path, GOOD_ROW, row, "2022-01-21T10:02:00Z,100,101,99,100,1")

    items = load_bars(path, "BTC")

    assert len(items) == 3
    bad = items[1]
    assert bad.bar is None and bad.row == 2 and bad.reason is not None
    assert reason in bad.reason
    assert bad.ts == T0  # merge key: the last time read before the bad row
    assert items[2].bar is not None


def test_parquet_round_trip_matches_the_csv(tmp_path: Path) -> None:
    csv_path = write_csv(
        tmp_path, GOOD_ROW, "2022-01-21T10:01:00Z,100.5,102,100,101,1.25", name="b.csv.gz"
    )
    from_csv = load_bars(csv_path, "BTC")
    bars = [item.bar for item in from_csv if item.bar is not None]
    table = pa.table(
        {
            "ts": pa.array([b.ts for b in bars], pa.timestamp("us", tz="UTC")),
            "open": [b.open for b in bars],
            "high": [b.high for b in bars],
            "low": [b.low for b in bars],
            "close": [b.close for b in bars],
            "volume": [b.volume for b in bars],
        }
    )
    parquet_path = tmp_path / "b.parquet"
    pq.write_table(table, parquet_path)

    from_parquet = load_bars(parquet_path, "BTC")

    assert from_parquet == from_csv
    assert all(item.bar is not None and item.bar.ts.tzinfo is UTC for item in from_parquet)


def test_parquet_with_string_times_and_nulls_reports_bad_rows(tmp_path: Path) -> None:
    table = pa.table(
        {
            "ts": ["2022-01-21T10:00:00Z", "2022-01-21T10:01:00Z", None],
            "open": [100.0, None, 100.0],
            "high": [101.0, 101.0, 101.0],
            "low": [99.0, 99.0, 99.0],
            "close": [100.5, 100.0, 100.0],
            "volume": [3.0, 1.0, 1.0],
        }
    )
    path = tmp_path / "b.parquet"
    pq.write_table(table, path)

    items = load_bars(path, "BTC")

    assert items[0].bar == good_bar()
    assert (items[1].bar, items[1].reason) == (None, "empty open")
    assert (items[2].bar, items[2].reason) == (None, "empty ts")


def test_parquet_naive_timestamps_are_refused(tmp_path: Path) -> None:
    table = pa.table(
        {"ts": pa.array([datetime(2022, 1, 1)], pa.timestamp("us")), "open": [1.0],
         "high": [1.0], "low": [1.0], "close": [1.0], "volume": [1.0]}
    )
    path = tmp_path / "naive.parquet"
    pq.write_table(table, path)

    with pytest.raises(DataError, match="without time zone"):
        read_bars(path, "BTC")


def test_parquet_missing_column_is_fatal(tmp_path: Path) -> None:
    path = tmp_path / "short.parquet"
    pq.write_table(pa.table({"ts": ["2022-01-21T10:00:00Z"], "open": [1.0]}), path)

    with pytest.raises(DataError, match="missing column 'high'"):
        read_bars(path, "BTC")


# -- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"open": math.nan}, "open is NaN"),
        ({"close": math.inf}, "close is infinite"),
        ({"volume": math.nan}, "volume is NaN"),
        ({"high": -math.inf}, "high is infinite"),
        ({"open": 0.0, "low": 0.0}, "open 0.0 is not positive"),
        ({"low": -1.0}, "low -1.0 is not positive"),
        ({"volume": -0.5}, "volume -0.5 is negative"),
        ({"high": 98.0}, "high 98.0 is below low 99.0"),
        ({"open": 102.0}, "open 102.0 is outside [low 99.0, high 101.0]"),
        ({"close": 98.5}, "close 98.5 is outside [low 99.0, high 101.0]"),
    ],
)
def test_bad_values_are_named(fields: dict[str, float], reason: str) -> None:
    validator = BarValidator(FeedConfig())

    assert validator.check(good_bar(**fields)) == reason
    assert validator.observe(good_bar(**fields)).reason == reason
    assert validator.last_good("BTC") is None


def test_duplicate_and_out_of_order_times_are_bad_against_the_last_good_bar() -> None:
    validator = BarValidator(FeedConfig())
    validator.observe(good_bar(T0))

    duplicate = validator.observe(good_bar(T0))
    older = validator.observe(good_bar(T0 - MINUTE))
    newer = validator.observe(good_bar(T0 + MINUTE))

    assert duplicate.reason == f"duplicate timestamp {T0.isoformat()}"
    assert older.reason is not None and older.reason.startswith("out of order")
    assert newer.ok and validator.last_good("BTC") == T0 + MINUTE


def test_a_bad_bar_does_not_move_the_last_good_time() -> None:
    validator = BarValidator(FeedConfig())
    validator.observe(good_bar(T0))

    validator.observe(good_bar(T0 + MINUTE, open=math.nan))
    retry = validator.observe(good_bar(T0 + MINUTE))

    assert retry.ok


def test_each_symbol_is_ordered_on_its_own() -> None:
    validator = BarValidator(FeedConfig())
    validator.observe(good_bar(T0 + MINUTE, symbol="BTC"))

    assert validator.observe(good_bar(T0, symbol="ETH")).ok


def test_gap_above_the_limit_is_reported_and_the_bar_is_still_good() -> None:
    validator = BarValidator(FeedConfig(max_gap_seconds=900))
    validator.observe(good_bar(T0))

    at_limit = validator.observe(good_bar(T0 + timedelta(seconds=900)))
    beyond = good_bar(T0 + timedelta(seconds=900 + 3600))
    pure_gap = validator.gap(beyond)
    verdict = validator.observe(beyond)

    assert at_limit.ok and at_limit.gap_seconds is None
    assert pure_gap == 3600.0
    assert verdict.ok and verdict.gap_seconds == 3600.0


def test_check_and_gap_do_not_change_state_until_accept() -> None:
    validator = BarValidator(FeedConfig())
    bar = good_bar(T0)

    assert validator.check(bar) is None and validator.gap(bar) is None
    assert validator.last_good("BTC") is None
    validator.accept(bar)
    assert validator.check(bar) is not None


def test_validator_snapshot_restores_last_good_times() -> None:
    validator = BarValidator(FeedConfig())
    validator.observe(good_bar(T0, symbol="BTC"))
    validator.observe(good_bar(T0 + MINUTE, symbol="ETH"))

    restored = BarValidator.from_snapshot(FeedConfig(), validator.snapshot())

    assert restored.observe(good_bar(T0, symbol="BTC")).reason is not None
    assert restored.last_good("ETH") == T0 + MINUTE


def test_feed_config_refuses_gap_limit_below_one_bar() -> None:
    with pytest.raises(ValidationError, match="max_gap_seconds must be at least bar_seconds"):
        FeedConfig(bar_seconds=60, max_gap_seconds=30)


# -- merging ------------------------------------------------------------------------------------


def test_merge_orders_items_by_time_then_symbol(tmp_path: Path) -> None:
    btc = write_csv(tmp_path, GOOD_ROW, "2022-01-21T10:02:00Z,1,1,1,1,1", name="btc.csv")
    eth = write_csv(
        tmp_path, "2022-01-21T10:00:00Z,1,1,1,1,1", "2022-01-21T10:01:00Z,1,1,1,1,1",
        name="eth.csv",
    )

    merged = list(merge_sources(read_bars(eth, "ETH"), read_bars(btc, "BTC")))

    assert [(item.ts - T0, item.symbol) for item in merged] == [
        (timedelta(0), "BTC"), (timedelta(0), "ETH"), (MINUTE, "ETH"), (2 * MINUTE, "BTC")
    ]


def test_merge_keeps_a_bad_row_at_its_place_in_the_stream(tmp_path: Path) -> None:
    btc = write_csv(tmp_path, GOOD_ROW, "garbage", "2022-01-21T10:02:00Z,1,1,1,1,1", name="b.csv")
    eth = write_csv(tmp_path, "2022-01-21T10:01:00Z,1,1,1,1,1", name="e.csv")

    merged = list(merge_sources(read_bars(btc, "BTC"), read_bars(eth, "ETH")))

    assert [(item.symbol, item.bar is None) for item in merged] == [
        ("BTC", False), ("BTC", True), ("ETH", False), ("BTC", False)
    ]


# -- real data ------------------------------------------------------------------------------------


def run_validator(items: list[FeedItem], config: FeedConfig) -> tuple[int, list[float]]:
    validator = BarValidator(config)
    bad = 0
    gaps: list[float] = []
    for item in items:
        if item.bar is None:
            bad += 1
            continue
        verdict = validator.observe(item.bar)
        if verdict.reason is not None:
            bad += 1
        elif verdict.gap_seconds is not None:
            gaps.append(verdict.gap_seconds)
    return bad, gaps


def test_ftx_file_loads_45031_good_bars_without_gaps() -> None:
    path = require_data("btc-perp_ftx_1m.csv.gz")

    started = time.perf_counter()
    items = load_bars(path, "BTC-PERP")
    bad, gaps = run_validator(items, FeedConfig())
    elapsed = time.perf_counter() - started

    assert len(items) == 45_031
    assert (bad, gaps) == (0, [])
    first, last = items[0].bar, items[-1].bar
    assert first is not None and first.ts == datetime(2021, 12, 31, 23, 1, tzinfo=UTC)
    assert last is not None and last.ts == datetime(2022, 2, 1, 5, 31, tzinfo=UTC)
    print(f"ftx load+validate: {len(items) / elapsed:,.0f} bars/s")


def test_coinbase_btc_calm_days_report_their_gaps() -> None:
    path = require_data("btc-usd_coinbase_1m.csv.gz")
    day = datetime(2016, 10, 7, tzinfo=UTC)

    items = load_bars(path, "BTC-USD", start=day, end=day + timedelta(days=1))
    bad, small_gaps = run_validator(items, FeedConfig(max_gap_seconds=60))
    _, big_gaps = run_validator(items, FeedConfig())

    bars = [item.bar for item in items if item.bar is not None]
    expected_small = sum(
        1 for a, b in itertools.pairwise(bars) if (b.ts - a.ts).total_seconds() > 60
    )
    assert len(items) == 1419 and bad == 0
    assert len(small_gaps) == expected_small > 0
    missing_inside = sum(round(g / 60) - 1 for g in small_gaps)
    edges = round((bars[0].ts - day) / MINUTE) + round((day + 1439 * MINUTE - bars[-1].ts) / MINUTE)
    assert missing_inside + edges == 1440 - 1419
    assert big_gaps == [g for g in small_gaps if g > 900]


def test_coinbase_segments_months_apart_are_gaps_not_bad_bars() -> None:
    path = require_data("btc-usd_coinbase_1m.csv.gz")

    items = load_bars(path, "BTC-USD")
    bad, gaps = run_validator(items, FeedConfig())

    assert len(items) == 12_423 and bad == 0
    assert len([g for g in gaps if g > 30 * 86_400]) >= 3
    assert any(6 * 3600 < g < 8 * 3600 for g in gaps)  # the 2018-04-04 source outage


# -- bars that lie ------------------------------------------------------------------------------


def test_a_bar_far_after_the_last_good_bar_is_bad_and_moves_nothing() -> None:
    validator = BarValidator(FeedConfig(max_future_seconds=86_400))
    validator.observe(good_bar(T0))

    future = validator.observe(good_bar(datetime(2099, 1, 1, tzinfo=UTC)))
    following = validator.observe(good_bar(T0 + MINUTE))

    assert (future.kind, future.ok) == ("far future", False)
    assert future.reason is not None and "max_future_seconds" in future.reason
    assert following.ok and validator.last_good("BTC") == T0 + MINUTE


def test_a_new_symbols_first_bar_far_after_the_stream_is_bad() -> None:
    validator = BarValidator(FeedConfig(max_future_seconds=86_400))
    validator.observe(good_bar(T0, symbol="BTC"))

    verdict = validator.observe(good_bar(datetime(2099, 1, 1, tzinfo=UTC), symbol="ETH"))

    assert verdict.kind == "far future" and validator.last_good("ETH") is None
    assert validator.observe(good_bar(T0 + MINUTE, symbol="ETH")).ok


def test_a_first_bar_far_after_a_live_clock_is_bad() -> None:
    validator = BarValidator(FeedConfig(max_future_seconds=3600), now=lambda: T0)

    assert validator.observe(good_bar(T0 + 2 * timedelta(hours=1))).kind == "far future"
    assert validator.observe(good_bar(T0 + MINUTE)).ok


def test_a_gap_within_the_future_tolerance_is_still_a_gap() -> None:
    validator = BarValidator(FeedConfig(max_future_seconds=86_400))
    validator.observe(good_bar(T0))

    verdict = validator.observe(good_bar(T0 + timedelta(hours=7)))

    assert verdict.ok and verdict.gap_seconds == 7 * 3600.0


@pytest.mark.parametrize(
    "ts", [datetime(9999, 12, 31, 23, 59, tzinfo=UTC), datetime(1, 1, 1, tzinfo=UTC)]
)
def test_times_at_the_ends_of_the_calendar_are_bad_bars(ts: datetime) -> None:
    validator = BarValidator(FeedConfig())

    verdict = validator.observe(good_bar(ts))

    assert verdict.kind == "time out of range" and validator.last_good("BTC") is None


def test_a_spike_beyond_the_price_band_is_quarantined_and_the_band_stays_anchored() -> None:
    validator = BarValidator(FeedConfig())
    validator.observe(good_bar(T0, open=40_000, high=40_010, low=39_990, close=40_000))

    spike = validator.observe(
        good_bar(T0 + MINUTE, open=1_000_000, high=1_000_000, low=40_000, close=40_000)
    )
    after = validator.observe(
        good_bar(T0 + 2 * MINUTE, open=40_000, high=40_100, low=39_900, close=40_050)
    )

    assert spike.kind == "price band" and spike.reason is not None
    assert "last good close 40000" in spike.reason and "band 20%" in spike.reason
    assert after.ok and validator.last_good("BTC") == T0 + 2 * MINUTE


def test_the_band_is_per_symbol_and_reanchors_after_a_gap() -> None:
    config = FeedConfig(price_band_pct=20.0, symbol_price_bands={"SPX": 1.0})
    validator = BarValidator(config)
    validator.observe(good_bar(T0, symbol="SPX", open=100, high=100, low=100, close=100))
    validator.observe(good_bar(T0, symbol="BTC", open=100, high=100, low=100, close=100))

    spx = validator.observe(good_bar(T0 + MINUTE, symbol="SPX", open=100, high=102, low=100,
                                     close=101))
    btc = validator.observe(good_bar(T0 + MINUTE, symbol="BTC", open=100, high=102, low=100,
                                     close=101))
    after_gap = validator.observe(good_bar(T0 + timedelta(hours=2), symbol="SPX", open=150,
                                           high=150, low=150, close=150))

    assert spx.kind == "price band" and btc.ok
    assert after_gap.ok and after_gap.gap_seconds is not None


@pytest.mark.parametrize(
    ("fields", "kind"),
    [
        ({"open": 1e299, "high": 1e299, "close": 1e299}, "absurd price"),
        ({"close": math.inf}, "non-finite value"),
        ({"open": 0.0, "low": 0.0}, "non-positive price"),
        ({"high": 98.0}, "inconsistent ohlc"),
    ],
)
def test_bad_values_have_one_kind_per_rule_not_per_value(
    fields: dict[str, float], kind: str
) -> None:
    assert BarValidator(FeedConfig()).observe(good_bar(**fields)).kind == kind


def test_feed_config_bounds_the_new_rules() -> None:
    with pytest.raises(ValidationError, match="max_future_seconds must be at least"):
        FeedConfig(max_gap_seconds=3600, max_future_seconds=60)
    with pytest.raises(ValidationError, match=r"symbol_price_bands\['BTC'\]"):
        FeedConfig(symbol_price_bands={"BTC": 0.0})
    with pytest.raises(ValidationError, match="max_price"):
        FeedConfig(max_price=math.inf)


def _parquet(tmp_path: Path, **columns: object) -> Path:
    data: dict[str, object] = {
        "ts": ["2022-01-21T10:00:00Z"] * 3, "open": [1.0] * 3, "high": [1.0] * 3,
        "low": [1.0] * 3, "close": [1.0] * 3, "volume": [1.0] * 3,
    }
    data.update(columns)
    path = tmp_path / "typed.parquet"
    pq.write_table(pa.table(data), path)
    return path


@pytest.mark.parametrize(
    ("columns", "column", "expected"),
    [
        ({"ts": [1_642_759_200, 1_642_759_260, 1_642_759_320]}, "ts", "int64"),
        ({"ts": pa.array([datetime(2022, 1, 21).date()] * 3, pa.date32())}, "ts", "date32"),
        ({"close": [True, False, True]}, "close", "bool"),
        ({"volume": ["1", "2", "3"]}, "volume", "string"),
    ],
)
def test_parquet_with_a_wrong_column_type_is_a_data_error_naming_file_and_column(
    tmp_path: Path, columns: dict[str, object], column: str, expected: str
) -> None:
    path = _parquet(tmp_path, **columns)

    with pytest.raises(DataError) as raised:
        read_bars(path, "BTC")

    message = str(raised.value)
    assert str(path) in message and f"column '{column}'" in message and expected in message


def test_parquet_with_integer_prices_is_read(tmp_path: Path) -> None:
    path = _parquet(tmp_path, open=[1, 1, 1], high=[2, 2, 2], low=[1, 1, 1], close=[2, 2, 2])

    items = load_bars(path, "BTC")

    assert [item.bar.close for item in items if item.bar is not None] == [2.0, 2.0, 2.0]
