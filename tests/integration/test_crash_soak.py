"""Kill -9 a replaying process dozens of times; nothing is duplicated, lost or different."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.crash_soak import run_soak


@pytest.mark.slow
def test_fifty_kills_leave_the_same_result_as_an_uninterrupted_run(
    tmp_path: Path, data_dir: Path
) -> None:
    result = run_soak(data_dir / "btc-perp_ftx_1m.csv.gz", tmp_path, kills_wanted=50)
    assert result.kills >= 50
    assert set(result.by_point) >= {"before_broker", "inside_broker", "venue_fill", "after_commit"}
    reference = result.reference
    for final in result.finals:  # one per episode (an unreached failpoint ends one early)
        assert final["integrity"] == "ok"
        assert final["duplicate_fill_rows"] == 0
        assert final["fills"] == final["book_fills"]
        assert len(final["fills"]) > 50
        for key in ("fills", "engine_cash", "book_cash", "book_positions", "trades_executed"):
            assert final[key] == reference[key], key
