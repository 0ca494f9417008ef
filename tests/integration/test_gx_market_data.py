"""The market-data suite (Great Expectations) on the real files and on broken copies."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pytest

from checks.market_data import SUITE, BarSource, MarketDataChecker, MarketDataParams, preflight
from checks.report import CheckReport
from checks.runs import DEFAULT_PRICE_BAND
from tradeguard.data import symbol_of as default_symbol

FTX = "btc-perp_ftx_1m.csv.gz"
COINBASE = (
    "btc-usd_coinbase_1m.csv.gz",
    "eth-usd_coinbase_1m.csv.gz",
    "ltc-usd_coinbase_1m.csv.gz",
    "btc-eur_coinbase_1m.csv.gz",
)
SPX = "spx-index_1m.csv.gz"
PARAMS = MarketDataParams(max_gap_seconds=900.0, price_band=DEFAULT_PRICE_BAND)
# The index trades 09:30-16:00 New York: the overnight close is 17.5 h.
SPX_PARAMS = MarketDataParams(max_gap_seconds=18 * 3600.0, price_band=DEFAULT_PRICE_BAND)
ROW = 50  # the data row a broken copy changes (0-based within the sample)
Edit = Callable[[list[list[str]]], None]


@pytest.fixture(scope="module")
def checker() -> MarketDataChecker:
    """One GX context and suite for every test of the module (no Data Docs)."""
    return MarketDataChecker()


def check(checker: MarketDataChecker, path: Path, params: MarketDataParams = PARAMS,
          **window: object) -> CheckReport:
    return checker.check([BarSource(path, default_symbol(path))], params, **window)  # type: ignore[arg-type]


def test_ftx_month_passes_every_expectation(checker: MarketDataChecker, data_dir: Path) -> None:
    report = check(checker, data_dir / FTX)

    assert report.success, report.text_lines()
    assert len(report.outcomes) == 21
    assert {o.element_count for o in report.outcomes if o.element_count} == {45_031}


def test_spx_sessions_pass_with_an_overnight_gap_threshold(
    checker: MarketDataChecker, data_dir: Path
) -> None:
    report = check(checker, data_dir / SPX, SPX_PARAMS)

    assert report.success, report.text_lines()


def test_per_symbol_parameters_override_the_run_parameters(
    checker: MarketDataChecker, data_dir: Path
) -> None:
    spx = data_dir / SPX
    sources = [BarSource(spx, "SPX", max_gap_seconds=18 * 3600.0),
               BarSource(spx, "TIGHT", price_band=0.0001)]

    report = checker.check(sources, PARAMS)

    assert {(o.batch, o.name) for o in report.failures} == {
        ("TIGHT spx-index_1m.csv.gz", "gap_within_threshold"),
        ("TIGHT spx-index_1m.csv.gz", "move_within_price_band"),
    }


@pytest.mark.parametrize("name", COINBASE)
def test_coinbase_files_fail_only_the_gap_expectation_at_the_2018_04_04_outage(
    checker: MarketDataChecker, data_dir: Path, name: str
) -> None:
    report = check(checker, data_dir / name)

    assert report.failed_names() == {"gap_within_threshold"}
    (gap,) = report.failures
    assert gap.unexpected_count == 1
    assert gap.sample[0]["ts"] == "2018-04-05T00:00:00Z"
    # the outage starts about 16:47Z: seven hours and then some
    assert 7 * 3600 < float(gap.sample[0]["gap_seconds"]) < 7.5 * 3600


def test_calm_validation_day_passes_and_the_outage_day_is_flagged(
    checker: MarketDataChecker, data_dir: Path
) -> None:
    from datetime import UTC, datetime

    path = data_dir / COINBASE[0]
    calm = check(checker, path, start=datetime(2016, 10, 7, tzinfo=UTC),
                 end=datetime(2016, 10, 8, tzinfo=UTC))
    outage = check(checker, path, start=datetime(2018, 4, 4, tzinfo=UTC),
                   end=datetime(2018, 4, 6, tzinfo=UTC))

    assert calm.success, calm.text_lines()
    assert outage.failed_names() == {"gap_within_threshold"}


def _sample(data_dir: Path) -> tuple[str, list[list[str]]]:
    with gzip.open(data_dir / FTX, "rt", encoding="utf-8") as handle:
        header = handle.readline().strip()
        rows = [handle.readline().strip().split(",") for _ in range(300)]
    return header, rows


def _set(column: int, value: str) -> Edit:
    def edit(rows: list[list[str]]) -> None:
        rows[ROW][column] = value
    return edit


def _scale(column: int, factor: float, base: int | None = None) -> Edit:
    def edit(rows: list[list[str]]) -> None:
        source = rows[ROW][column if base is None else base]
        rows[ROW][column] = repr(float(source) * factor)
    return edit


def _scale_bar(factor: float) -> Edit:
    def edit(rows: list[list[str]]) -> None:
        for column in range(1, 5):
            rows[ROW][column] = repr(float(rows[ROW][column]) * factor)
    return edit


def _duplicate(rows: list[list[str]]) -> None:
    rows.insert(ROW + 1, list(rows[ROW]))


def _swap(rows: list[list[str]]) -> None:
    rows[ROW], rows[ROW + 1] = rows[ROW + 1], rows[ROW]


def _drop_twenty_minutes(rows: list[list[str]]) -> None:
    del rows[ROW:ROW + 20]


def _no_bars(rows: list[list[str]]) -> None:
    rows.clear()


def _naive_ts(rows: list[list[str]]) -> None:
    rows[ROW][0] = rows[ROW][0].removesuffix("Z")


TS, OPEN, HIGH, LOW, CLOSE, VOLUME = range(6)
# expectation -> (edit, other expectations the same edit may also break)
BROKEN: dict[str, tuple[Edit, frozenset[str]]] = {
    "bars_present": (_no_bars, frozenset()),
    "ts_not_null": (_set(TS, ""), frozenset()),
    "open_not_null": (_set(OPEN, ""), frozenset()),
    "high_not_null": (_set(HIGH, ""), frozenset()),
    "low_not_null": (_set(LOW, ""), frozenset()),
    "close_not_null": (_set(CLOSE, ""), frozenset()),
    "volume_not_null": (_set(VOLUME, "n/a"), frozenset()),
    "ts_has_zone": (_naive_ts, frozenset()),
    "open_positive_finite": (_set(OPEN, "0"), frozenset({"low_at_most_open"})),
    "high_positive_finite": (
        _set(HIGH, "inf"), frozenset({"move_within_price_band"})),
    "low_positive_finite": (
        _set(LOW, "-1"), frozenset({"move_within_price_band"})),
    "close_positive_finite": (_set(CLOSE, "0"), frozenset({"low_at_most_close"})),
    "volume_non_negative_finite": (_set(VOLUME, "-1"), frozenset()),
    "high_at_least_open": (_scale(OPEN, 1.001, base=HIGH), frozenset()),
    "high_at_least_close": (_scale(CLOSE, 1.001, base=HIGH), frozenset()),
    "low_at_most_open": (_scale(OPEN, 0.999, base=LOW), frozenset()),
    "low_at_most_close": (_scale(CLOSE, 0.999, base=LOW), frozenset()),
    "ts_unique": (_duplicate, frozenset({"ts_strictly_increasing"})),
    "ts_strictly_increasing": (_swap, frozenset()),
    "gap_within_threshold": (_drop_twenty_minutes, frozenset()),
    "move_within_price_band": (_scale_bar(1.5), frozenset()),
}


@pytest.mark.parametrize("expectation", sorted(BROKEN))
def test_broken_copy_fails_the_expectation_that_guards_it(
    checker: MarketDataChecker, data_dir: Path, tmp_path: Path, expectation: str
) -> None:
    header, rows = _sample(data_dir)
    edit, also = BROKEN[expectation]
    edit(rows)
    broken = tmp_path / "btc-perp_broken_1m.csv.gz"
    with gzip.open(broken, "wt", encoding="utf-8") as handle:
        handle.write(header + "\n" + "".join(",".join(r) + "\n" for r in rows))

    report = check(checker, broken)

    failed = report.failed_names()
    assert expectation in failed, report.text_lines()
    assert failed <= {expectation, *also}, report.text_lines()
    (outcome,) = [o for o in report.failures if o.name == expectation]
    if expectation != "bars_present":  # an empty table has no row to show
        assert outcome.sample, "a failure shows the rows at fault"


def test_every_expectation_of_the_suite_has_a_broken_copy(checker: MarketDataChecker) -> None:
    suite = checker.context.suites.get(SUITE)

    assert {e.meta["name"] for e in suite.expectations} == set(BROKEN)


def test_preflight_writes_data_docs_naming_the_failed_expectation(
    data_dir: Path, tmp_path: Path
) -> None:
    header, rows = _sample(data_dir)
    _drop_twenty_minutes(rows)
    broken = tmp_path / "gap_1m.csv.gz"
    with gzip.open(broken, "wt", encoding="utf-8") as handle:
        handle.write(header + "\n" + "".join(",".join(r) + "\n" for r in rows))

    report = preflight([BarSource(broken, "GAP")], PARAMS, docs_dir=tmp_path / "docs")

    assert report.failed_names() == {"gap_within_threshold"}
    assert report.docs_index is not None and report.docs_index.is_file()
    pages = [p.read_text(encoding="utf-8") for p in (tmp_path / "docs").rglob("*.html")]
    assert any("gap_seconds" in page and "market_data" in page for page in pages)


def test_parquet_copy_is_judged_like_the_csv(
    checker: MarketDataChecker, data_dir: Path, tmp_path: Path
) -> None:
    from datetime import datetime

    import pyarrow as pa
    import pyarrow.parquet as pq

    header, rows = _sample(data_dir)
    _swap(rows)
    table = pa.table({
        "ts": pa.array([datetime.fromisoformat(r[0]) for r in rows], pa.timestamp("us", "UTC")),
        **{name: pa.array([float(r[i + 1]) for r in rows]) for i, name in
           enumerate(header.split(",")[1:])},
    })
    path = tmp_path / "btc-perp_swapped_1m.parquet"
    pq.write_table(table, path)

    report = check(checker, path)

    assert report.failed_names() == {"ts_strictly_increasing"}, report.text_lines()
