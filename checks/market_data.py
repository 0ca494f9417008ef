"""Market-data suite: the pre-flight every session and validation run passes before trading.

`preflight(sources, params)` reads each bar file (the replay window only, when given), adds the
derived columns the suite needs (gap to the previous bar, move from the previous close) and runs
the Great Expectations suite `market_data` on it, one batch per file. Any failing expectation
fails the report; the caller refuses the run with it.

A file may hold several segments months apart (the Coinbase samples are whole days of chosen
dates): a jump longer than `segment_break_seconds` starts a new segment and is neither a gap
nor a price move. Anything shorter counts, so the 7-hour Coinbase outage of 2018-04-04 is a gap.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checks.docs_page import inject_verdict
from checks.gx_context import RESULT_FORMAT, build_docs, new_context, suite_results
from checks.report import SAMPLE_ROWS, CheckReport, ExpectationOutcome, Row, cell_text, outcomes_of
from engine.errors import DataError
from engine.feed import COLUMNS
from tradeguard.marketdata import DATA_HOWTO

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped]
    from great_expectations.checkpoint.checkpoint import Checkpoint
    from great_expectations.data_context.data_context.abstract_data_context import (
        AbstractDataContext,
    )

log = logging.getLogger(__name__)

SUITE = "market_data"
PRICES = ("open", "high", "low", "close")
# "Finite" for a column-between expectation: any real price or volume is far below these.
MAX_PRICE = 1e12
MAX_VOLUME = 1e18
_PARQUET = frozenset({".parquet", ".pq"})
_ZONE = r"(?:Z|[+-]\d\d:?\d\d)$"


@dataclass(frozen=True)
class MarketDataParams:
    """Suite parameters, passed in by the caller (wired to the feed settings)."""

    max_gap_seconds: float = 900.0
    price_band: float = 0.20
    segment_break_seconds: float = 86_400.0

    def __post_init__(self) -> None:
        """Refuse bounds the suite cannot judge with."""
        if not self.max_gap_seconds > 0:
            message = f"max_gap_seconds must be > 0, got {self.max_gap_seconds}"
            raise ValueError(message)
        if not 0 < self.price_band <= 10:
            message = f"price_band must be in (0, 10] (0.20 = 20 %), got {self.price_band}"
            raise ValueError(message)
        if not self.segment_break_seconds >= self.max_gap_seconds:
            message = "segment_break_seconds must be >= max_gap_seconds"
            raise ValueError(message)

    def expectation_parameters(self) -> dict[str, float]:
        """Return the $PARAMETER values of the suite."""
        return {"max_gap_seconds": self.max_gap_seconds, "price_band": self.price_band}


@dataclass(frozen=True)
class BarSource:
    """One bar file to check, its symbol, and optional per-symbol suite parameters."""

    path: Path
    symbol: str
    price_band: float | None = None
    max_gap_seconds: float | None = None

    def params(self, base: MarketDataParams) -> MarketDataParams:
        """Return base with this symbol's own price band and gap threshold, where set."""
        overrides: dict[str, float] = {}
        if self.price_band is not None:
            overrides["price_band"] = self.price_band
        if self.max_gap_seconds is not None:
            overrides["max_gap_seconds"] = self.max_gap_seconds
        return replace(base, **overrides) if overrides else base

    @property
    def label(self) -> str:
        """Return the batch label shown in reports: SYMBOL file-name."""
        return f"{self.symbol} {self.path.name}"


def _expectations(gxe: Any) -> list[Any]:
    """Build the suite's expectations; meta.name is the stable name reports use."""

    def named(name: str, rule: str) -> dict[str, Any]:
        return {"meta": {"name": name, "rule": rule}}

    either = "either_value_is_missing"  # a missing value is reported by *_not_null only
    items: list[Any] = [
        gxe.ExpectTableRowCountToBeBetween(
            min_value=1, **named("bars_present", "the file has bars in the window")),
    ]
    items += [
        gxe.ExpectColumnValuesToNotBeNull(
            column=column, **named(f"{column}_not_null", f"every bar has a parseable {column}")
        )
        for column in COLUMNS
    ]
    items.append(gxe.ExpectColumnValuesToMatchRegex(
        column="ts_text", regex=_ZONE, **named("ts_has_zone", "ts carries a zone (Z or +HH:MM)")))
    items += [
        gxe.ExpectColumnValuesToBeBetween(
            column=column, min_value=0, strict_min=True, max_value=MAX_PRICE,
            **named(f"{column}_positive_finite", f"{column} > 0 and finite"),
        )
        for column in PRICES
    ]
    items += [
        gxe.ExpectColumnValuesToBeBetween(
            column="volume", min_value=0, max_value=MAX_VOLUME,
            **named("volume_non_negative_finite", "volume >= 0 and finite"),
        ),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="high", column_B="open", or_equal=True, ignore_row_if=either,
            **named("high_at_least_open", "high >= open")),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="high", column_B="close", or_equal=True, ignore_row_if=either,
            **named("high_at_least_close", "high >= close")),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="open", column_B="low", or_equal=True, ignore_row_if=either,
            **named("low_at_most_open", "low <= open")),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="close", column_B="low", or_equal=True, ignore_row_if=either,
            **named("low_at_most_close", "low <= close")),
        gxe.ExpectColumnValuesToBeUnique(
            column="ts", **named("ts_unique", "no two bars share a ts")),
        gxe.ExpectColumnValuesToBeIncreasing(
            column="ts", strictly=True, **named("ts_strictly_increasing", "ts strictly increases")),
        gxe.ExpectColumnValuesToBeBetween(
            column="gap_seconds", max_value={"$PARAMETER": "max_gap_seconds"},
            description="No gap between consecutive bars of a segment above max_gap_seconds",
            **named("gap_within_threshold", "seconds since the previous bar <= max_gap_seconds"),
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="move_from_prev_close", max_value={"$PARAMETER": "price_band"},
            description="No bar moves further than the price band from the previous close",
            **named("move_within_price_band",
                    "max(|high - prev close|, |low - prev close|) / prev close <= price_band"),
        ),
    ]
    return items


class MarketDataChecker:
    """The market-data suite on one GX context; run it on any number of files."""

    def __init__(self, docs_dir: Path | None = None) -> None:
        import great_expectations as gx
        import great_expectations.expectations as gxe

        self.docs_dir = docs_dir
        self.context: AbstractDataContext = new_context(docs_dir)
        asset = self.context.data_sources.add_pandas("market_data").add_dataframe_asset("bars")
        batch = asset.add_batch_definition_whole_dataframe("whole_file")
        suite = self.context.suites.add(gx.ExpectationSuite(name=SUITE))
        for expectation in _expectations(gxe):
            suite.add_expectation(expectation)
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=SUITE, data=batch, suite=suite)
        )
        self._checkpoint: Checkpoint = self.context.checkpoints.add(
            gx.Checkpoint(
                name="preflight",
                validation_definitions=[definition],
                result_format=RESULT_FORMAT,
                actions=[],
            )
        )

    def check_frame(
        self, frame: pd.DataFrame, label: str, params: MarketDataParams
    ) -> list[ExpectationOutcome]:
        """Run the suite on one prepared frame (see prepare_frame) and return its outcomes."""
        from great_expectations.core.run_identifier import RunIdentifier

        result = self._checkpoint.run(
            batch_parameters={"dataframe": frame},
            expectation_parameters=params.expectation_parameters(),
            run_id=RunIdentifier(run_name=label),
        )
        outcomes: list[ExpectationOutcome] = []
        for suite_result in suite_results(result):
            outcomes += outcomes_of(suite_result, SUITE, label, _sampler(frame))
        return outcomes

    def check(
        self,
        sources: Sequence[BarSource],
        params: MarketDataParams,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> CheckReport:
        """Check every source in [start, end) and return the report (Data Docs built if set)."""
        outcomes: list[ExpectationOutcome] = []
        notes: list[str] = []
        for source in sources:
            own = source.params(params)
            frame = prepare_frame(read_frame(source.path), own, start, end)
            breaks = int(frame.attrs.get("segment_breaks", 0))
            if breaks:
                notes.append(f"{source.label}: {breaks} segment break(s) longer than "
                             f"{own.segment_break_seconds:g}s (not gaps)")
            if frame.empty:
                notes.append(f"{source.label}: no bars in the window")
            outcomes += self.check_frame(frame, source.label, own)
        report = CheckReport(SUITE, tuple(outcomes), build_docs(self.context, self.docs_dir),
                             tuple(notes))
        inject_verdict(report.docs_index, report)
        log.info("market_data_checked files=%d success=%s failed=%d", len(sources),
                 report.success, len(report.failures))
        return report


def preflight(
    sources: Sequence[BarSource],
    params: MarketDataParams,
    start: datetime | None = None,
    end: datetime | None = None,
    docs_dir: Path | None = None,
) -> CheckReport:
    """Run the market-data suite on the bars a run will replay; report every failure."""
    if not sources:
        message = "data check: no bar file given"
        raise DataError(message)
    return MarketDataChecker(docs_dir).check(sources, params, start, end)


def read_frame(path: Path) -> pd.DataFrame:
    """Read a bar file as text columns (ts, open, ...) plus its 1-based data row number."""
    import pandas as pd

    if not path.is_file():
        message = f"market data file not found: {path}; {DATA_HOWTO}"
        raise DataError(message)
    try:
        if path.suffix.lower() in _PARQUET:
            frame = pd.read_parquet(path)
            if "ts" in frame and pd.api.types.is_datetime64_any_dtype(frame["ts"]):
                frame["ts"] = frame["ts"].map(lambda t: t.isoformat() if t is not pd.NaT else "")
        else:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, EOFError) as e:
        message = f"cannot read market data file {path}: {e}"
        raise DataError(message) from e
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    if sorted(frame.columns) != sorted(COLUMNS):
        message = (f"{path}: columns are {list(frame.columns)}, expected {','.join(COLUMNS)} "
                   f"(any order)")
        raise DataError(message)
    frame.insert(0, "row", range(1, len(frame) + 1))
    return frame


def prepare_frame(
    raw: pd.DataFrame,
    params: MarketDataParams,
    start: datetime | None = None,
    end: datetime | None = None,
) -> pd.DataFrame:
    """Parse values (unparseable -> null) and add gap_seconds and move_from_prev_close."""
    import pandas as pd

    text = raw["ts"].astype(str).str.strip()
    # An empty ts is reported by ts_not_null only, not as a ts without a zone.
    frame = pd.DataFrame({"row": raw["row"], "ts_text": text.where(text != "")})
    frame["ts"] = pd.to_datetime(frame["ts_text"], utc=True, errors="coerce", format="ISO8601")
    for column in COLUMNS[1:]:
        frame[column] = pd.to_numeric(raw[column], errors="coerce").astype("float64")
    if start is not None or end is not None:
        # Rows without a time stay in: they are what ts_not_null must report.
        keep = frame["ts"].isna()
        inside = pd.Series(True, index=frame.index)
        if start is not None:
            inside &= frame["ts"] >= pd.Timestamp(start)
        if end is not None:
            inside &= frame["ts"] < pd.Timestamp(end)
        frame = frame[keep | inside]
    frame = frame.reset_index(drop=True)
    seconds = frame["ts"].diff().dt.total_seconds()
    breaks = seconds > params.segment_break_seconds
    frame["gap_seconds"] = seconds.where(~breaks)
    previous = frame["close"].shift(1)
    # A move from a close that is not a positive number is undefined; *_positive_finite says so.
    previous = previous.where((previous > 0) & (previous < MAX_PRICE))
    move = pd.concat([(frame["high"] - previous).abs(), (frame["low"] - previous).abs()], axis=1)
    frame["move_from_prev_close"] = (move.max(axis=1, skipna=False) / previous).where(~breaks)
    frame.attrs["segment_breaks"] = int(breaks.sum())
    return frame


_SAMPLE_COLUMNS = ("row", "ts_text", *COLUMNS[1:])
_EXTRA_COLUMN = {
    "gap_within_threshold": "gap_seconds",
    "move_within_price_band": "move_from_prev_close",
}


def _sampler(frame: pd.DataFrame) -> Any:
    def sample(name: str, body: Mapping[str, Any]) -> tuple[Row, ...]:
        index = list(body.get("partial_unexpected_index_list") or [])[:SAMPLE_ROWS]
        columns = list(_SAMPLE_COLUMNS)
        extra = _EXTRA_COLUMN.get(name)
        if extra is not None:
            columns.append(extra)
        rows: list[Row] = []
        for position in index:
            if position not in frame.index:
                continue
            record = frame.loc[position, columns]
            rows.append({("ts" if c == "ts_text" else c): cell_text(record[c]) for c in columns})
        return tuple(rows)

    return sample
