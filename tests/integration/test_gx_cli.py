"""`tradeguard data check`: exit codes, failures with sample rows, JSON, lazy GX import."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from entrypoints.cli import app

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, data_dir: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith("TRADEGUARD_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("TRADEGUARD_DATA_DIR", str(data_dir))


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def gapped(data_dir: Path, tmp_path: Path) -> Path:
    with gzip.open(data_dir / "btc-perp_ftx_1m.csv.gz", "rt", encoding="utf-8") as handle:
        lines = [handle.readline() for _ in range(400)]
    del lines[100:130]
    target = tmp_path / "btc-perp_gap_1m.csv.gz"
    with gzip.open(target, "wt", encoding="utf-8") as handle:
        handle.write("".join(lines))
    return target


def test_importing_the_cli_does_not_import_great_expectations() -> None:
    code = "import sys, entrypoints.cli; print('great_expectations' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, timeout=120, check=True)
    assert done.stdout.strip() == "False"


def test_real_ftx_month_passes_with_exit_0(runner: CliRunner, data_dir: Path) -> None:
    done = runner.invoke(app, ["data", "check", "--data", "btc-perp_ftx_1m.csv.gz"])

    assert done.exit_code == 0, done.output
    assert "market_data passed (21/21 expectations hold)" in done.output


def test_gap_fails_with_exit_1_naming_the_expectation_and_the_row(
    runner: CliRunner, gapped: Path
) -> None:
    done = runner.invoke(app, ["data", "check", "--data", f"{gapped}:GAP"])

    assert done.exit_code == 1, done.output
    assert "FAIL gap_within_threshold [GAP btc-perp_gap_1m.csv.gz] 1 row(s)" in done.output
    assert "row=100 ts=2022-01-01T01:10:00Z" in done.output
    assert "gap_seconds=1860" in done.output


def test_json_report_lists_the_failure_with_its_sample(runner: CliRunner, gapped: Path,
                                                       tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    done = runner.invoke(app, ["data", "check", "--data", str(gapped), "--json",
                               "--docs", str(docs)])

    assert done.exit_code == 1, done.output
    body = json.loads(done.stdout)
    assert body["success"] is False and body["expectations"] == 21
    (failed,) = body["failed"]
    assert failed["expectation"] == "gap_within_threshold"
    assert failed["sample"][0]["gap_seconds"] == "1860"
    assert body["docs"] == (docs / "index.html").as_uri()


def test_default_checks_every_known_file_of_the_data_dir(
    runner: CliRunner, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    only = tmp_path / "data"
    only.mkdir()
    shutil.copy(data_dir / "spx-index_1m.csv.gz", only)
    monkeypatch.setenv("TRADEGUARD_DATA_DIR", str(only))

    done = runner.invoke(app, ["data", "check"])

    # the index's overnight closes are gaps above feed.max_gap_seconds (900 s)
    assert done.exit_code == 1, done.output
    assert "FAIL gap_within_threshold [SPX-INDEX spx-index_1m.csv.gz] 3 row(s)" in done.output


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--data", "no-such-file.csv.gz"], "--data: data file no-such-file.csv.gz does not exist"),
        (["--start", "2022-01-01T00:00:00"], "--start: '2022-01-01T00:00:00' has no time zone"),
        (["--start", "2022-01-02T00:00:00Z", "--end", "2022-01-01T00:00:00Z"], "--end"),
    ],
)
def test_usage_errors_exit_2_without_a_traceback(
    runner: CliRunner, args: list[str], needle: str
) -> None:
    done = runner.invoke(app, ["data", "check", *args])

    assert done.exit_code == 2, done.output
    assert done.stderr.startswith("error: ") and needle in done.stderr
    assert "Traceback" not in done.stderr


def test_unreadable_columns_are_a_data_error_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad_1m.csv.gz"
    with gzip.open(bad, "wt", encoding="utf-8") as handle:
        handle.write("time,o,h,l,c,v\n2022-01-01T00:00:00Z,1,1,1,1,1\n")

    done = runner.invoke(app, ["data", "check", "--data", str(bad)])

    assert done.exit_code == 2, done.output
    assert "columns are ['time', 'o', 'h', 'l', 'c', 'v']" in done.stderr
