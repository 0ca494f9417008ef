"""Real-data replays with lying rows and a venue that kills orders, through the SQLite journal;
the GX market-data suite judging bars by the engine's own feed settings."""

from __future__ import annotations

import gzip
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from checks.market_data import MarketDataChecker
from checks.runs import bar_sources, market_params
from tradeguard import bootstrap, services
from tradeguard.requests import DataSpec, ReplayRequest
from tradeguard.settings import load_settings

FTX = "btc-perp_ftx_1m.csv.gz"
DAY = datetime(2022, 1, 21, tzinfo=UTC)


def day_rows(data_dir: Path, hours: int = 6) -> tuple[str, list[list[str]]]:
    """Return the header and the first hours of 2022-01-21 of the FTX file."""
    start, end = DAY.isoformat().replace("+00:00", "Z"), (DAY + timedelta(hours=hours))
    stop = end.isoformat().replace("+00:00", "Z")
    with gzip.open(data_dir / FTX, "rt", encoding="utf-8") as handle:
        header = handle.readline().strip()
        rows = [line.strip().split(",") for line in handle]
    return header, [r for r in rows if start <= r[0] < stop]


def write(path: Path, header: str, rows: list[list[str]]) -> Path:
    path.write_text("\n".join([header, *(",".join(r) for r in rows)]) + "\n", encoding="utf-8")
    return path


def run(state_dir: Path, path: Path, faults: Path | None = None,
        **groups: Any) -> dict[str, Any]:
    settings = load_settings(store={"state_dir": state_dir}, **groups)
    request = ReplayRequest(data=(DataSpec(path, "BTC-PERP"),), faults=faults, seed=3)
    return services.run_session(bootstrap.bootstrap(settings), request).summary.to_json()


def test_lying_rows_are_skipped_by_kind_with_their_file_row_and_a_later_replay_trades(
    tmp_path: Path, data_dir: Path
) -> None:
    header, rows = day_rows(data_dir)
    lying = [list(r) for r in rows]
    lying[100][0] = "2099-01-01T00:00:00Z"
    lying[150][0] = "9999-12-31T23:59:00Z"
    close = float(lying[199][4])
    lying[200][1:3] = [repr(close * 25), repr(close * 25)]  # open and high
    lying[250][2], lying[250][4] = "1e299", "1e299"
    path = write(tmp_path / "lying.csv", header, lying)

    summary = run(tmp_path / "s", path)

    assert summary["stop_reason"] == "end of data"
    assert summary["bad_bar_reasons"] == {
        "far future": 1, "time out of range": 1, "price band": 1, "absurd price": 1
    }
    assert summary["bars"] == len(rows) - 4
    assert summary["last_bar"] == rows[-1][0].replace("Z", "+00:00")
    with sqlite3.connect(tmp_path / "s" / "state.db") as db:
        skipped = db.execute("SELECT file_row, reason FROM skipped_bars ORDER BY id").fetchall()
        prices = [p for (p,) in db.execute("SELECT price FROM trades")]
    assert [r for r, _ in skipped] == [101, 151, 201, 251]
    assert all(p < close * 1.1 for p in prices)

    later = write(tmp_path / "later.csv", header, day_rows(data_dir, hours=8)[1])
    again = run(tmp_path / "s", later)
    assert again["bars"] == summary["bars"] + 120


def test_cancels_at_fill_under_a_slippage_storm_are_failed_and_the_counts_add_up(
    tmp_path: Path, data_dir: Path
) -> None:
    faults = tmp_path / "slip.toml"
    faults.write_text('[[fault]]\nstart = "2022-01-21T00:00:00Z"\nend = "2022-01-22T00:00:00Z"\n'
                      "slippage_pct = 3.0\n", encoding="utf-8")
    path = write(tmp_path / "day.csv", *day_rows(data_dir, hours=24))

    summary = run(tmp_path / "s", path, faults,
                  strategy={"order_quantity": 2.4},
                  risk={"max_order_notional": 200_000, "max_position": 10,
                        "max_daily_loss": 100_000})

    with sqlite3.connect(tmp_path / "s" / "paper_broker.sqlite") as book:
        venue = dict(book.execute("SELECT client_order_id, status FROM orders").fetchall())
        reasons = [r for (r,) in book.execute("SELECT reason FROM orders")]
    with sqlite3.connect(tmp_path / "s" / "state.db") as db:
        intents = dict(db.execute("SELECT client_order_id, status FROM order_intents").fetchall())
    cancelled = {c for c, s in venue.items() if s == "CANCELLED"}
    assert cancelled and all(intents[c] == "CANCELLED" for c in cancelled)
    assert not any("no position to reduce" in r for r in reasons)
    assert summary["orders_failed"] >= len(cancelled)
    assert summary["orders_submitted"] == (
        summary["orders_filled"] + summary["orders_failed"] + summary["orders_open"]
    )
    assert summary["orders_open"] == sum(1 for s in intents.values()
                                         if s in ("SUBMITTED", "UNKNOWN", "PENDING_SUBMIT"))


def test_the_market_data_suite_uses_the_feed_band_and_flags_the_bar_the_engine_skips(
    tmp_path: Path, data_dir: Path
) -> None:
    header, rows = day_rows(data_dir, hours=2)
    close = float(rows[59][4])
    rows[60][2] = repr(close * 1.08)  # high 8 % above the previous close
    path = write(tmp_path / "spike.csv", header, rows)
    tight = load_settings(store={"state_dir": tmp_path / "t"}, feed={"price_band_pct": 5.0})
    loose = load_settings(store={"state_dir": tmp_path / "l"},
                          feed={"symbol_price_bands": {"BTC-PERP": 10.0}})
    request = ReplayRequest(data=(DataSpec(path, "BTC-PERP"),))
    checker = MarketDataChecker()

    flagged = checker.check(list(bar_sources(request, tight.feed)), market_params(tight))
    passed = checker.check(list(bar_sources(request, loose.feed)), market_params(loose))

    assert market_params(tight).price_band == 0.05
    assert market_params(tight).max_gap_seconds == tight.feed.max_gap_seconds
    assert flagged.failed_names() == {"move_within_price_band"}
    assert passed.success, passed.text_lines()
    assert run(tmp_path / "t", path, feed={"price_band_pct": 5.0})["bad_bar_reasons"] == {
        "price band": 1
    }
    assert run(tmp_path / "l", path,
               feed={"symbol_price_bands": {"BTC-PERP": 10.0}})["bad_bars"] == 0
