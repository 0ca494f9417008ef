"""The same data-feed issue on 10,000 bars yields a bounded number of messages with counts."""

from __future__ import annotations

import gzip
import json
import math
import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from entrypoints.cli import app
from tests.integration.alert_receivers import FTX, alerts_toml, channel_toml, json_receiver

BARS = 10_001  # 10,000 gaps: every bar after the first arrives two minutes after the last
WINDOW_SECONDS = 6 * 3600.0


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith("TRADEGUARD_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))


def _every_other_bar(source: Path, target: Path) -> None:
    with gzip.open(source, "rt") as rows, gzip.open(target, "wt") as out:
        out.write(next(rows))
        kept = 0
        for index, row in enumerate(rows):
            if index % 2 == 0:
                out.write(row)
                kept += 1
                if kept == BARS:
                    return
    message = f"{source} has fewer than {2 * BARS} rows"
    raise AssertionError(message)


def test_ten_thousand_gap_issues_send_one_message_per_window_with_counts(
    tmp_path: Path, data_dir: Path
) -> None:
    data = tmp_path / "btc-perp_gappy_1m.csv.gz"
    _every_other_bar(data_dir / FTX, data)
    with json_receiver() as (port, hook):
        config = tmp_path / "tradeguard.toml"
        config.write_text(
            "[feed]\nmax_gap_seconds = 60\n"
            + alerts_toml(dedup_window_seconds=WINDOW_SECONDS, drain_timeout_seconds=20.0)
            + channel_toml("data", f"json://127.0.0.1:{port}/a", "warning", tags=["data"])
        )
        result = CliRunner().invoke(app, [
            "--config", str(config), "--state-dir", str(tmp_path / "state"),
            "replay", "--data", str(data), "--json",
        ])
        assert result.exit_code == 0, result.stderr
        summary = json.loads(result.stdout)
        posts = hook.snapshot()

    assert summary["gaps"] == BARS - 1
    gap_posts = [p for p in posts if "data feed issue: gap" in p["title"]]
    span_seconds = (BARS - 1) * 120.0
    bound = math.ceil(span_seconds / WINDOW_SECONDS) + 2  # one per window, plus the final count
    assert 2 <= len(gap_posts) <= bound
    counts = []
    for post in gap_posts:
        repeated = re.search(r"Repeated: (\d+) times since", post["message"])
        counts.append(int(repeated.group(1)) if repeated else 1)
    assert sum(counts) == summary["gaps"]
    assert max(counts) > 100
    # The tag filter kept the breaker's own messages (tag "breaker") off this channel, except
    # EMERGENCY ones, which ignore tags.
    assert all("data feed issue" in p["title"] or "[EMERGENCY]" in p["title"] for p in posts)
